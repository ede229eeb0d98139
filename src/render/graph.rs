//! The routing graph as Graphviz dot or a Mermaid flowchart, for design reviews and
//! docs: every department and allowed transfer, or with an intent only the
//! transfers that allow it. Entries have a double border, owners are filled (of any
//! intent, or of the chosen one); cold transfers are dashed. Pure: `loopguard graph`
//! prints the text.

use std::fmt::Write as _;

use crate::core::rules::{Rules, TransferMode};

/// Which graph to draw.
#[derive(Debug, Clone, Copy)]
pub enum GraphScope<'a> {
    /// Every department and transfer; departments that handle intents are owners.
    All,
    /// The transfers that allow this intent (explicitly or with no `intents`), the
    /// departments they connect and the intent's owners.
    Intent(&'a str),
}

/// One department as drawn.
struct Node<'a> {
    id: &'a str,
    label: String,
    entry: bool,
    owner: bool,
}

/// One transfer as drawn.
struct Edge {
    from: usize,
    to: usize,
    label: String,
    cold: bool,
}

/// The departments and transfers in scope, numbered densely.
struct Selection<'a> {
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge>,
}

impl<'a> Selection<'a> {
    fn of(rules: &'a Rules, scope: GraphScope<'_>) -> Self {
        let transfers: Vec<usize> = (0..rules.transfers.len())
            .filter(|&index| match scope {
                GraphScope::All => true,
                GraphScope::Intent(intent) => rules.transfers[index].allows(intent),
            })
            .collect();
        let mut included = vec![matches!(scope, GraphScope::All); rules.departments.len()];
        if let GraphScope::Intent(intent) = scope {
            for &owner in rules.owners(intent) {
                included[owner] = true;
            }
            for &index in &transfers {
                included[rules.transfers[index].from] = true;
                included[rules.transfers[index].to] = true;
            }
        }
        let mut number = vec![usize::MAX; rules.departments.len()];
        let mut nodes = Vec::new();
        for (index, department) in rules.departments.iter().enumerate() {
            if !included[index] {
                continue;
            }
            number[index] = nodes.len();
            let owner = match scope {
                GraphScope::All => !department.handles.is_empty(),
                GraphScope::Intent(intent) => rules.owners(intent).contains(&index),
            };
            let mut label = department.name.clone();
            if department.name != department.id.as_str() {
                label.push_str(&format!("\n({})", department.id));
            }
            if department.entry {
                label.push_str("\nentry");
            }
            if owner {
                match scope {
                    GraphScope::All => {
                        label.push_str(&format!("\nhandles {}", list(&department.handles)))
                    }
                    GraphScope::Intent(intent) => label.push_str(&format!("\nowns {intent}")),
                }
            }
            nodes.push(Node {
                id: department.id.as_str(),
                label,
                entry: department.entry,
                owner,
            });
        }
        let edges = transfers
            .iter()
            .map(|&index| {
                let transfer = &rules.transfers[index];
                let mut label = match (&transfer.intents, scope) {
                    (None, _) => "any intent".to_owned(),
                    (Some(_), GraphScope::Intent(_)) => String::new(),
                    (Some(intents), GraphScope::All) => list(intents),
                };
                if transfer.mode == TransferMode::Cold {
                    label = if label.is_empty() {
                        "cold".to_owned()
                    } else {
                        format!("{label} (cold)")
                    };
                }
                Edge {
                    from: number[transfer.from],
                    to: number[transfer.to],
                    label,
                    cold: transfer.mode == TransferMode::Cold,
                }
            })
            .collect();
        Self { nodes, edges }
    }
}

/// "a, b, c and 4 more": labels stay readable however many intents there are.
fn list<T: std::fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 3;
    let mut text = items
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        let _ = write!(text, " and {} more", items.len() - SHOWN);
    }
    text
}

