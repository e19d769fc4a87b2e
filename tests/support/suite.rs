//! One suite, run unchanged against every backend compiled in.

/// Turns each named rule, a function of the suite generic over
/// [`Backend`](super::backends::Backend), into a test per backend: the module
/// `sqlite` and the module `postgres` each hold one test per rule.
macro_rules! for_each_backend {
    ($($rule:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            type B = integration_automation_patterns::store::sqlite::SqliteStore;
            for_each_backend!(@tests $($rule),*);
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            type B = integration_automation_patterns::store::postgres::PostgresStore;
            for_each_backend!(@tests $($rule),*);
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
