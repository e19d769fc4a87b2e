//! What the engine asks of a database driver: run a statement with its
//! parameters, hand back its rows, open and commit a transaction. Nothing
//! else: every decision about what to run, and what the rows mean, is the
//! engine's.
//!
//! The methods are `async`. The async drivers (sqlx) await the database;
//! the blocking drivers (rusqlite, postgres) do their work before they
//! return, so their futures are ready when first polled, and the blocking
//! stores run an operation with [`run_ready`](super::run_ready), which polls
//! it once.

use std::future::Future;

use super::statement::Statement;
use crate::StoreError;

/// The SQL a driver speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: a row is keyed by its `rowid`; a claim marks the rows it
    /// holds back, then selects the due ones.
    Sqlite,
    /// PostgreSQL: a row is keyed by its source and event id; a claim is
    /// one statement, with a transaction only for what it leaves over.
    Postgres,
}

/// One parameter of a statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    /// A 64-bit integer, or null.
    Int(Option<i64>),
    /// Text, or null.
    Text(Option<&'a str>),
    /// A flag.
    Bool(bool),
    /// Many rows to write in one statement: one JSON text on SQLite, one
    /// array per column on PostgreSQL (seven parameters).
    Rows(&'a RowWrites),
}

impl<'a> Param<'a> {
    /// `value` as an integer parameter.
    pub(crate) fn int(value: impl Into<i64>) -> Self {
        Param::Int(Some(value.into()))
    }

    /// `value` as a text parameter.
    pub(crate) fn text(value: &'a str) -> Self {
        Param::Text(Some(value))
    }

    /// A count or a limit, as the statements take it (at most `i64::MAX`).
    pub(crate) fn limit(value: usize) -> Self {
        Param::Int(Some(i64::try_from(value).unwrap_or(i64::MAX)))
    }
}

/// A column's value as the database holds it, whatever the column's
/// declared type: SQLite's loose typing lets a hand-edited row hold a number
/// where text belongs, and the engine names such a row rather than fail.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Column<'r> {
    Null,
    Integer(i64),
    /// A real number (SQLite's; PostgreSQL's columns hold none).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Real(f64),
    /// Text, as bytes (SQLite does not check that they are UTF-8).
    Text(&'r [u8]),
    /// A BLOB (SQLite's; PostgreSQL's columns hold none).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Blob(&'r [u8]),
}

impl Column<'_> {
    /// The column's text, or what it holds instead.
    pub(crate) fn text(self) -> Result<String, String> {
        match self {
            Column::Text(bytes) => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| self.describe()),
            other => Err(other.describe()),
        }
    }

    /// The column's text, or none if it is null; what it holds instead.
    pub(crate) fn optional_text(self) -> Result<Option<String>, String> {
        match self {
            Column::Null => Ok(None),
            other => other.text().map(Some),
        }
    }

    /// The column's integer, or what it holds instead.
    pub(crate) fn integer(self) -> Result<i64, String> {
        match self {
            Column::Integer(number) => Ok(number),
            other => Err(other.describe()),
        }
    }

    /// The column's integer, or none if it is null; what it holds instead.
    pub(crate) fn optional_integer(self) -> Result<Option<i64>, String> {
        match self {
            Column::Null => Ok(None),
            other => other.integer().map(Some),
        }
    }

    /// The column's flag (0 or 1; PostgreSQL's booleans read so), or what
    /// it holds instead.
    pub(crate) fn flag(self) -> Result<bool, String> {
        match self {
            Column::Integer(0) => Ok(false),
            Column::Integer(1) => Ok(true),
            other => Err(other.describe()),
        }
    }

    /// The column's value as text for naming a row, whatever it holds.
    pub(crate) fn lossy(self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// The column's value byte for byte (numbers as their decimal text).
    pub(crate) fn bytes(self) -> Vec<u8> {
        match self {
            Column::Null => Vec::new(),
            Column::Integer(number) => number.to_string().into_bytes(),
            Column::Real(number) => number.to_string().into_bytes(),
            Column::Text(bytes) | Column::Blob(bytes) => bytes.to_vec(),
        }
    }

    /// What the column holds, in words, for a column that should hold
    /// something else.
    pub(crate) fn describe(self) -> String {
        match self {
            Column::Null => "NULL".to_owned(),
            Column::Integer(number) => format!("the integer {number}"),
            Column::Real(number) => format!("the real number {number}"),
            Column::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => format!("the text {:?}", text.chars().take(40).collect::<String>()),
                Err(_) => format!("{} bytes of text that is not valid UTF-8", bytes.len()),
            },
            Column::Blob(bytes) => format!("a BLOB of {} bytes", bytes.len()),
        }
    }
}

/// A row of a statement's result, read by column name.
pub(crate) trait Row {
    /// The column called `name`.
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError>;

    /// The column called `name`, which the schema types as an integer.
    fn integer(&self, name: &str) -> Result<i64, StoreError> {
        self.column(name)?
            .integer()
            .map_err(|held| column_holds(name, &held))
    }

    /// The column called `name`, which the schema types as a nullable integer.
    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.column(name)?
            .optional_integer()
            .map_err(|held| column_holds(name, &held))
    }

    /// The column called `name`, which the schema types as text.
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.column(name)?
            .text()
            .map_err(|held| column_holds(name, &held))
    }

    /// The column called `name`, which the schema types as nullable text.
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.column(name)?
            .optional_text()
            .map_err(|held| column_holds(name, &held))
    }
}

