//! Operating the hub: settings are checked before anything starts, every setting is documented,
//! requests are logged at the default level in plain text, and a clean stop logs no error.

use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;
use wes_tests::*;

/// `wes serve` with `settings` on a data directory that does not exist yet: its exit status and
/// stderr, and whether the data directory was created. Bounded: a hub that starts instead of
/// refusing is killed after 30 s and fails the test.
fn refused_start(settings: &[(&str, &str)]) -> (std::process::ExitStatus, String, bool) {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("never-created");
    let mut child = Command::new(bin_dir().join("wes"))
        .arg("serve")
        .env("WES_DATA_DIR", &data_dir)
        .env("WES_HTTP_ADDR", "127.0.0.1:1")
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env_remove("DATABASE_URL")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wes serve");
    let mut stderr_pipe = child.stderr.take().unwrap();
    let Some(status) = exit_within(child, Duration::from_secs(30)) else {
        panic!("wes serve with {settings:?} did not refuse to start");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut stderr_pipe, &mut stderr).unwrap();
    (status, stderr, data_dir.exists())
}

#[test]
fn a_wrong_setting_is_named_before_anything_starts() {
    for (setting, value, why) in [
        ("WES_ADMIN_KEY", "short", "16-256"),
        ("WES_DEMO_KEY_SUPERVISOR", "has a space inside it", "16-256"),
        ("WES_PLANNER_ID", "two words", "identifier"),
        ("WES_RATE_LIMIT_BURST", "0", "at least 1"),
        ("WES_RECONCILE_TOLERANCE", "-1", "0 or more"),
        ("DATABASE_URL", "mysql://db", "sqlite"),
    ] {
        let (status, stderr, created) = refused_start(&[(setting, value)]);
        assert!(!status.success(), "{setting}={value} was accepted");
        assert!(
            stderr.contains(setting) && stderr.contains(why),
            "{setting}={value}: the refusal names the setting and why: {stderr}"
        );
        assert!(
            !created,
            "{setting}={value}: nothing was started (no data directory)"
        );
    }
}

#[test]
fn every_setting_of_wes_serve_is_in_its_help_and_in_the_readme() {
    let help = Command::new(bin_dir().join("wes"))
        .args(["serve", "--help"])
        .env("WES_ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let settings: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .collect();
    for key in [
        "WES_ADMIN_KEY",
        "WES_DEMO_KEY_ACME",
        "WES_HTTP_ADDR",
        "WES_TLS_ADDR",
    ] {
        assert!(settings.contains(&key), "`wes serve --help` lists {key}");
    }
    let missing: Vec<_> = settings
        .iter()
        .filter(|s| !readme.contains(&format!("`{s}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "the README lists every setting; missing: {missing:?}"
    );
    assert!(
        !help.contains(ADMIN_KEY),
        "`--help` never shows a key's value"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_logged_in_plain_text_and_a_clean_stop_logs_no_error() {
    let log = tempfile::tempdir().unwrap();
    let log_file = log.path().join("hub.log");
    let mut hub =
        Hub::start_logged(Db::Sqlite, &[("WES_LOG", "info")], Some(log_file.clone())).await;
    let movement = json!({"correlation_id": "log-1", "kind": "RECEIVE", "warehouse_id": "WH-Tokyo-01",
        "sku": "SKU-WIDGET-RED-LG", "qty": 3, "uom": "EA", "to_location": "A.12.3.1",
        "occurred_at": "2026-11-21T06:10:00Z"});
    let (status, body) = hub
        .post("/wes/v1/realtime/movements", ACME_KEY, &movement)
        .await;
    assert_eq!(status, 200, "{body}");
    let stopped = hub.terminate();
    assert!(stopped.success(), "a clean stop exits 0: {stopped}");

    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colour codes in a file"
    );
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("route=/wes/v1/realtime/movements"))
        .collect();
    assert_eq!(access.len(), 1, "one access line per request: {log}");
    for part in [
        "INFO",
        "status=200",
        "method=POST",
        "partner=WH-Tokyo-01/AcmeWES",
        "trace_id=",
    ] {
        assert!(
            access[0].contains(part),
            "the access line has {part}: {}",
            access[0]
        );
    }
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "a clean stop logs no error: {errors:#?}");
}

#[test]
fn a_command_piped_into_a_reader_that_stops_early_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    // `wes openapi | head -1`: the document (~100 KB) outgrows the pipe, so the reader leaving
    // early breaks the pipe while `wes` still writes.
    let mut child = Command::new(bin_dir().join("wes"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "{");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.success() || out.status.signal() == Some(SIGPIPE),
        "ends by SIGPIPE (or having written everything), not with a panic: {:?}",
        out.status
    );
}

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;
