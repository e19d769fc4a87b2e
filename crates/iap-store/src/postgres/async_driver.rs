//! PostgreSQL as the async driver ([`SqlxDriver`](crate::engine::sqlx_driver::SqlxDriver))
//! takes it (a batch of rows bound as one array per column), and a caller's
//! tokio-postgres client, for `enqueue_with_tokio_postgres`.

use std::future::Future;

use sqlx::postgres::{PgPool, PgQueryResult, PgRow, PgValueRef};
use sqlx::{Postgres, Row as _, Transaction, TypeInfo, ValueRef as _};

use super::driver::{PgRow as TokioPgRow, bound, row_columns};
use crate::StoreError;
use crate::engine::driver::{Column, Decode, Dialect, Param, Statements};
use crate::engine::sqlx_driver::{Query, SqlxDatabase, column_error};
use crate::engine::statement::Statement;

impl SqlxDatabase for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn bind<'q>(query: Query<'q, Postgres>, param: &Param<'q>) -> Query<'q, Postgres> {
        match *param {
            Param::Int(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
            Param::Bool(value) => query.bind(value),
            Param::Rows(rows) => {
                let columns = rows.columns();
                query
                    .bind(columns.sources)
                    .bind(columns.event_ids)
                    .bind(columns.statuses)
                    .bind(columns.attempts)
                    .bind(columns.due_ats)
                    .bind(columns.envelopes)
                    .bind(columns.settled_ats)
            }
        }
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// The column as the engine reads it: integers and flags as integers,
    /// text as text (the schema types every column).
    fn column<'r>(row: &'r PgRow, name: &str) -> Result<Column<'r>, StoreError> {
        let value: PgValueRef<'r> = row
            .try_get_raw(name)
            .map_err(|error| column_error(name, error))?;
        if value.is_null() {
            return Ok(Column::Null);
        }
        let kind = value.type_info().name().to_owned();
        let decoded = match kind.as_str() {
            "INT8" => <i64 as sqlx::Decode<Postgres>>::decode(value).map(Column::Integer),
            "INT4" => <i32 as sqlx::Decode<Postgres>>::decode(value)
                .map(|number| Column::Integer(i64::from(number))),
            "BOOL" => <bool as sqlx::Decode<Postgres>>::decode(value)
                .map(|flag| Column::Integer(i64::from(flag))),
            _ => <&str as sqlx::Decode<Postgres>>::decode(value)
                .map(|text| Column::Text(text.as_bytes())),
        };
        decoded.map_err(|error| StoreError::Sqlx(sqlx::Error::Decode(error)))
    }

    fn begin(
        pool: &PgPool,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        pool.begin()
    }
}

/// A caller's tokio-postgres client or transaction, for an enqueue in it.
pub(crate) struct TokioPostgres<'c, C>(pub(crate) &'c C);

impl<C: tokio_postgres::GenericClient> Statements for TokioPostgres<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn writes_rows_at_once(&self) -> bool {
        true
    }

    async fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        let columns = row_columns(params);
        let params = bound(params, &columns);
        Ok(self
            .0
            .execute(statement.text(Dialect::Postgres)?, &params)
            .await?)
    }

    async fn execute_script(&mut self, script: &'static Statement) -> Result<(), StoreError> {
        Ok(self
            .0
            .batch_execute(script.text(Dialect::Postgres)?)
            .await?)
    }

    async fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        let columns = row_columns(params);
        let params = bound(params, &columns);
        let rows = self
            .0
            .query(statement.text(Dialect::Postgres)?, &params)
            .await?;
        rows.iter().map(|row| T::decode(&TokioPgRow(row))).collect()
    }
}
