//! The SARIF output is valid SARIF 2.1.0: it deserializes into `serde-sarif`'s types
//! (generated from the official schema), survives a round trip through them
//! unchanged (so it has no field the schema does not define: serde-sarif itself
//! accepts unknown fields), and follows the rules code scanning relies on, checked by
//! hand: unique rule ids, `ruleId`/`ruleIndex` that agree, known levels, relative
//! URIs and 1-based regions.

use std::collections::HashSet;

use loopguard::core::codes::LintCode;
use loopguard::render::render_sarif;
use serde_json::Value;

use crate::support::lint_fixture;

/// Asserts everything this module promises about one SARIF document.
fn assert_valid_sarif(text: &str) {
    let original: Value = serde_json::from_str(text).expect("SARIF output is JSON");
    let typed: serde_sarif::sarif::Sarif =
        serde_json::from_str(text).expect("SARIF output matches the SARIF 2.1.0 types");
    let round_trip = serde_json::to_value(&typed).expect("serialize SARIF");
    assert_eq!(
        round_trip, original,
        "a field was lost in a round trip through the SARIF 2.1.0 types (unknown field?)"
    );

    assert_eq!(original["version"], "2.1.0");
    let runs = original["runs"].as_array().expect("runs is an array");
    assert_eq!(runs.len(), 1, "one run per invocation");
    for run in runs {
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "loopguard");
        let rules = driver["rules"]
            .as_array()
            .expect("driver.rules is an array");
        let ids: Vec<&str> = rules
            .iter()
            .map(|rule| rule["id"].as_str().expect("rule.id is a string"))
            .collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "rule ids are not unique: {ids:?}");
        for rule in rules {
            assert_level(&rule["defaultConfiguration"]["level"]);
        }
        let results = run["results"].as_array().expect("results is an array");
        for result in results {
            let rule_id = result["ruleId"].as_str().expect("ruleId is a string");
            let index = result["ruleIndex"].as_u64().expect("ruleIndex is a number") as usize;
            assert_eq!(
                ids.get(index).copied(),
                Some(rule_id),
                "ruleIndex {index} does not point at rule `{rule_id}`"
            );
            assert_level(&result["level"]);
            assert!(
                !result["message"]["text"].as_str().unwrap_or("").is_empty(),
                "result without message text"
            );
            let locations = result["locations"].as_array().expect("locations");
            assert!(!locations.is_empty(), "result without location");
            let related = result["relatedLocations"].as_array().cloned();
            for location in locations.iter().chain(related.iter().flatten()) {
                assert_physical_location(&location["physicalLocation"]);
            }
        }
    }
}

fn assert_level(level: &Value) {
    assert!(
        matches!(level.as_str(), Some("none" | "note" | "warning" | "error")),
        "invalid SARIF level {level}"
    );
}

fn assert_physical_location(location: &Value) {
    let uri = location["artifactLocation"]["uri"]
        .as_str()
        .expect("artifactLocation.uri is a string");
    assert!(
        !uri.is_empty()
            && !uri.starts_with("./")
            && !uri.starts_with('/')
            && !uri.contains("://")
            && !uri.contains('\\'),
        "uri `{uri}` is not a relative reference"
    );
    let region = &location["region"];
    for key in ["startLine", "startColumn", "endLine", "endColumn"] {
        let value = region[key].as_u64().unwrap_or(0);
        assert!(value >= 1, "region.{key} = {} is not ≥ 1", region[key]);
    }
    let start = (region["startLine"].as_u64(), region["startColumn"].as_u64());
    let end = (region["endLine"].as_u64(), region["endColumn"].as_u64());
    assert!(start <= end, "region ends before it starts: {region}");
}

fn sarif_of(fixture: &str) -> String {
    let (sources, report) = lint_fixture(fixture);
    render_sarif(&sources, &report.diagnostics, &report.omitted)
}

#[test]
fn sarif_of_the_hot_potato_is_valid_sarif_2_1_0() {
    let text = sarif_of("tests/fixtures/lint/hot-potato");
    assert_valid_sarif(&text);
    let log: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(log["runs"][0]["results"].as_array().map(Vec::len), Some(2));
}

#[test]
fn sarif_of_a_clean_configuration_is_valid_and_has_no_results() {
    let text = sarif_of("routing-rules");
    assert_valid_sarif(&text);
    let log: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
}

#[test]
fn sarif_of_every_fail_fixture_is_valid_sarif_2_1_0() {
    for code in LintCode::ALL {
        let directory = format!("tests/fixtures/lint/{code}");
        let file = format!("{directory}/fail.toml");
        let fixture = if crate::support::repo_root().join(&file).is_file() {
            file
        } else {
            format!("{directory}/fail")
        };
        let text = sarif_of(&fixture);
        assert_valid_sarif(&text);
        assert!(
            text.contains(&format!("\"ruleId\": \"{code}\"")),
            "{fixture}"
        );
    }
}

#[test]
fn sarif_lists_every_lint_code_as_a_rule_in_registry_order() {
    let log: Value = serde_json::from_str(&sarif_of("routing-rules")).expect("JSON");
    let ids: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|rule| rule["id"].as_str())
        .collect();
    let codes: Vec<&str> = LintCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(ids, codes);
}

#[test]
fn sarif_uris_of_odd_paths_stay_relative_and_escaped() {
    let sources = [loopguard::core::source::SourceFile::new(
        "./rules dir/ümlaut #1.toml",
        "[[department]]\nid = \"x\"\n",
    )];
    let report = loopguard::core::lint::lint(&sources);
    assert!(!report.diagnostics.is_empty());
    let text = render_sarif(&sources, &report.diagnostics, &report.omitted);
    assert_valid_sarif(&text);
    assert!(
        text.contains("\"uri\": \"rules%20dir/%C3%BCmlaut%20%231.toml\""),
        "{text}"
    );
}
