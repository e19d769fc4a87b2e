//! The compile-fail suite is complete for the transition table: for every
//! state and every transition, a pair outside the table has its program in
//! `trybuild-tests/fail` (its error naming the state and the transition), and
//! every pair inside the table is called in the one program of
//! `trybuild-tests/pass` that must compile. Every transition called on an
//! `AnyEnvelope` has its program too, whose error is the transition's guard
//! (match on the state or convert) rather than "no method found". The
//! programs are generated from the table; a new state or transition without
//! its programs fails here.
//!
//! `IAP_WRITE_COMPILE_TESTS=1 cargo test -p integration-automation-patterns --test transition_table`
//! writes the programs that are missing or out of date (and removes stale
//! ones); then `TRYBUILD=overwrite cargo test -p integration-automation-patterns --test compile_rules`
//! writes their expected errors, which a person reads before committing them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use integration_automation_patterns::DeliveryStatus;

const FAIL_DIR: &str = "trybuild-tests/fail";
const PASS_PROGRAM: &str = "trybuild-tests/pass/every_legal_transition.rs";

/// How a program calls the transition, and how its rule and its compile
/// error word it. Every transition of the table needs a line here.
fn transition(name: &str) -> (&'static str, &'static str) {
    match name {
        "dispatch" => ("dispatch()", "be dispatched"),
        "acknowledge" => ("acknowledge()", "be acknowledged"),
        "process" => ("process()", "be processed"),
        "fail" => ("fail(\"timeout\")", "fail"),
        "fail_permanently" => ("fail_permanently(\"invalid payload\")", "fail permanently"),
        "skip" => ("skip(\"duplicate\")", "be skipped"),
        "redrive" => ("redrive(\"fixed upstream\")", "be redriven"),
        other => panic!(
            "the table has a transition {other:?} that this test does not know: \
             say here how a program calls it and how its error words it"
        ),
    }
}

/// The transitions of the table, each once, in table order.
fn transition_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for rule in DeliveryStatus::TRANSITIONS {
        if !names.contains(&rule.name) {
            names.push(rule.name);
        }
    }
    names
}

fn is_legal(name: &str, state: DeliveryStatus) -> bool {
    DeliveryStatus::TRANSITIONS
        .iter()
        .any(|rule| rule.name == name && rule.starts_from(state))
}

/// The states a transition may start from, as its rule says them.
fn sources(name: &str) -> String {
    let from: Vec<String> = DeliveryStatus::ALL
        .into_iter()
        .filter(|&state| is_legal(name, state))
        .map(|state| format!("`{state:?}`"))
        .collect();
    from.join(" or ")
}

fn fail_program_path(name: &str, state: DeliveryStatus) -> PathBuf {
    Path::new(FAIL_DIR).join(format!("illegal_{name}_from_{}.rs", state.as_str()))
}

/// The program that calls `name` on an envelope in `state`.
fn fail_program(name: &str, state: DeliveryStatus) -> String {
    let (call, words) = transition(name);
    format!(
        "//! Rule: only a {} envelope can {words}.\n\
         //! (Generated from the transition table by tests/transition_table.rs.)\n\
         #[path = \"../support.rs\"]\n\
         mod support;\n\
         \n\
         fn main() {{\n    let _ = support::{}().{call};\n}}\n",
        sources(name),
        state.as_str(),
    )
}

/// The first line of the error rustc must give for `name` called in `state`.
fn expected_error(name: &str, state: DeliveryStatus) -> String {
    format!(
        "error[E0277]: an envelope in state `integration_automation_patterns::state::{state:?}` cannot {}",
        transition(name).1
    )
}

fn any_envelope_program_path(name: &str) -> PathBuf {
    Path::new(FAIL_DIR).join(format!("any_envelope_{name}_needs_a_match.rs"))
}

/// The program that calls `name` on an `AnyEnvelope` holding an envelope
/// in a state the transition may start from.
fn any_envelope_program(name: &str) -> String {
    let (call, words) = transition(name);
    let state = DeliveryStatus::ALL
        .into_iter()
        .find(|&state| is_legal(name, state))
        .unwrap();
    format!(
        "//! Rule: an `AnyEnvelope`'s state is known only at run time, so it cannot {words}\n\
         //! even when it holds a `{state:?}` envelope: match on its state, or convert it to\n\
         //! the typed envelope.\n\
         //! (Generated from the transition table by tests/transition_table.rs.)\n\
         #[path = \"../support.rs\"]\n\
         mod support;\n\
         \n\
         use integration_automation_patterns::AnyEnvelope;\n\
         \n\
         fn main() {{\n    \
         let any = AnyEnvelope::from(support::{}());\n    \
         let _ = any.{call};\n\
         }}\n",
        state.as_str(),
    )
}

/// The first line of the error rustc must give for `name` called on an
/// `AnyEnvelope`.
fn expected_any_envelope_error(name: &str) -> String {
    format!(
        "error[E0277]: an `AnyEnvelope` cannot {}: its state is known only at run time",
        transition(name).1
    )
}

