//! Bad input never panics and always yields findings that say what is wrong: empty
//! and binary files, huge files, deep nesting, odd ids and misshapen tables, through
//! the library and (for a few) through the binary.

use std::process::Command;

use loopguard::core::codes::LintCode;
use loopguard::core::lint::{LintReport, lint};
use loopguard::core::source::SourceFile;

/// Deep enough to overflow any parser that recurses without a limit.
const DEPTH: usize = 10_000;

fn lint_text(text: &str) -> LintReport {
    lint(&[SourceFile::new("rules.toml", text)])
}

fn lint_bytes(bytes: &[u8]) -> LintReport {
    lint(&[SourceFile::from_bytes("rules.toml", bytes)])
}

fn codes(report: &LintReport) -> Vec<LintCode> {
    report
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code)
        .collect()
}

fn assert_reports(report: &LintReport, code: LintCode, message_part: &str) {
    assert!(
        report
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.code == code && diagnostic.message.contains(message_part)),
        "expected {code} mentioning {message_part:?}, got {:#?}",
        report.diagnostics
    );
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced.
fn garbage(length: usize, mut state: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Garbage that is certainly not UTF-8 and contains a NUL byte.
fn binary_garbage(seed: u64) -> Vec<u8> {
    let mut bytes = garbage(4096, seed);
    bytes[0] = 0xff;
    bytes[1] = 0;
    bytes
}

/// A valid department list around `id`, so the id is the only problem.
fn config_with_department_id(id: &str) -> String {
    format!(
        "[[department]]\nid = \"customer_service\"\nentry = true\nhandles = [\"general_inquiry\"]\n\n\
         [[department]]\nid = \"{id}\"\nhandles = [\"reconnect_line\"]\n\n\
         [[transfer]]\nfrom = \"customer_service\"\nto = \"{id}\"\nintents = [\"reconnect_line\"]\n"
    )
}

#[test]
fn an_empty_file_reports_that_no_call_can_start() {
    assert_eq!(codes(&lint_text("")), [LintCode::NoEntryPoint]);
}

#[test]
fn a_whitespace_only_file_reports_that_no_call_can_start() {
    assert_eq!(
        codes(&lint_text("  \n\t\r\n   \n")),
        [LintCode::NoEntryPoint]
    );
}

#[test]
fn binary_garbage_is_reported_as_not_utf8() {
    for seed in [1, 7, 42, 2024] {
        let report = lint_bytes(&binary_garbage(seed));
        assert_reports(&report, LintCode::TomlSyntax, "not valid UTF-8");
    }
}

#[test]
fn nul_bytes_in_utf8_text_are_a_syntax_error() {
    let report = lint_text("[[department]]\nid = \"a\"\0\nentry = true\n");
    assert_reports(&report, LintCode::TomlSyntax, "invalid TOML");
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let mut bytes = b"[[department]]\nid = \"caf".to_vec();
    bytes.push(0xe9); // Latin-1 é
    bytes.extend_from_slice(b"\"\n");
    let sources = [SourceFile::from_bytes("rules.toml", &bytes)];
    let report = lint(&sources);
    let finding = report
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.code == LintCode::TomlSyntax)
        .expect("a toml-syntax finding");
    let at = sources[0].line_column(finding.primary.start);
    assert_eq!((at.line, at.column), (2, 10));
    assert!(finding.message.contains("offset 24"), "{}", finding.message);
}

#[test]
fn a_ten_megabyte_string_is_linted_without_trouble() {
    let name = "x".repeat(10 * 1024 * 1024);
    let text = config_with_department_id("activations").replacen(
        "entry = true",
        &format!("entry = true\nname = \"{name}\""),
        1,
    );
    assert!(text.len() > 10 * 1024 * 1024);
    let report = lint_text(&text);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    assert_eq!(report.rules.departments[0].name.len(), name.len());
}

