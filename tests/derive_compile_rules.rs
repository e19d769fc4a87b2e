//! The rules the compiler enforces on typed records: every program in
//! `trybuild-tests/derive/fail` (a mistake in the derive's attributes, or a
//! value written where its owner forbids it) must fail to compile with the
//! error pinned beside it, and every program in `trybuild-tests/derive/pass`
//! must compile and run.

#[test]
fn illegal_typed_records_do_not_compile_and_legal_ones_do() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("trybuild-tests/derive/fail/*.rs");
    cases.pass("trybuild-tests/derive/pass/*.rs");
}
