//! `loopguard serve` as a user runs it: the real binary, real signals, real files.

use std::path::Path;
use std::process::Command;

use crate::support::{BinaryServer as Server, repo_root};

fn copy_rules(into: &Path) {
    for entry in std::fs::read_dir(repo_root().join("routing-rules")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), into.join(entry.file_name())).unwrap();
    }
}

#[test]
fn serve_refuses_to_start_on_rules_with_errors_and_prints_them() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("rules.toml"),
        "[[department]]\nid = \"customer_service\"\nentery = true\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--rules"])
        .arg(directory.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error[unknown-key]"), "{stderr}");
    assert!(stderr.contains("did you mean `entry`?"), "{stderr}");
    assert!(stderr.contains("have errors"), "{stderr}");
}

#[test]
fn serve_refuses_a_public_address_without_a_secret_unless_insecure() {
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--in-memory", "--listen", "0.0.0.0:0", "--rules"])
        .arg(repo_root().join("routing-rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without a webhook secret"), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--in-memory", "--webhook-secret", "whsec_c2hvcnQ="])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("24"));
}

/// Flags, environment variables, and what the refusal must say.
type RefusalCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn serve_refuses_integration_settings_it_cannot_use() {
    let cases: [RefusalCase; 4] = [
        (
            &["--asterisk-ami", "127.0.0.1:5038"],
            &[],
            "LOOPGUARD_ASTERISK_AMI_SECRET",
        ),
        (
            &["--asterisk-ami", "pbx.example.com"],
            &[("LOOPGUARD_ASTERISK_AMI_SECRET", "s")],
            "HOST:PORT",
        ),
        (&["--genesys-token", "short"], &[], "at least 16"),
        (&["--public-url", "cc.example.com"], &[], "https://"),
    ];
    for (flags, environment, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .args(["serve", "--in-memory", "--rules"])
            .arg(repo_root().join("routing-rules"))
            .args(flags)
            .env_remove("LOOPGUARD_ASTERISK_AMI_SECRET")
            .envs(environment.iter().copied())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}

#[test]
fn a_bad_reload_keeps_the_last_good_rules_and_shows_in_readyz_and_metrics() {
    let directory = tempfile::tempdir().unwrap();
    copy_rules(directory.path());
    let server = Server::start(directory.path(), &["--watch-rules", "false"]);
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));

    let transfers = directory.path().join("transfers.toml");
    let good = std::fs::read_to_string(&transfers).unwrap();
    std::fs::write(
        &transfers,
        good.replace("to = \"billing\"", "to = \"biling\""),
    )
    .unwrap();
    server.signal("HUP");
    let ready = server.wait_for("/readyz", |body| body.contains("degraded"));
    assert!(ready.contains("unknown-department"), "{ready}");
    let metrics = server.get("/metrics");
    assert!(
        metrics.contains("loopguard_rules_last_reload_success 0"),
        "{metrics}"
    );

    std::fs::write(&transfers, good).unwrap();
    server.signal("HUP");
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0, "SIGTERM is a clean shutdown");
}

#[test]
fn a_change_to_the_rules_directory_is_picked_up_without_a_signal() {
    let directory = tempfile::tempdir().unwrap();
    copy_rules(directory.path());
    let server = Server::start(directory.path(), &[]);
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
    std::fs::write(directory.path().join("broken.toml"), "[[department]\n").unwrap();
    server.wait_for("/readyz", |body| {
        body.contains("degraded") && body.contains("toml-syntax")
    });
    std::fs::remove_file(directory.path().join("broken.toml")).unwrap();
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
    server.signal("INT");
    assert_eq!(server.wait_exit(), 0);
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    use std::io::{BufRead, BufReader, Read};
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rules"])
        .arg(repo_root().join("routing-rules"))
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(stderr.contains("no webhook secret configured"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in piped logs: {stderr:?}"
    );
}
