//! Black-box tests of the work-status and capacity endpoints, on SQLite and PostgreSQL.

use serde_json::{Value, json};
use wes_tests::*;

fn status(cid: &str, task: &str, status: &str, at: &str) -> Value {
    json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "task_id": task, "status": status,
           "document_ref": {"type": "SHIPPER", "id": "SH-2026-000183", "line_no": 1},
           "worker_id": "picker-7", "occurred_at": format!("2026-11-21T{at}:00Z")})
}

async fn task_lifecycle_keeps_history_and_never_leaves_a_terminal_state(db: Db) {
    let hub = Hub::start(db).await;
    let path = "/wes/v1/realtime/work-status";
    // Arrival order differs from occurred_at order: the 06:01 event comes late.
    let t1 = json!([
        status("ws-1", "T-1", "ASSIGNED", "06:00"),
        status("ws-2", "T-1", "IN_PROGRESS", "06:05"),
        status("ws-3", "T-1", "ASSIGNED", "06:01"),
        status("ws-4", "T-1", "COMPLETED", "06:10"),
        status("ws-5", "T-1", "IN_PROGRESS", "06:20"),
        status("ws-6", "T-2", "ASSIGNED", "06:00"),
        status("ws-7", "T-2", "COMPLETED", "06:02"),
    ]);
    let (code, body) = hub.post(path, ACME_KEY, &t1).await;
    assert_eq!(
        (code, &body["summary"]),
        (200, &json!({"accepted": 7, "replay": 0, "rejected": 0})),
        "{body}"
    );
    let (code, body) = hub
        .post(path, ACME_KEY, &status("ws-4", "T-1", "COMPLETED", "06:10"))
        .await;
    assert_eq!((code, body["status"].as_str()), (200, Some("REPLAY")));
    let mut no_doc = status("ws-8", "T-3", "ASSIGNED", "06:00");
    no_doc.as_object_mut().unwrap().remove("document_ref");
    assert_eq!(hub.post(path, ACME_KEY, &no_doc).await.0, 400);
    assert_eq!(
        hub.post(path, ACME_KEY, &status("ws-9", "T-3", "DONE", "06:00"))
            .await
            .0,
        400
    );
    assert_eq!(
        hub.post(
            path,
            ADMIN_KEY,
            &status("ws-10", "T-3", "ASSIGNED", "06:00")
        )
        .await
        .0,
        403
    );

    hub.wait_caught_up().await;
    let tasks = hub
        .admin_get("/planner/v1/documents/SHIPPER/SH-2026-000183/tasks")
        .await;
    let tasks = tasks["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        (
            tasks[0]["task_id"].as_str(),
            tasks[0]["status"].as_str(),
            tasks[0]["flagged"].as_i64()
        ),
        (Some("T-1"), Some("COMPLETED"), Some(1))
    );
    assert_eq!(
        (
            tasks[1]["task_id"].as_str(),
            tasks[1]["status"].as_str(),
            tasks[1]["flagged"].as_i64()
        ),
        (Some("T-2"), Some("ASSIGNED"), Some(1))
    );
    let one = hub
        .admin_get("/planner/v1/warehouses/WH-Tokyo-01/tasks/T-1")
        .await;
    let transitions: Vec<(&str, &str)> = one["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap(),
                h["transition"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        vec![
            ("ASSIGNED", "APPLIED"),
            ("ASSIGNED", "STALE"),
            ("IN_PROGRESS", "APPLIED"),
            ("COMPLETED", "APPLIED"),
            ("IN_PROGRESS", "AFTER_TERMINAL")
        ]
    );
    assert_eq!(one["task"]["worker_id"], "picker-7");
    // No ledger effect; rebuilding the projection gives the same tables.
    let ledger = hub.admin_get("/planner/v1/ledger/movements").await;
    assert_eq!(ledger["movements"].as_array().unwrap().len(), 0);
    let (code, report) = hub
        .post(
            "/planner/v1/projections/tasks/rebuild",
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        hub.admin_get("/planner/v1/warehouses/WH-Tokyo-01/tasks/T-1")
            .await,
        one
    );
    let missing = hub
        .client
        .get(format!(
            "{}/planner/v1/warehouses/WH-Tokyo-01/tasks/T-9",
            hub.http_url
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

fn snapshot(cid: &str, at: &str, workers: i64, conveyor: f64, wip_a: i64) -> Value {
    json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "occurred_at": format!("2026-11-21T{at}Z"),
           "active_workers": workers, "idle_robots": 2, "conveyor_utilization": conveyor, "wip_per_zone": {"A": wip_a, "B": 1}})
}

async fn capacity_feeds_trends_and_never_touches_inventory(db: Db) {
    let hub = Hub::start(db).await;
    assert_eq!(
        hub.movements(&movement(
            "cap-m1",
            "RECEIVE",
            "SKU-WIDGET-RED-LG",
            40,
            None,
            Some("A.12.3.1")
        ))
        .await
        .0,
        200
    );
    hub.wait_caught_up().await;
    let ledger_position = |status: &Value| {
        status["projections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "ledger")
            .unwrap()["partitions"]
            .clone()
    };
    let before = (
        hub.admin_get("/planner/v1/ledger/balances?limit=10000")
            .await,
        hub.admin_get("/planner/v1/ledger/movements?limit=10000")
            .await,
        ledger_position(&hub.admin_get("/planner/v1/projections").await),
    );

    let batch = json!([
        snapshot("cap-1", "06:00:00", 10, 0.5, 4),
        snapshot("cap-2", "06:02:00", 20, 0.7, 8),
        snapshot("cap-3", "06:07:30", 5, 0.1, 2),
    ]);
    let (code, body) = hub
        .post("/wes/v1/realtime/capacity", ACME_KEY, &batch)
        .await;
    assert_eq!(
        (code, &body["summary"]["accepted"]),
        (200, &json!(3)),
        "{body}"
    );
    assert_eq!(
        hub.post(
            "/wes/v1/realtime/capacity",
            ACME_KEY,
            &snapshot("cap-4", "06:00:00", 1, 1.5, 0)
        )
        .await
        .0,
        422
    );
    assert_eq!(
        hub.post(
            "/wes/v1/realtime/capacity",
            ACME_KEY,
            &snapshot("cap-5", "06:00:00", -1, 0.2, 0)
        )
        .await
        .0,
        422
    );
    hub.wait_caught_up().await;

    let after = (
        hub.admin_get("/planner/v1/ledger/balances?limit=10000")
            .await,
        hub.admin_get("/planner/v1/ledger/movements?limit=10000")
            .await,
        ledger_position(&hub.admin_get("/planner/v1/projections").await),
    );
    assert_eq!(
        after, before,
        "capacity changed no balance, no movement and not even the ledger's offsets"
    );

    let trends = hub
        .admin_get("/planner/v1/capacity/trends?warehouse_id=WH-Tokyo-01&from=2026-11-21T06:00:00Z&to=2026-11-21T07:00:00Z&bucket=5m")
        .await;
    let buckets = trends["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2, "{trends}");
    assert_eq!(buckets[0]["start"], "2026-11-21T06:00:00.000Z");
    assert_eq!(
        (
            buckets[0]["samples"].as_u64(),
            buckets[0]["active_workers_avg"].as_f64(),
            buckets[0]["active_workers_max"].as_i64()
        ),
        (Some(2), Some(15.0), Some(20))
    );
    assert_eq!(buckets[0]["wip_per_zone_avg"]["A"], 6.0);
    assert!((buckets[0]["conveyor_utilization_avg"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    assert_eq!(buckets[1]["start"], "2026-11-21T06:05:00.000Z");
    let bad = hub
        .client
        .get(format!("{}/planner/v1/capacity/trends?warehouse_id=WH-Tokyo-01&from=2026-11-21T06:00:00Z&to=2026-11-21T07:00:00Z&bucket=5x", hub.http_url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

/// Per-partner limits answer 429 with Retry-After and a problem; other partners are not affected.
#[tokio::test(flavor = "multi_thread")]
async fn a_partner_over_its_rate_limit_gets_429_with_retry_after() {
    let hub = Hub::start_with(
        Db::Sqlite,
        &[
            ("WES_RATE_LIMIT_PER_SEC", "0.2"),
            ("WES_RATE_LIMIT_BURST", "2"),
        ],
    )
    .await;
    let path = "/wes/v1/realtime/capacity";
    for n in 0..2 {
        assert_eq!(
            hub.post(
                path,
                ACME_KEY,
                &snapshot(&format!("rl-{n}"), "06:00:00", 1, 0.1, 0)
            )
            .await
            .0,
            200
        );
    }
    let response = hub
        .client
        .post(format!("{}{path}", hub.http_url))
        .bearer_auth(ACME_KEY)
        .json(&snapshot("rl-2", "06:00:00", 1, 0.1, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:wes:problem#rate-limited");
    let mut osaka = snapshot("rl-beta", "06:00:00", 1, 0.1, 0);
    osaka["warehouse_id"] = "WH-Osaka-02".into();
    assert_eq!(
        hub.post(path, BETA_KEY, &osaka).await.0,
        200,
        "another partner has its own bucket"
    );
    hub.wait_caught_up().await;
    let trends = hub
        .admin_get("/planner/v1/capacity/trends?warehouse_id=WH-Tokyo-01&from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&bucket=1d")
        .await;
    assert_eq!(
        trends["buckets"][0]["samples"], 2,
        "the limited request wrote nothing"
    );
}

/// A hung broker: requests fail within a bounded time with 503 + Retry-After, readiness says so,
/// and once the broker is back the retried items are applied exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_broker_gives_a_bounded_503_and_loses_nothing() {
    let hub = Hub::start(Db::Sqlite).await;
    assert_eq!(hub.movements(&receipts("before", 1)).await.0, 200);
    let batch = receipts("hung", 2);
    hub.signal_broker("STOP");
    let started = std::time::Instant::now();
    let response = post_movements(&hub, &batch).await;
    let elapsed = started.elapsed();
    let ready = hub
        .client
        .get(format!("{}/readyz", hub.http_url))
        .send()
        .await;
    hub.signal_broker("CONT");
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "answered after {elapsed:?}"
    );
    assert_unavailable(response).await;
    let ready = ready.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let checks: Value = ready.json().await.unwrap();
    assert_eq!(checks["checks"]["broker"], false);
    // The client retries the same batch once the broker is back: accepted (or replayed if the
    // first attempt reached the log after all), and each movement is in the ledger exactly once.
    retried_until_applied_once(&hub, &[&batch], 3).await;
}

fn receipts(prefix: &str, n: usize) -> Value {
    (0..n)
        .map(|i| {
            movement(
                &format!("{prefix}-{i}"),
                "RECEIVE",
                "SKU-WIDGET-RED-LG",
                1,
                None,
                Some("DOCK-3"),
            )
        })
        .collect()
}

/// Asserts a 503 problem with `Retry-After`; returns its detail.
async fn assert_unavailable(response: reqwest::Response) -> String {
    assert_eq!(response.status().as_u16(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:wes:problem#dependency-unavailable");
    problem["detail"].as_str().unwrap().to_owned()
}

async fn post_movements(hub: &Hub, body: &Value) -> reqwest::Response {
    hub.client
        .post(format!("{}/wes/v1/realtime/movements", hub.http_url))
        .bearer_auth(ACME_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Retries `body` until it is accepted, then checks every DOCK-3 receipt is in the ledger once.
async fn retried_until_applied_once(hub: &Hub, bodies: &[&Value], expected: i64) {
    for body in bodies {
        eventually(
            "the retried request is accepted once the dependency is back",
            std::time::Duration::from_secs(60),
            || async {
                let (status, reply) = hub.movements(body).await;
                (status == 200 && reply["summary"]["rejected"].as_u64().unwrap_or(0) == 0)
                    .then_some(())
            },
        )
        .await;
    }
    hub.wait_caught_up().await;
    assert_eq!(hub.balance("SKU-WIDGET-RED-LG", "DOCK-3").await, expected);
    let log = hub
        .admin_get("/planner/v1/ledger/movements?location=DOCK-3&limit=1000")
        .await;
    assert_eq!(log["movements"].as_array().unwrap().len() as i64, expected);
}

/// The database refuses connections: a bounded 503 + Retry-After, readiness says which dependency,
/// nothing is written; once it is back the retried request is applied exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_gives_a_bounded_503_and_loses_nothing() {
    let hub = Hub::start(Db::Postgres).await;
    let batch = receipts("db", 5);
    hub.set_database_accepting(false).await;
    let started = std::time::Instant::now();
    let response = post_movements(&hub, &batch).await;
    let elapsed = started.elapsed();
    let ready = hub
        .client
        .get(format!("{}/readyz", hub.http_url))
        .send()
        .await
        .unwrap();
    hub.set_database_accepting(true).await;
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "answered after {elapsed:?}"
    );
    assert!(assert_unavailable(response).await.contains("database"));
    assert_eq!(ready.status().as_u16(), 503);
    let checks: Value = ready.json().await.unwrap();
    assert_eq!(checks["checks"]["database"], false);
    retried_until_applied_once(&hub, &[&batch], 5).await;
}

/// The broker hangs with records queued: once the producer queue is full, a request is refused
/// with 503 at once instead of waiting; after the broker is back, retries apply everything once.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_producer_queue_answers_503_at_once_and_loses_nothing() {
    let hub = Hub::start_with(Db::Sqlite, &[("WES_PRODUCER_QUEUE_MAX", "10")]).await;
    let batch = receipts("qf", 40);
    let single = movement(
        "qf-single",
        "RECEIVE",
        "SKU-WIDGET-RED-LG",
        1,
        None,
        Some("DOCK-3"),
    );
    hub.signal_broker("STOP");
    // Ten records fill the queue and wait for the broker; the other thirty are refused.
    let filled = post_movements(&hub, &batch).await;
    let started = std::time::Instant::now();
    let refused = post_movements(&hub, &single).await;
    let elapsed = started.elapsed();
    hub.signal_broker("CONT");
    assert_unavailable(filled).await;
    assert!(
        elapsed < std::time::Duration::from_secs(3),
        "a full queue is refused at once, not after the delivery timeout ({elapsed:?})"
    );
    let detail = assert_unavailable(refused).await;
    assert!(detail.contains("queue"), "the problem says why: {detail}");
    retried_until_applied_once(&hub, &[&batch, &single], 41).await;
}

on_sqlite_and_postgres!(
    task_lifecycle_keeps_history_and_never_leaves_a_terminal_state,
    capacity_feeds_trends_and_never_touches_inventory
);
