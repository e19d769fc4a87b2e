//! One suite, run unchanged against every backend compiled in.

/// Turns each named rule, a function of the suite generic over
/// [`Backend`](super::backends::Backend), into a test per backend: the
/// modules `sqlite`, `postgres`, `async_sqlite` and `async_postgres` each hold
/// one test per rule (the async stores run on a multi-threaded runtime).
#[allow(unused_macros)]
macro_rules! for_each_backend {
    ($($rule:ident),* $(,)?) => {
        for_each_blocking_backend!($($rule),*);
        #[cfg(feature = "async-sqlite")]
        mod async_sqlite {
            type B = super::backends::OnRuntime<
                integration_automation_patterns::store::sqlite::AsyncSqliteStore,
            >;
            for_each_blocking_backend!(@tests $($rule),*);
        }
        #[cfg(feature = "async-postgres")]
        mod async_postgres {
            type B = super::backends::OnRuntime<
                integration_automation_patterns::store::postgres::AsyncPostgresStore,
            >;
            for_each_blocking_backend!(@tests $($rule),*);
        }
    };
}

/// [`for_each_backend!`] for the blocking stores alone: the modules `sqlite`
/// and `postgres`.
#[allow(unused_macros)]
macro_rules! for_each_blocking_backend {
    ($($rule:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            type B = integration_automation_patterns::store::sqlite::SqliteStore;
            for_each_blocking_backend!(@tests $($rule),*);
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            type B = integration_automation_patterns::store::postgres::PostgresStore;
            for_each_blocking_backend!(@tests $($rule),*);
        }
    };
    (@tests $($rule:ident),*) => {
        $(
            #[test]
            fn $rule() {
                super::$rule::<B>();
            }
        )*
    };
}