/// The error for a column that a statement computes (a count, a flag) and
/// that holds something else: the schema is not this crate's.
pub(crate) fn column_holds(name: &str, held: &str) -> StoreError {
    StoreError::UnknownSchema {
        reason: format!("the column `{name}` holds {held}"),
    }
}

/// The error for a result without a column the engine reads.
pub(crate) fn no_column(name: &str) -> StoreError {
    StoreError::UnknownSchema {
        reason: format!("a statement's result has no column `{name}`"),
    }
}

/// A value read from one row of a statement's result, by column name.
pub(crate) trait Decode: Sized {
    /// The value of `row`.
    fn decode(row: &impl Row) -> Result<Self, StoreError>;
}

/// Somewhere statements run: a connection, a pool, or a transaction.
pub(crate) trait Statements {
    /// The SQL this driver speaks.
    fn dialect(&self) -> Dialect;

    /// Whether one statement writes many rows ([`Param::Rows`]) for less
    /// than a statement a row: true where a statement costs a round trip
    /// (a server, or the thread of an async SQLite connection); false for
    /// SQLite in the caller's thread, where a prepared statement a row costs
    /// less than encoding and parsing the rows as JSON.
    fn writes_rows_at_once(&self) -> bool;

    /// Runs `statement` with `params`; how many rows it changed.
    fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>>;

    /// Runs `script`, several statements without parameters (the schema, a
    /// migration).
    fn execute_script(
        &mut self,
        script: &'static Statement,
    ) -> impl Future<Output = Result<(), StoreError>>;

    /// Runs `statement` with `params`; its rows, each decoded.
    fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>>;
}

/// A transaction the engine opened ([`Driver::begin`]): its statements are
/// committed together, or, if it is dropped uncommitted, not at all.
pub(crate) trait Transaction: Statements {
    /// Commits the transaction.
    fn commit(self) -> impl Future<Output = Result<(), StoreError>>;
}

/// A store's connection (or pool), as the engine drives it.
pub(crate) trait Driver: Statements {
    /// A write transaction on it.
    type Tx<'t>: Transaction
    where
        Self: 't;

    /// Opens a write transaction, taking the write lock at once on SQLite.
    fn begin(&mut self) -> impl Future<Output = Result<Self::Tx<'_>, StoreError>>;
}

/// The new state of many rows: what a claim writes back, and what a batch
/// record writes over the claims it still holds. The statements that take
/// them ([`Param::Rows`]) match each row by its source and event id; a
/// record also by its `attempts`, the claim's attempt.
#[derive(Debug, Default)]
pub(crate) struct RowWrites(Vec<RowWrite>);

/// One row of [`RowWrites`].
#[derive(Debug)]
pub(crate) struct RowWrite {
    pub(crate) source: String,
    pub(crate) event_id: String,
    pub(crate) status: &'static str,
    pub(crate) attempts: i64,
    /// Microseconds since the Unix epoch; none if the row does not wait.
    pub(crate) due_at: Option<i64>,
    pub(crate) envelope: String,
    /// When the row came to rest, if it did (`rows::settled_at`).
    pub(crate) settled_at: Option<i64>,
}

/// [`RowWrites`] as PostgreSQL's statements take them: one array per column.
#[cfg(feature = "postgres")]
pub(crate) struct RowColumns<'a> {
    pub(crate) sources: Vec<&'a str>,
    pub(crate) event_ids: Vec<&'a str>,
    pub(crate) statuses: Vec<&'static str>,
    pub(crate) attempts: Vec<i64>,
    pub(crate) due_ats: Vec<Option<i64>>,
    pub(crate) envelopes: Vec<&'a str>,
    pub(crate) settled_ats: Vec<Option<i64>>,
}

impl RowWrites {
    /// Room for `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        RowWrites(Vec::with_capacity(rows))
    }

    /// Adds a row.
    pub(crate) fn push(&mut self, row: RowWrite) {
        self.0.push(row);
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows, one by one.
    pub(crate) fn rows(&self) -> &[RowWrite] {
        &self.0
    }

    #[cfg(feature = "sqlite")]
    /// The rows as SQLite's statements take them: one JSON array of rows,
    /// each `[source, event_id, status, attempts, due_at, envelope,
    /// settled_at]`.
    pub(crate) fn to_json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .0
            .iter()
            .map(|row| {
                serde_json::json!([
                    row.source,
                    row.event_id,
                    row.status,
                    row.attempts,
                    row.due_at,
                    row.envelope,
                    row.settled_at
                ])
            })
            .collect();
        serde_json::Value::Array(rows).to_string()
    }

    #[cfg(feature = "postgres")]
    /// The rows as PostgreSQL's statements take them: one array per column.
    pub(crate) fn columns(&self) -> RowColumns<'_> {
        let rows = &self.0;
        RowColumns {
            sources: rows.iter().map(|row| row.source.as_str()).collect(),
            event_ids: rows.iter().map(|row| row.event_id.as_str()).collect(),
            statuses: rows.iter().map(|row| row.status).collect(),
            attempts: rows.iter().map(|row| row.attempts).collect(),
            due_ats: rows.iter().map(|row| row.due_at).collect(),
            envelopes: rows.iter().map(|row| row.envelope.as_str()).collect(),
            settled_ats: rows.iter().map(|row| row.settled_at).collect(),
        }
    }
}
