//! No code: this package holds the compile-fail suite of
//! `integration-automation-patterns` (its `tests/` and `trybuild-tests/`).
