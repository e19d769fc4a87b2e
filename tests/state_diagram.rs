//! The lifecycle diagrams in the README and in the `state` module's docs are
//! the ones the transition table gives: a change of the table without a
//! change of the drawings (or the reverse) fails here.

use integration_automation_patterns::DeliveryStatus;

/// The lines of the first fenced block that opens with `fence` in `text`,
/// each with `prefix` taken off.
fn block(text: &str, prefix: &str, fence: &str) -> String {
    let mut lines = text
        .lines()
        .map(|line| {
            line.strip_prefix(prefix)
                .or_else(|| line.strip_prefix(prefix.trim_end()))
                .unwrap_or(line)
        })
        .skip_while(|line| *line != fence)
        .skip(1);
    let mut block = String::new();
    for line in lines.by_ref() {
        if line == "```" {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("no closed ```{fence} block")
}

#[test]
fn the_readme_shows_the_diagram_the_table_gives() {
    let readme = include_str!("../README.md");
    assert_eq!(
        block(readme, "", "```mermaid"),
        DeliveryStatus::mermaid_diagram()
    );
}

#[test]
fn the_state_module_docs_show_the_diagram_the_table_gives() {
    let source = include_str!("../src/envelope/state.rs");
    let docs: String = source
        .lines()
        .take_while(|line| line.starts_with("//!"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        block(&docs, "//! ", "```text"),
        DeliveryStatus::mermaid_diagram()
    );
}

#[test]
fn the_dot_rendering_has_every_arrow_of_the_mermaid_one() {
    let mermaid = DeliveryStatus::mermaid_diagram();
    let dot = DeliveryStatus::dot_diagram();
    for line in mermaid.lines().filter(|line| !line.contains("[*]")) {
        let Some((states, names)) = line.trim().split_once(": ") else {
            continue;
        };
        let Some((from, to)) = states.split_once(" --> ") else {
            continue;
        };
        let arrow = format!("    {from} -> {to} [label=\"{names}\"];");
        assert!(dot.contains(&arrow), "{arrow} is not in\n{dot}");
    }
    // Mermaid's start and its two end arrows (`[*]`) are DOT's one `start` arrow
    // and two double-bordered nodes.
    assert_eq!(
        dot.matches(" -> ").count(),
        mermaid.matches(" --> ").count() - 2
    );
}
