//! The reference executors a vendor copies: `wes executor webhook` (signature verified over the
//! raw body, 401 otherwise, dedup, events in order) and `wes executor poll` (page → store file,
//! fsync → ack; resumes from the file after a crash).

use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use wes_tests::*;

const SECRET: &str = "executor-secret-0123456789";

fn shipper(cid: &str) -> Value {
    json!({"kind": "SHIPPER_RELEASED", "correlation_id": cid, "planner_id": "fgai-wms", "warehouse_id": "WH-Tokyo-01",
           "document_ref": {"type": "SHIPPER", "id": format!("SH-{cid}")},
           "routing": {"ops": [{"op_id": "op-1", "kind": "PICK", "sku": "SKU-WIDGET-RED-LG", "qty": 1, "from_location": "A.12.3.1"}]}})
}

fn receiver_release(cid: &str) -> Value {
    json!({"kind": "RECEIVER_EXPECTED", "correlation_id": cid, "warehouse_id": "WH-Osaka-02",
           "document_ref": {"type": "RECEIVER", "id": format!("RCV-{cid}")},
           "routing": {"ops": [{"op_id": "1", "kind": "RECEIVE", "to_location": "DOCK-1"}]}})
}

/// The JSON lines a finished child printed.
fn lines(output: &std::process::Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn the_reference_webhook_receiver_verifies_dedups_and_prints_in_order(db: Db) {
    let hub = Hub::start(db).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let receiver = hub
        .cli()
        .args([
            "executor",
            "webhook",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--secret",
            SECRET,
            "--max",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let post = |body: &'static str, signature: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-fgai-signature", signature)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    let body = r#"{"planner_id":"P","correlation_id":"manual-1","kind":"SHIPPER_RELEASED"}"#;
    let signed = wes_domain::webhook::signature(SECRET, body.as_bytes());
    eventually("the receiver listens", Duration::from_secs(10), || async {
        post(body, "sha256=00".into()).await.ok()
    })
    .await;
    assert_eq!(post(body, "sha256=00".into()).await.unwrap(), 401);
    let tampered = r#"{"planner_id":"P","correlation_id":"manual-2","kind":"SHIPPER_RELEASED"}"#;
    assert_eq!(
        post(tampered, signed.clone()).await.unwrap(),
        401,
        "another body"
    );
    assert_eq!(post(body, signed.clone()).await.unwrap(), 200);
    assert_eq!(
        post(body, signed).await.unwrap(),
        200,
        "a duplicate is acknowledged"
    );
    // The hub delivers to it.
    assert_eq!(
        hub.delete(
            "/planner/v1/warehouses/WH-Tokyo-01/dispatch-transport",
            ADMIN_KEY
        )
        .await,
        200
    );
    let transport = json!({"transport": "WEBHOOK", "partner_id": "WH-Tokyo-01/AcmeWES", "url": url, "secret": SECRET});
    let (status, answer) = hub
        .put(
            "/planner/v1/warehouses/WH-Tokyo-01/dispatch-transport",
            ADMIN_KEY,
            &transport,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for cid in ["w1", "w2"] {
        let (status, answer) = hub
            .post("/planner/v1/releases", ADMIN_KEY, &shipper(cid))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || receiver.wait_with_output().unwrap()),
    )
    .await
    .expect("the receiver stops after 3 events")
    .unwrap();
    let printed = lines(&output);
    let ids: Vec<&str> = printed
        .iter()
        .map(|l| l["event"]["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["manual-1", "w1", "w2"], "once each, in order");
    let mut expected = shipper("w1");
    expected["meta"] = printed[1]["event"]["meta"].clone();
    assert_eq!(
        printed[1]["event"], expected,
        "the release as sent, meta filled in"
    );
    assert_eq!(printed[1]["attempt"], "1");
}

async fn the_reference_poller_stores_before_it_acks_and_resumes_after_a_crash(db: Db) {
    let hub = Hub::start(db).await;
    for cid in ["p1", "p2", "p3"] {
        let (status, answer) = hub
            .post("/planner/v1/releases", ADMIN_KEY, &receiver_release(cid))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let store = hub.data_dir.path().join("executor-store.jsonl");
    let poll = |max: &str| {
        let output = hub
            .cli()
            .args(["executor", "poll", "--store"])
            .arg(&store)
            .args(["--key", BETA_KEY, "--interval-ms", "100", "--max", max])
            .output()
            .unwrap();
        lines(&output)
    };
    let printed = poll("3");
    let ids: Vec<&str> = printed
        .iter()
        .map(|e| e["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    let (_, after) = hub.get("/wes/v1/dispatch/pending", Some(BETA_KEY)).await;
    assert_eq!(after["events"], json!([]), "acknowledged once stored");

    // A crash while a page was being written: the part is cut off and fetched again.
    let mut text = std::fs::read_to_string(&store).unwrap();
    text.push_str("{\"event\": {\"correlation_id\": \"p4\"");
    std::fs::write(&store, text).unwrap();
    let (status, answer) = hub
        .post("/planner/v1/releases", ADMIN_KEY, &receiver_release("p4"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let printed = poll("1");
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["correlation_id"], "p4");
    let stored: Vec<Value> = std::fs::read_to_string(&store)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole lines only"))
        .collect();
    let events: Vec<&str> = stored
        .iter()
        .filter_map(|l| l["event"]["correlation_id"].as_str())
        .collect();
    assert_eq!(events, ["p1", "p2", "p3", "p4"], "each once, in order");
    assert!(stored.last().unwrap()["cursor"].is_string());
}

on_sqlite_and_postgres!(
    the_reference_webhook_receiver_verifies_dedups_and_prints_in_order,
    the_reference_poller_stores_before_it_acks_and_resumes_after_a_crash
);