#[test]
fn a_megabyte_of_departments_is_linted_completely() {
    let mut text = String::from(
        "[[department]]\nid = \"customer_service\"\nentry = true\nhandles = [\"general_inquiry\"]\n",
    );
    let mut count = 0;
    while text.len() < 1024 * 1024 {
        text.push_str(&format!(
            "\n[[department]]\nid = \"department_{count}\"\nhandles = [\"intent_{count}\"]\n\n\
             [[transfer]]\nfrom = \"customer_service\"\nto = \"department_{count}\"\nintents = [\"intent_{count}\"]\n"
        ));
        count += 1;
    }
    // One department left unreachable at the very end proves the checks ran to the end.
    text.push_str("\n[[department]]\nid = \"island\"\nhandles = [\"nothing\"]\n");
    let report = lint_text(&text);
    assert_eq!(report.rules.departments.len(), count + 2);
    assert_eq!(codes(&report), [LintCode::UnreachableDepartment]);
    assert!(report.diagnostics[0].message.contains("`island`"));
}

#[test]
fn a_huge_id_is_rejected_as_too_long() {
    let id = "a".repeat(1024 * 1024);
    let report = lint_text(&config_with_department_id(&id));
    assert_reports(&report, LintCode::InvalidValue, "the limit is 64");
}

