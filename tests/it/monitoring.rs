//! The monitoring kit in `contrib/`: the Grafana dashboard and the Prometheus
//! alerts use only metrics that `/metrics` serves, and the alerts pass
//! `promtool check rules` and their own `promtool test rules`. Without Debian's
//! `prometheus` package (which ships `promtool`) the promtool part fails under `CI`
//! and is skipped loudly otherwise.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{TestServer, carrier_rules, repo_root};

/// Every `loopguard_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("loopguard_") {
        let tail = &rest[start..];
        let end = tail
            .find(|character: char| {
                !(character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_')
            })
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The series names `/metrics` serves (histograms as their `_bucket`, `_sum` and
/// `_count` series too).
async fn served() -> (BTreeSet<String>, String) {
    let server = TestServer::start(carrier_rules()).await;
    let text = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("metrics");
    server.stop().await;
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    (names, text)
}

#[tokio::test]
async fn the_grafana_dashboard_and_the_alerts_use_only_metrics_loopguard_serves() {
    let (served, text) = served().await;
    for file in [
        "contrib/grafana/loopguard.json",
        "contrib/prometheus/alerts.yml",
    ] {
        let content = std::fs::read_to_string(repo_root().join(file)).expect("read contrib file");
        let used = metric_names(&content);
        assert!(used.len() >= 5, "{file} uses {used:?}");
        let missing: Vec<&String> = used.iter().filter(|name| !served.contains(*name)).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics /metrics does not serve: {missing:?}"
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("contrib/grafana/loopguard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|panels| panels.len() >= 8)
    );
    // The loop codes the alert and the dashboard filter on are label values we send.
    for code in ["ping-pong", "circular-handoff", "max-hops-exceeded"] {
        assert!(
            text.contains(&format!("loopguard_findings_total{{code=\"{code}\"}}")),
            "{code}"
        );
    }
}

fn promtool() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join("promtool"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn the_alerts_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool() else {
        let message = "the alert rules test needs `promtool` from Debian's `prometheus` package \
                       (apt-get install -y prometheus)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
        return;
    };
    let directory = repo_root().join("contrib/prometheus");
    for arguments in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new(&promtool)
            .args(arguments)
            .current_dir(&directory)
            .output()
            .expect("run promtool");
        assert!(
            output.status.success(),
            "promtool {}:\n{}{}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
