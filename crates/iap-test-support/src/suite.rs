//! One suite, run unchanged against every backend compiled in.

/// Turns each named rule, a function of the suite generic over
/// [`Backend`](crate::backends::Backend), into a test per backend: the
/// modules `sqlite`, `postgres`, `async_sqlite` and `async_postgres` each hold
/// one test per rule (the async stores run on a multi-threaded runtime).
#[macro_export]
macro_rules! for_each_backend {
    ($($rule:ident),* $(,)?) => {
        $crate::for_each_blocking_backend!($($rule),*);
        #[cfg(feature = "async-sqlite")]
        mod async_sqlite {
            type B = $crate::backends::OnRuntime<
                iap_store::sqlite::AsyncSqliteStore,
            >;
            $crate::for_each_blocking_backend!(@tests $($rule),*);
        }
        #[cfg(feature = "async-postgres")]
        mod async_postgres {
            type B = $crate::backends::OnRuntime<
                iap_store::postgres::AsyncPostgresStore,
            >;
            $crate::for_each_blocking_backend!(@tests $($rule),*);
        }
    };
}

/// [`for_each_backend!`] for the blocking stores alone: the modules `sqlite`
/// and `postgres`.
#[macro_export]
macro_rules! for_each_blocking_backend {
    ($($rule:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            type B = iap_store::sqlite::SqliteStore;
            $crate::for_each_blocking_backend!(@tests $($rule),*);
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            type B = iap_store::postgres::PostgresStore;
            $crate::for_each_blocking_backend!(@tests $($rule),*);
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
