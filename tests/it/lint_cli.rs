//! The real `loopguard` binary, run from the repository root: exit codes (0 clean,
//! 1 findings, 2 usage or unreadable input), output formats, colour, and the
//! `explain`, `schema` and `route` commands.

use std::process::Command;

use loopguard::core::codes::LintCode;
use serde_json::Value;

use crate::support::repo_root;

const PING_PONG_FAIL: &str = "tests/fixtures/lint/ping-pong-pair/fail.toml";
/// Reports only a warning (transfer-cycle).
const WARNING_ONLY: &str = "tests/fixtures/lint/transfer-cycle/fail.toml";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` in the repository root, without inherited colour or
/// rules settings.
fn loopguard(args: &[&str]) -> Outcome {
    run(&mut command(args))
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopguard"));
    command
        .args(args)
        .current_dir(repo_root())
        .env_remove("NO_COLOR")
        .env_remove("LOOPGUARD_RULES");
    command
}

fn run(command: &mut Command) -> Outcome {
    let output = command.output().expect("run loopguard");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

#[test]
fn lint_of_the_example_rules_exits_zero_with_no_findings() {
    let outcome = loopguard(&["lint", "routing-rules"]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("no findings"), "{}", outcome.stdout);
}

#[test]
fn lint_without_paths_checks_routing_rules() {
    let outcome = loopguard(&["lint"]);
    assert_eq!(outcome.code, Some(0));
    assert_eq!(outcome.stdout, "no findings in 4 files\n");
}

#[test]
fn lint_of_a_fixture_with_an_error_exits_one() {
    let outcome = loopguard(&["lint", PING_PONG_FAIL]);
    assert_eq!(outcome.code, Some(1), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("error[ping-pong-pair]"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn concise_output_of_the_binary_matches_the_library_output_for_the_same_fixture() {
    let outcome = loopguard(&["lint", PING_PONG_FAIL, "--format", "concise"]);
    let (sources, report) = crate::support::lint_fixture(PING_PONG_FAIL);
    let expected =
        loopguard::render::render_concise(&sources, &report.diagnostics, &report.omitted);
    assert!(expected.contains("[ping-pong-pair]"), "{expected}");
    assert_eq!(outcome.stdout, expected);
}

#[test]
fn warnings_fail_the_run_only_with_fail_on_warning() {
    let default = loopguard(&["lint", WARNING_ONLY, "--format", "concise"]);
    assert!(
        default.stdout.contains("warning[transfer-cycle]"),
        "{}",
        default.stdout
    );
    assert!(!default.stdout.contains("error["), "{}", default.stdout);
    assert_eq!(default.code, Some(0));
    let strict = loopguard(&["lint", WARNING_ONLY, "--fail-on", "warning"]);
    assert_eq!(strict.code, Some(1));
}

#[test]
fn fail_on_never_exits_zero_despite_errors() {
    let outcome = loopguard(&["lint", PING_PONG_FAIL, "--fail-on", "never"]);
    assert_eq!(outcome.code, Some(0));
    assert!(
        outcome.stdout.contains("ping-pong-pair"),
        "findings are still printed"
    );
}

#[test]
fn a_nonexistent_path_exits_two_and_names_the_path() {
    let outcome = loopguard(&["lint", "no/such/rules-dir"]);
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome.stderr.contains("no/such/rules-dir"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
}

#[test]
fn a_directory_without_rules_files_exits_two() {
    let outcome = loopguard(&["lint", "src/render"]);
    assert_eq!(outcome.code, Some(2));
    assert!(outcome.stderr.contains("src/render"), "{}", outcome.stderr);
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let outcome = loopguard(&["lint", "routing-rules", "--format", "xml"]);
    assert_eq!(outcome.code, Some(2));
    assert!(outcome.stderr.contains("xml"), "{}", outcome.stderr);
}

#[test]
fn github_format_prints_workflow_commands_with_file_line_and_column() {
    let outcome = loopguard(&["lint", PING_PONG_FAIL, "--format", "github"]);
    assert_eq!(outcome.code, Some(1));
    let line = outcome.stdout.lines().next().expect("one annotation");
    let prefix = format!("::error file={PING_PONG_FAIL},line=20,col=1,endLine=20,endColumn=13,");
    assert!(line.starts_with(&prefix), "{line}");
    let (properties, message) = line
        .trim_start_matches("::error ")
        .split_once("::")
        .expect("`::` between properties and message");
    assert!(
        properties.ends_with("title=loopguard ping-pong-pair"),
        "{properties}"
    );
    assert!(
        message.contains("%0Ahelp: "),
        "newlines are escaped: {message}"
    );
}

#[test]
fn json_format_is_one_parsable_document() {
    let outcome = loopguard(&["lint", PING_PONG_FAIL, "routing-rules", "--format", "json"]);
    assert_eq!(outcome.code, Some(1));
    let report: Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(report["summary"]["errors"], 1);
    assert_eq!(report["findings"][0]["code"], "ping-pong-pair");
    assert_eq!(report["files"].as_array().map(Vec::len), Some(5));
}

#[test]
fn no_color_and_piped_output_have_no_ansi_escapes_but_color_always_does() {
    let mut no_color = command(&["lint", PING_PONG_FAIL, "--color", "auto"]);
    no_color.env("NO_COLOR", "1");
    let no_color = run(&mut no_color);
    assert!(no_color.stdout.contains("ping-pong-pair"));
    assert!(!no_color.stdout.contains('\u{1b}'), "NO_COLOR was ignored");

    let piped = loopguard(&["lint", PING_PONG_FAIL]);
    assert!(piped.stdout.contains("ping-pong-pair"));
    assert!(!piped.stdout.contains('\u{1b}'), "colour on a pipe");

    let always = loopguard(&["lint", PING_PONG_FAIL, "--color", "always"]);
    assert!(
        always.stdout.contains("\u{1b}["),
        "no colour with --color always"
    );
}

#[test]
fn explain_prints_every_section_for_every_code() {
    for code in LintCode::ALL {
        let outcome = loopguard(&["explain", code.as_str()]);
        assert_eq!(outcome.code, Some(0), "explain {code}: {}", outcome.stderr);
        assert!(
            outcome.stdout.starts_with(code.as_str()),
            "{}",
            outcome.stdout
        );
        let mut last = 0;
        for section in [
            "What it catches",
            "Why it matters for callers",
            "Example",
            "How to fix it",
        ] {
            let at = outcome.stdout[last..]
                .find(&format!("\n{section}\n"))
                .unwrap_or_else(|| {
                    panic!("explain {code}: no `{section}` after the previous section")
                });
            last += at + section.len();
        }
    }
}

#[test]
fn explain_without_a_code_lists_every_code() {
    let outcome = loopguard(&["explain"]);
    assert_eq!(outcome.code, Some(0));
    for code in LintCode::ALL {
        assert!(outcome.stdout.contains(code.as_str()), "{code} missing");
    }
}

#[test]
fn explain_of_an_unknown_code_exits_two_and_suggests_a_close_one() {
    let close = loopguard(&["explain", "ping-pong"]);
    assert_eq!(close.code, Some(2));
    assert!(
        close.stderr.contains("did you mean `ping-pong-pair`?"),
        "{}",
        close.stderr
    );

    let nonsense = loopguard(&["explain", "nonsense"]);
    assert_eq!(nonsense.code, Some(2));
    assert!(
        nonsense.stderr.contains("unknown lint code `nonsense`"),
        "{}",
        nonsense.stderr
    );
    assert!(
        !nonsense.stderr.contains("did you mean"),
        "{}",
        nonsense.stderr
    );
}

#[test]
fn schema_prints_a_json_schema_of_departments_and_transfers() {
    let outcome = loopguard(&["schema"]);
    assert_eq!(outcome.code, Some(0));
    let schema: Value = serde_json::from_str(&outcome.stdout).expect("schema is JSON");
    let properties = &schema["properties"];
    assert!(properties["department"].is_object(), "{schema}");
    assert!(properties["transfer"].is_object(), "{schema}");
    let department = &schema["$defs"]["Department"]["properties"];
    assert_eq!(department["aliases"]["items"]["type"], "string", "{schema}");
    let actions = &schema["$defs"]["Actions"]["properties"];
    assert!(actions["unknown-transfer-mode"].is_object(), "{schema}");
    let policy = &schema["$defs"]["Policy"]["properties"];
    assert!(policy["callback_within"].is_object(), "{schema}");
    assert!(policy["show_agents"].is_object(), "{schema}");
}

#[test]
fn route_takes_a_platform_identity_and_says_which_department_it_is() {
    let rules = "tests/fixtures/sip/rules";
    let outcome = loopguard(&[
        "route",
        "--rules",
        rules,
        "--from",
        "<sip:3001@PBX.example.com:5060>",
        "--intent",
        "general_inquiry",
    ]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        "`<sip:3001@PBX.example.com:5060>` is `activations`: route `general_inquiry` to `customer_service`: activations → customer_service (1 hop)\n"
    );
    let json = loopguard(&[
        "route",
        "--rules",
        rules,
        "--from",
        "2002",
        "--intent",
        "general_inquiry",
        "--format",
        "json",
    ]);
    let answer: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        (&answer["from"], &answer["identity"], &answer["hops"]),
        (
            &serde_json::json!("customer_service"),
            &serde_json::json!("2002"),
            &serde_json::json!(0)
        )
    );
    let unknown = loopguard(&[
        "route",
        "--rules",
        rules,
        "--from",
        "sip:9999@pbx.example.com",
        "--intent",
        "general_inquiry",
    ]);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown
            .stderr
            .contains("neither a department id nor an alias"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn route_finds_the_shortest_path_to_the_owner() {
    let outcome = loopguard(&[
        "route",
        "--from",
        "customer_service",
        "--intent",
        "sim_swap",
    ]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        "route `sim_swap` to `activations`: customer_service → activations (1 hop)\n"
    );
}

#[test]
fn route_as_json_parses_and_names_the_path() {
    let outcome = loopguard(&[
        "route",
        "--from",
        "technical_support",
        "--intent",
        "warranty_claim",
        "--format",
        "json",
    ]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let answer: Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(
        answer["path"],
        serde_json::json!(["technical_support", "device_support"])
    );
    assert_eq!(answer["hops"], 1);
    assert_eq!(answer["owners"], serde_json::json!(["device_support"]));
    assert_eq!(answer["reason"], Value::Null);
}

#[test]
fn route_for_an_intent_nobody_handles_exits_one_with_a_reason() {
    let outcome = loopguard(&[
        "route",
        "--from",
        "customer_service",
        "--intent",
        "teleportation",
    ]);
    assert_eq!(outcome.code, Some(1));
    assert!(
        outcome
            .stdout
            .contains("no department handles `teleportation`"),
        "{}",
        outcome.stdout
    );
    let json = loopguard(&[
        "route",
        "--from",
        "customer_service",
        "--intent",
        "teleportation",
        "--format",
        "json",
    ]);
    assert_eq!(json.code, Some(1));
    let answer: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(answer["path"], Value::Null);
    assert_eq!(answer["reason"], "no department handles `teleportation`");
}

#[test]
fn route_from_an_unknown_department_exits_two_with_a_suggestion() {
    let outcome = loopguard(&["route", "--from", "customer_servce", "--intent", "sim_swap"]);
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome.stderr.contains("did you mean `customer_service`?"),
        "{}",
        outcome.stderr
    );
}