#[test]
fn deeply_nested_arrays_hit_the_parser_recursion_limit_instead_of_the_stack() {
    let text = format!("a = {}{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let report = lint_text(&text);
    assert_reports(&report, LintCode::TomlSyntax, "recursion");
    assert_reports(&report, LintCode::UnknownKey, "`a`");
}

#[test]
fn deeply_nested_unclosed_arrays_are_a_syntax_error() {
    let report = lint_text(&format!("a = {}\n", "[".repeat(DEPTH)));
    assert_reports(&report, LintCode::TomlSyntax, "recursion");
    assert_reports(&report, LintCode::TomlSyntax, "unclosed array");
}

#[test]
fn deeply_nested_inline_tables_are_a_syntax_error() {
    let text = format!("a = {}1{}\n", "{b = ".repeat(DEPTH), "}".repeat(DEPTH));
    assert_reports(&lint_text(&text), LintCode::TomlSyntax, "recursion");
}

#[test]
fn ten_thousand_brackets_as_a_table_header_are_a_syntax_error() {
    let text = format!("{}a{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH));
    assert_reports(&lint_text(&text), LintCode::TomlSyntax, "invalid TOML");
}

#[test]
fn very_long_dotted_keys_and_table_names_are_a_syntax_error() {
    let path = vec!["a"; DEPTH].join(".");
    assert_reports(
        &lint_text(&format!("{path} = 1\n")),
        LintCode::TomlSyntax,
        "recursion limit",
    );
    assert_reports(
        &lint_text(&format!("[{path}]\n")),
        LintCode::TomlSyntax,
        "recursion limit",
    );
}

#[test]
fn deeply_nested_values_inside_known_tables_are_invalid_values() {
    let nested = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let report = lint_text(&format!(
        "[[department]]\nid = \"customer_service\"\nentry = true\nhandles = {nested}\n"
    ));
    assert_reports(&report, LintCode::TomlSyntax, "recursion");
    assert_reports(&report, LintCode::InvalidValue, "expected a string");
}

#[test]
fn accented_ids_are_accepted() {
    let text = "[[department]]\nid = \"relation_clientèle\"\nentry = true\nhandles = [\"réclamation\"]\n\n\
                [[department]]\nid = \"activación\"\nhandles = [\"reconexión\"]\n\n\
                [[transfer]]\nfrom = \"relation_clientèle\"\nto = \"activación\"\nintents = [\"reconexión\"]\n";
    let report = lint_text(text);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    assert!(report.rules.department("activación").is_some());
}

#[test]
fn emoji_in_an_id_is_an_invalid_value() {
    let report = lint_text(&config_with_department_id("support_📞"));
    assert_reports(&report, LintCode::InvalidValue, "contains '📞'");
}

#[test]
fn spaces_in_an_id_are_an_invalid_value_with_a_suggestion() {
    let sources = [SourceFile::new(
        "rules.toml",
        config_with_department_id("tech support"),
    )];
    let report = lint(&sources);
    assert_reports(
        &report,
        LintCode::InvalidValue,
        "for example `tech_support`",
    );
    let finding = &report.diagnostics[0];
    let at = sources[0].line_column(finding.primary.start);
    assert_eq!((at.line, at.column), (7, 6), "points at the id's value");
}

#[test]
fn a_file_with_only_a_policy_reports_that_no_call_can_start() {
    assert_eq!(codes(&lint_text("[policy]\n")), [LintCode::NoEntryPoint]);
}

#[test]
fn a_number_where_departments_are_expected_is_an_invalid_value() {
    let report = lint_text("department = 3\n");
    assert_reports(
        &report,
        LintCode::InvalidValue,
        "`department` must be an array of tables",
    );
}

#[test]
fn a_single_department_table_is_told_to_use_double_brackets() {
    let report = lint_text("[department]\nid = \"customer_service\"\nentry = true\n");
    let finding = report
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.code == LintCode::InvalidValue)
        .expect("an invalid-value finding");
    assert!(
        finding.message.contains("array of tables"),
        "{}",
        finding.message
    );
    assert_eq!(
        finding.help.as_deref(),
        Some("write each one as its own [[department]] table")
    );
}

#[test]
fn a_transfer_list_of_strings_is_an_invalid_value() {
    let report = lint_text("transfer = [\"customer_service\", \"activations\"]\n");
    assert_reports(&report, LintCode::InvalidValue, "[[transfer]]");
}

#[test]
fn a_bad_action_in_a_policy_actions_table_does_not_hide_the_rest_of_the_policy() {
    // The same mistake written as an inline table keeps the rest of [policy]; a
    // [policy.actions] sub-table must too ("one bad value never hides the next").
    let text = "[policy]\nescalation = \"nobody\"\n\n[policy.actions]\nping-pong = \"explode\"\n";
    let report = lint_text(text);
    assert_reports(&report, LintCode::InvalidValue, "unknown variant `explode`");
    assert_reports(&report, LintCode::UnknownEscalation, "`nobody`");
}

#[test]
fn a_bad_action_in_an_inline_actions_table_does_not_hide_the_rest_of_the_policy() {
    let text = "[policy]\nescalation = \"nobody\"\nactions = { ping-pong = \"explode\" }\n";
    let report = lint_text(text);
    assert_reports(&report, LintCode::InvalidValue, "unknown variant `explode`");
    assert_reports(&report, LintCode::UnknownEscalation, "`nobody`");
}

/// Runs the binary on one file written to a temporary directory.
fn lint_file_with_binary(bytes: &[u8]) -> (Option<i32>, String, String) {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("rules.toml");
    std::fs::write(&path, bytes).expect("write rules");
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["lint", "--format", "concise"])
        .arg(&path)
        .output()
        .expect("run loopguard");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_binary_reports_bad_input_as_findings_not_crashes() {
    let deep = format!("a = {}{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty file", Vec::new(), "error[no-entry-point]"),
        ("binary garbage", binary_garbage(99), "error[toml-syntax]"),
        ("deep nesting", deep.into_bytes(), "recursion"),
        (
            "single table",
            b"[department]\nid = \"x\"\n".to_vec(),
            "error[invalid-value]",
        ),
    ];
    for (name, bytes, expected) in cases {
        let (code, stdout, stderr) = lint_file_with_binary(&bytes);
        assert_eq!(
            code,
            Some(1),
            "{name}: exit code\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            stdout.contains(expected),
            "{name}: no `{expected}` in\n{stdout}"
        );
    }
}
