//! The SQL files (`sql/sqlite.sql`, `sql/postgres.sql` in the crate): every
//! statement the engine runs, and the schema and its migrations, expanded as
//! each database receives them, for a reviewer to read and diff. The test
//! fails when a file and the code disagree; `IAP_WRITE_SQL=1` rewrites the
//! files from the code.

use std::path::PathBuf;

use super::catalogue::SECTIONS;
use super::driver::Dialect;

/// The file of `dialect` as the code makes it.
fn sql_file(dialect: Dialect) -> String {
    let name = match dialect {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
    };
    let mut file = format!(
        "-- The {name} SQL of iap-store, as the code sends it: every statement of\n\
         -- the store engine (the schema and its migrations first), by the name\n\
         -- the engine gives it. Written by the test `engine::sql_files`; do not edit\n\
         -- (change the code, then run the test with IAP_WRITE_SQL=1).\n"
    );
    for (section, statements) in SECTIONS {
        file.push_str(&format!("\n-- == {section} ==\n"));
        for statement in statements {
            if let Ok(text) = statement.text(dialect) {
                file.push_str(&format!("\n-- {}\n{};\n", statement.name, text.trim()));
            }
        }
    }
    file
}

#[cfg(test)]
// A test fails by panicking; the crate's rule against it is for library code.
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_files_hold_every_statement_the_code_runs() {
        let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
        let rewrite = std::env::var_os("IAP_WRITE_SQL").is_some();
        let mut stale = Vec::new();
        for (dialect, file_name) in [
            (Dialect::Sqlite, "sqlite.sql"),
            (Dialect::Postgres, "postgres.sql"),
        ] {
            let path = directory.join(file_name);
            let expected = sql_file(dialect);
            if rewrite {
                std::fs::create_dir_all(&directory).unwrap();
                std::fs::write(&path, &expected).unwrap();
                continue;
            }
            let found = std::fs::read_to_string(&path).unwrap_or_default();
            if found != expected {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "the SQL files {stale:?} are not the statements the code runs: review the change, \
             then run this test with IAP_WRITE_SQL=1 to write them"
        );
    }

    #[test]
    fn every_statement_has_a_name_of_its_own_and_a_text_in_some_dialect() {
        let mut names = std::collections::HashSet::new();
        for (_, statements) in SECTIONS {
            for statement in statements {
                assert!(names.insert(statement.name), "{} twice", statement.name);
                assert!(
                    statement.sqlite.is_some() || statement.postgres.is_some(),
                    "{} has no text",
                    statement.name
                );
            }
        }
    }
}