/// Checks that the error pinned beside `program` starts with `expected`.
fn check_first_line(program: &Path, expected: &str, problems: &mut Vec<String>) {
    let stderr = program.with_extension("stderr");
    match fs::read_to_string(&stderr) {
        Ok(error) => {
            let first_line = error.lines().next().unwrap_or_default();
            if first_line != expected {
                problems.push(format!(
                    "{} starts {first_line:?}, not {expected:?}",
                    stderr.display()
                ));
            }
        }
        Err(_) if writing() => {}
        Err(_) => problems.push(format!("{} is missing", stderr.display())),
    }
}

/// The program that makes every legal transition.
fn pass_program() -> String {
    let mut calls = String::new();
    for name in transition_names() {
        for state in DeliveryStatus::ALL {
            if is_legal(name, state) {
                calls.push_str(&format!(
                    "    let _ = support::{}().{};\n",
                    state.as_str(),
                    transition(name).0
                ));
            }
        }
    }
    format!(
        "//! Every transition the table allows, from each state it may start from.\n\
         //! (Generated from the transition table by tests/transition_table.rs.)\n\
         #[path = \"../support.rs\"]\n\
         mod support;\n\
         \n\
         fn main() {{\n{calls}}}\n"
    )
}

fn writing() -> bool {
    std::env::var("IAP_WRITE_COMPILE_TESTS").is_ok_and(|value| value == "1")
}

/// Checks that `path` holds `expected`, or writes it when asked to.
fn check_program(path: &Path, expected: &str, problems: &mut Vec<String>) {
    match fs::read_to_string(path) {
        Ok(found) if found == expected => {}
        _ if writing() => fs::write(path, expected).unwrap(),
        Ok(_) => problems.push(format!("{} is not what the table gives", path.display())),
        Err(_) => problems.push(format!("{} is missing", path.display())),
    }
}

fn report(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{}\n(IAP_WRITE_COMPILE_TESTS=1 cargo test -p integration-automation-patterns --test transition_table writes the programs; \
         then TRYBUILD=overwrite cargo test -p integration-automation-patterns --test compile_rules writes their errors to read)",
        problems.join("\n")
    );
}

#[test]
fn every_pair_outside_the_table_fails_to_compile_naming_state_and_transition() {
    let mut problems = Vec::new();
    let mut expected_files = BTreeSet::new();
    for name in transition_names() {
        for state in DeliveryStatus::ALL {
            if is_legal(name, state) {
                continue;
            }
            let path = fail_program_path(name, state);
            check_program(&path, &fail_program(name, state), &mut problems);
            check_first_line(&path, &expected_error(name, state), &mut problems);
            expected_files.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    remove_stale(
        |stem| stem.starts_with("illegal_"),
        &expected_files,
        &mut problems,
    );
    report(&problems);
}

#[test]
fn every_transition_called_on_an_any_envelope_fails_to_compile_with_its_guard() {
    let mut problems = Vec::new();
    let mut expected_files = BTreeSet::new();
    for name in transition_names() {
        let path = any_envelope_program_path(name);
        check_program(&path, &any_envelope_program(name), &mut problems);
        check_first_line(&path, &expected_any_envelope_error(name), &mut problems);
        expected_files.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    remove_stale(
        |stem| stem.starts_with("any_envelope_") && stem.ends_with("_needs_a_match"),
        &expected_files,
        &mut problems,
    );
    report(&problems);
}

/// Removes (or reports) the programs of one generated kind, told by their
/// name, that are for nothing in the table.
fn remove_stale(
    generated: impl Fn(&str) -> bool,
    expected_files: &BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    for entry in fs::read_dir(FAIL_DIR).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if generated(&stem) && !expected_files.contains(&stem) {
            if writing() {
                fs::remove_file(&path).unwrap();
            } else {
                problems.push(format!("{} is for nothing in the table", path.display()));
            }
        }
    }
}

#[test]
fn every_pair_inside_the_table_compiles() {
    let mut problems = Vec::new();
    check_program(Path::new(PASS_PROGRAM), &pass_program(), &mut problems);
    report(&problems);
}

#[test]
fn the_table_covers_every_state_and_has_the_lifecycle_shape() {
    let legal_pairs: usize = DeliveryStatus::TRANSITIONS
        .iter()
        .map(|rule| rule.from.len())
        .sum();
    assert_eq!(transition_names().len(), 7);
    assert_eq!(legal_pairs, 12);
    // Every state is reachable from `Pending`, and only `Processed` and
    // `Skipped` are left by no transition.
    let mut reached = BTreeSet::from([DeliveryStatus::Pending]);
    loop {
        let next: BTreeSet<_> = DeliveryStatus::TRANSITIONS
            .iter()
            .filter(|rule| rule.from.iter().any(|state| reached.contains(state)))
            .flat_map(|rule| rule.to.iter().copied())
            .collect();
        let before = reached.len();
        reached.extend(next);
        if reached.len() == before {
            break;
        }
    }
    assert_eq!(reached.len(), DeliveryStatus::ALL.len());
}
