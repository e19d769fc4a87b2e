//! The rules the compiler enforces: every program in `trybuild-tests/fail` must
//! fail to compile with the error pinned beside it, and every program in
//! `trybuild-tests/pass` must compile and run.

#[test]
fn illegal_programs_do_not_compile_and_legal_ones_do() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("trybuild-tests/fail/*.rs");
    cases.pass("trybuild-tests/pass/*.rs");
}
