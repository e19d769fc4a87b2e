//! SQLite as the async driver ([`SqlxDriver`](crate::engine::sqlx_driver::SqlxDriver))
//! takes it: a batch of rows bound as one JSON text, each column read as
//! SQLite holds it, and a write transaction that takes the file's write
//! lock at once.

use std::future::Future;

use sqlx::sqlite::{SqlitePool, SqliteQueryResult, SqliteRow, SqliteValueRef};
use sqlx::{Row as _, Sqlite, Transaction, TypeInfo, ValueRef as _};

use crate::StoreError;
use crate::engine::driver::{Column, Dialect, Param};
use crate::engine::sqlx_driver::{Query, SqlxDatabase, column_error};

impl SqlxDatabase for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn bind<'q>(query: Query<'q, Sqlite>, param: &Param<'q>) -> Query<'q, Sqlite> {
        match *param {
            Param::Int(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
            Param::Bool(value) => query.bind(value),
            Param::Rows(rows) => query.bind(rows.to_json()),
        }
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// The column as SQLite holds it, whatever its declared type.
    fn column<'r>(row: &'r SqliteRow, name: &str) -> Result<Column<'r>, StoreError> {
        let value: SqliteValueRef<'r> = row
            .try_get_raw(name)
            .map_err(|error| column_error(name, error))?;
        if value.is_null() {
            return Ok(Column::Null);
        }
        let kind = value.type_info().name().to_owned();
        let decoded = match kind.as_str() {
            "INTEGER" => <i64 as sqlx::Decode<Sqlite>>::decode(value).map(Column::Integer),
            "REAL" => <f64 as sqlx::Decode<Sqlite>>::decode(value).map(Column::Real),
            "TEXT" => <&[u8] as sqlx::Decode<Sqlite>>::decode(value).map(Column::Text),
            _ => <&[u8] as sqlx::Decode<Sqlite>>::decode(value).map(Column::Blob),
        };
        decoded.map_err(|error| StoreError::Sqlx(sqlx::Error::Decode(error)))
    }

    fn begin(
        pool: &SqlitePool,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        pool.begin_with("BEGIN IMMEDIATE")
    }
}
