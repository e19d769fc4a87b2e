//! The SQL of each dialect: the schema, its migrations, and the text of
//! every statement, which [`catalogue`](super::catalogue) names.

pub(crate) mod postgres;
pub(crate) mod sqlite;
