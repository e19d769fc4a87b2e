//! A statement as the engine names it, with its text in each dialect.

use super::driver::Dialect;
use crate::StoreError;

/// One statement of the engine: its name, and its SQL in each dialect that
/// has it. A statement only one dialect has is run only on a path that
/// dialect takes (PostgreSQL's claim in one statement, SQLite's mark of the
/// rows a claim holds back).
#[derive(Debug)]
pub(crate) struct Statement {
    /// The name the engine gives it, which the SQL files list it under.
    pub(crate) name: &'static str,
    /// Its text on SQLite (parameters as `?N`).
    pub(crate) sqlite: Option<&'static str>,
    /// Its text on PostgreSQL (parameters as `$N`).
    pub(crate) postgres: Option<&'static str>,
}

impl Statement {
    /// Its text in `dialect`.
    pub(crate) fn text(&self, dialect: Dialect) -> Result<&'static str, StoreError> {
        let text = match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        };
        text.ok_or_else(|| StoreError::Defect {
            reason: format!("the statement {} has no {dialect:?} form", self.name),
        })
    }
}

/// Declares statements, each a `static` [`Statement`] named as the engine
/// calls it, and the list of them (`$section`), which the SQL files are
/// written from.
macro_rules! statements {
    ($section:ident: $(
        $(#[$doc:meta])*
        $name:ident => sqlite: $sqlite:expr, postgres: $postgres:expr;
    )*) => {
        $(
            $(#[$doc])*
            pub(crate) static $name: $crate::engine::statement::Statement =
                $crate::engine::statement::Statement {
                    name: stringify!($name),
                    sqlite: $sqlite,
                    postgres: $postgres,
                };
        )*
        /// The statements of this section, in the order declared.
        #[cfg(test)]
        pub(crate) static $section: &[&$crate::engine::statement::Statement] = &[$(&$name),*];
    };
}
pub(crate) use statements;
