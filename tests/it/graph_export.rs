//! `loopguard graph`: the routing graph as dot and Mermaid, whole and per intent,
//! snapshot-tested on the example rules and on a fixture with names to escape, a
//! cold transfer and a transfer for any intent; and the command's exit codes.

use std::process::Command;

use loopguard::core::rules::Rules;
use loopguard::render::graph::{GraphScope, render_dot, render_mermaid};

use crate::support::{lint_fixture, repo_root};

const ESCAPING: &str = "tests/fixtures/graph/rules.toml";

fn rules(fixture: &str) -> Rules {
    lint_fixture(fixture).1.rules
}

#[test]
fn the_example_rules_export_as_dot_with_entries_and_owners_marked() {
    let dot = render_dot(&rules("routing-rules"), GraphScope::All);
    assert!(dot.contains("\"customer_service\" [label=\"Customer Service\\n(customer_service)\\nentry\\nhandles general_inquiry\", peripheries=2, style=\"rounded,filled\""), "{dot}");
    insta::assert_snapshot!("graph_example_dot", dot);
}

#[test]
fn the_graph_of_one_intent_holds_only_its_transfers_and_owners() {
    let dot = render_dot(&rules("routing-rules"), GraphScope::Intent("sim_swap"));
    insta::assert_snapshot!("graph_example_sim_swap_dot", dot);
    let mermaid = render_mermaid(&rules("routing-rules"), GraphScope::Intent("sim_swap"));
    insta::assert_snapshot!("graph_example_sim_swap_mermaid", mermaid);
    for text in [&dot, &mermaid] {
        assert!(!text.contains("billing"), "{text}");
    }
}

#[test]
fn names_are_escaped_and_cold_and_any_intent_transfers_are_marked() {
    let rules = rules(ESCAPING);
    let dot = render_dot(&rules, GraphScope::All);
    assert!(
        dot.contains(r#"label="Front \"Desk\" <main> #1\n(front_desk)"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#""billing" -> "supervisor" [label="any intent (cold)", style=dashed];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"label="refund, invoice, payment_plan and 1 more""#),
        "{dot}"
    );
    insta::assert_snapshot!("graph_escaping_dot", dot);
    let mermaid = render_mermaid(&rules, GraphScope::All);
    assert!(
        mermaid.contains("Front #quot;Desk#quot; #lt;main#gt; #35;1"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("d1 -.->|\"any intent (cold)\"| d2"),
        "{mermaid}"
    );
    insta::assert_snapshot!("graph_escaping_mermaid", mermaid);
    // `refund` is owned by billing and reaches the supervisor twice (explicitly
    // and through the transfer for any intent).
    let refund = render_mermaid(&rules, GraphScope::Intent("refund"));
    assert_eq!(
        refund.matches("-->").count() + refund.matches("-.->").count(),
        3,
        "{refund}"
    );
}

fn loopguard(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("LOOPGUARD_RULES")
        .output()
        .expect("run loopguard");
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("UTF-8"),
        String::from_utf8(output.stderr).expect("UTF-8"),
    )
}

#[test]
fn the_command_prints_the_graph_and_refuses_an_unknown_intent() {
    let (code, stdout, _) = loopguard(&["graph"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, render_dot(&rules("routing-rules"), GraphScope::All));
    let (code, stdout, _) = loopguard(&["graph", "--format", "mermaid", "--intent", "sim_swap"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.starts_with("%% loopguard routing graph for `sim_swap`"),
        "{stdout}"
    );
    let (code, stdout, stderr) = loopguard(&["graph", "--intent", "sim_swapp"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(stderr.contains("did you mean `sim_swap`?"), "{stderr}");
    let (code, _, stderr) = loopguard(&["graph", "--rules", "tests/fixtures/lint/hot-potato"]);
    assert_eq!(code, Some(0), "a graph of rules with errors still helps");
    assert!(stderr.contains("have 2 errors"), "{stderr}");
    let (code, _, stderr) = loopguard(&["graph", "--rules", "no/such/dir"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no/such/dir"), "{stderr}");
}

#[test]
fn svg_export_uses_the_dashboard_layout_and_narrows_to_an_intent() {
    let (code, stdout, _) = loopguard(&["graph", "--format", "svg"]);
    assert_eq!(code, Some(0));
    let whole = rules("routing-rules");
    assert_eq!(
        stdout,
        loopguard::render::graph_svg::rules_svg(&whole, GraphScope::All)
    );
    assert!(stdout.starts_with("<?xml"), "{stdout}");
    for department in &whole.departments {
        assert!(
            stdout.contains(department.id.as_str()),
            "{} missing",
            department.id
        );
    }
    let (code, narrowed, _) = loopguard(&["graph", "--format", "svg", "--intent", "sim_swap"]);
    assert_eq!(code, Some(0));
    // The intent's graph leaves out departments that neither own it nor pass it on.
    let dot = render_dot(&whole, GraphScope::Intent("sim_swap"));
    let left_out: Vec<&str> = whole
        .departments
        .iter()
        .map(|department| department.id.as_str())
        .filter(|id| !dot.contains(&format!("\"{id}\"")))
        .collect();
    assert!(!left_out.is_empty(), "sim_swap's graph should be smaller");
    for id in left_out {
        assert!(
            !narrowed.contains(&format!(">{id}<")),
            "{id} drawn in the sim_swap graph"
        );
    }
}
