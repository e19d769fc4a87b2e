//! What the tests of the workspace's crates share: every store backend
//! behind one [`Backend`](backends::Backend) trait and the suite macros that
//! run a rule on each, throw-away SQLite files and PostgreSQL schemas, the
//! ordering model's scenarios, a NATS server's address, and the warehouse
//! of the broker tests.

pub mod backends;
pub mod nats_server;
pub mod ordering;
mod suite;
pub mod temp_db;
pub mod warehouse;
