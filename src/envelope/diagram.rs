//! The lifecycle drawn from the transition table, as a Mermaid state diagram
//! and as Graphviz DOT, so that no drawing can drift from the rules.

use super::state::DeliveryStatus;

/// One arrow of the diagram: a move from one state to another and the
/// transitions that make it, in table order.
struct Edge {
    from: DeliveryStatus,
    to: DeliveryStatus,
    names: Vec<&'static str>,
}

/// Every move the table allows, one arrow per (from, to) pair with the names
/// of the transitions that make it, in the order the table first gives them.
fn edges() -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::new();
    for rule in DeliveryStatus::TRANSITIONS {
        for &from in rule.from {
            for &to in rule.to {
                match edges
                    .iter_mut()
                    .find(|edge| edge.from == from && edge.to == to)
                {
                    Some(edge) => edge.names.push(rule.name),
                    None => edges.push(Edge {
                        from,
                        to,
                        names: vec![rule.name],
                    }),
                }
            }
        }
    }
    edges
}

/// The states no transition leaves.
fn final_states() -> impl Iterator<Item = DeliveryStatus> {
    DeliveryStatus::ALL
        .into_iter()
        .filter(|status| status.allowed_transitions().next().is_none())
}

impl DeliveryStatus {
    /// The lifecycle as a Mermaid `stateDiagram-v2`, generated from
    /// [`TRANSITIONS`](Self::TRANSITIONS): an envelope starts `Pending`, and
    /// `Processed` and `Skipped` end it.
    ///
    /// ```
    /// use integration_automation_patterns::DeliveryStatus;
    ///
    /// let diagram = DeliveryStatus::mermaid_diagram();
    /// assert!(diagram.starts_with("stateDiagram-v2\n    [*] --> Pending\n"));
    /// assert!(diagram.contains("    Dispatched --> Failed: fail, fail_permanently\n"));
    /// ```
    pub fn mermaid_diagram() -> String {
        let mut diagram = String::from("stateDiagram-v2\n    [*] --> Pending\n");
        for edge in edges() {
            diagram.push_str(&format!(
                "    {:?} --> {:?}: {}\n",
                edge.from,
                edge.to,
                edge.names.join(", ")
            ));
        }
        for status in final_states() {
            diagram.push_str(&format!("    {status:?} --> [*]\n"));
        }
        diagram
    }

    /// The lifecycle as a Graphviz DOT digraph, generated from
    /// [`TRANSITIONS`](Self::TRANSITIONS); `dot -Tsvg` draws it.
    pub fn dot_diagram() -> String {
        let mut diagram = String::from(
            "digraph lifecycle {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n    start [shape=point];\n    start -> Pending;\n",
        );
        for edge in edges() {
            diagram.push_str(&format!(
                "    {:?} -> {:?} [label=\"{}\"];\n",
                edge.from,
                edge.to,
                edge.names.join(", ")
            ));
        }
        for status in final_states() {
            diagram.push_str(&format!("    {status:?} [peripheries=2];\n"));
        }
        diagram.push_str("}\n");
        diagram
    }
}
