//! Output for people and for scripts: tables whose cells cannot break or
//! disguise the table, and JSON documents.

use std::borrow::Cow;

use integration_automation_patterns::envelope::AuditLine;
use serde_json::Value;

/// A value as a table cell or in a line of text: as the audit line writes
/// values, so that a line break, a quote, a control character or an
/// invisible one (a right-to-left override, a zero-width space) is escaped
/// and a value with a space is quoted: each cell reads as one piece, as what
/// it holds. An empty value is an empty cell.
pub(crate) fn cell(value: &str) -> Cow<'_, str> {
    if value.is_empty() {
        return Cow::Borrowed("");
    }
    AuditLine::value(value)
}

/// An envelope's key, `source/id`, each part written as [`cell`] writes it.
pub(crate) fn key(source_system: &str, event_id: &str) -> String {
    format!("{}/{}", cell(source_system), cell(event_id))
}

/// Prints `value` as JSON, or `text` for a person.
pub(crate) fn emit(as_json: bool, value: &Value, text: &str) {
    if as_json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Prints rows under a header, each column as wide as its widest cell, each
/// cell written by [`cell`].
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let cells: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|value| cell(value)).collect())
        .collect();
    lay_out(header, &cells);
}

/// Prints rows of the tool's own words and numbers (no stored value) under
/// a header, as [`print_table`] lays them out.
pub(crate) fn print_words(header: &[&str], rows: &[[&str; 2]]) {
    let cells: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|word| Cow::Borrowed(*word)).collect())
        .collect();
    lay_out(header, &cells);
}

/// Prints cells under a header, each column as wide as its widest cell.
fn lay_out(header: &[&str], cells: &[Vec<Cow<'_, str>>]) {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    let rules: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    line(rules.iter().map(String::as_str).collect());
    for row in cells {
        line(row.iter().map(AsRef::as_ref).collect());
    }
    if cells.is_empty() {
        println!("(none)");
    }
}

/// `count` and the noun for one (`dead letter`), made plural when `count` is
/// not one.
pub(crate) fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_reads_as_one_piece_as_what_it_holds() {
        assert_eq!(cell("order-1"), "order-1");
        assert_eq!(cell("422: unknown SKU"), "\"422: unknown SKU\"");
        assert_eq!(cell("evil\u{202e}txt.exe"), "\"evil\\u{202e}txt.exe\"");
        assert_eq!(cell("zero\u{200b}width"), "\"zero\\u{200b}width\"");
        assert_eq!(cell("two\nlines"), "\"two\\nlines\"");
        assert_eq!(cell(""), "");
        assert_eq!(key("web shop", "order-1"), "\"web shop\"/order-1");
    }

    #[test]
    fn one_is_counted_in_the_singular() {
        assert_eq!(counted(1, "dead letter"), "1 dead letter");
        assert_eq!(counted(0, "dead letter"), "0 dead letters");
        assert_eq!(counted(3006, "dead letter"), "3006 dead letters");
    }
}