/// Graphviz dot.
pub fn render_dot(rules: &Rules, scope: GraphScope<'_>) -> String {
    let selection = Selection::of(rules, scope);
    let mut out = String::new();
    let _ = writeln!(out, "// {}", legend(scope));
    out.push_str("digraph routing {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for node in &selection.nodes {
        let mut attributes = vec![format!("label={}", dot_string(&node.label))];
        if node.entry {
            attributes.push("peripheries=2".to_owned());
        }
        if node.owner {
            attributes.push("style=\"rounded,filled\"".to_owned());
            attributes.push("fillcolor=\"#d9f2d9\"".to_owned());
        }
        let _ = writeln!(
            out,
            "  {} [{}];",
            dot_string(node.id),
            attributes.join(", ")
        );
    }
    for edge in &selection.edges {
        let mut attributes = Vec::new();
        if !edge.label.is_empty() {
            attributes.push(format!("label={}", dot_string(&edge.label)));
        }
        if edge.cold {
            attributes.push("style=dashed".to_owned());
        }
        let _ = write!(
            out,
            "  {} -> {}",
            dot_string(selection.nodes[edge.from].id),
            dot_string(selection.nodes[edge.to].id)
        );
        if !attributes.is_empty() {
            let _ = write!(out, " [{}]", attributes.join(", "));
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart (renders on GitHub and GitLab in ```mermaid blocks).
pub fn render_mermaid(rules: &Rules, scope: GraphScope<'_>) -> String {
    let selection = Selection::of(rules, scope);
    let mut out = String::new();
    let _ = writeln!(out, "%% {}", legend(scope));
    out.push_str("flowchart LR\n");
    for (number, node) in selection.nodes.iter().enumerate() {
        let label = mermaid_string(&node.label);
        // Entries get a double border: Mermaid's "subroutine" shape.
        let shape = if node.entry {
            format!("[[\"{label}\"]]")
        } else {
            format!("([\"{label}\"])")
        };
        let _ = writeln!(out, "  d{number}{shape}");
    }
    for edge in &selection.edges {
        let arrow = if edge.cold { "-.->" } else { "-->" };
        if edge.label.is_empty() {
            let _ = writeln!(out, "  d{} {arrow} d{}", edge.from, edge.to);
        } else {
            let _ = writeln!(
                out,
                "  d{} {arrow}|\"{}\"| d{}",
                edge.from,
                mermaid_string(&edge.label),
                edge.to
            );
        }
    }
    let owners: Vec<String> = selection
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.owner)
        .map(|(number, _)| format!("d{number}"))
        .collect();
    if !owners.is_empty() {
        out.push_str("  classDef owner fill:#d9f2d9,stroke:#2e7d32\n");
        let _ = writeln!(out, "  class {} owner", owners.join(","));
    }
    out
}

fn legend(scope: GraphScope<'_>) -> String {
    match scope {
        GraphScope::All => "loopguard routing graph: double border = entry, filled = handles intents, dashed = cold transfer".to_owned(),
        GraphScope::Intent(intent) => format!(
            "loopguard routing graph for `{intent}`: double border = entry, filled = owner of `{intent}`, dashed = cold transfer"
        ),
    }
}

/// A dot double-quoted string; line breaks become dot's `\n`.
fn dot_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => {}
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// Text for inside a Mermaid `"..."` label: quotes and markup characters as entity
/// codes, line breaks as `<br/>`.
fn mermaid_string(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '"' => escaped.push_str("#quot;"),
            '#' => escaped.push_str("#35;"),
            '<' => escaped.push_str("#lt;"),
            '>' => escaped.push_str("#gt;"),
            '\n' => escaped.push_str("<br/>"),
            '\r' => {}
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_for_each_format() {
        assert_eq!(dot_string("a \"b\" \\ c\nd"), r#""a \"b\" \\ c\nd""#);
        assert_eq!(
            mermaid_string("<b> \"x\" #1\ny"),
            "#lt;b#gt; #quot;x#quot; #35;1<br/>y"
        );
    }

    #[test]
    fn long_lists_are_shortened() {
        assert_eq!(list(&["a", "b"]), "a, b");
        assert_eq!(list(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}
