//! Black-box tests of the exceptions endpoint, the supervisor queue and notifications, on SQLite
//! and PostgreSQL.

use serde_json::{Value, json};
use wes_events::Event;
use wes_tests::*;

const EXCEPTIONS: &str = "/wes/v1/realtime/exceptions";
const QUEUE: &str = "/planner/v1/supervisor/queue";

fn short_pick(cid: &str) -> Value {
    json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "code": "SHORT_PICK", "severity": "HIGH",
           "occurred_at": "2026-11-21T06:20:00Z", "sku": "SKU-WIDGET-RED-LG", "location": "A.12.3.1", "qty": 2,
           "document_ref": {"type": "SHIPPER", "id": "SH-2026-000183", "line_no": 1}, "message": "bin had 10, expected 12"})
}

fn robot_stuck(cid: &str) -> Value {
    json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "code": "ROBOT_STUCK", "severity": "URGENT",
           "occurred_at": "2026-11-21T07:00:00Z", "device_id": "AMR-17"})
}

async fn queue(hub: &Hub, query: &str) -> Vec<Value> {
    let (status, body) = hub
        .get(&format!("{QUEUE}{query}"), Some(SUPERVISOR_KEY))
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn exceptions_open_queue_entries_and_page_once(db: Db) {
    let hub = Hub::start(db).await;
    let mut unknown_sku = short_pick("ex-3");
    unknown_sku["sku"] = "SKU-NOPE".into();
    let (status, body) = hub
        .post(
            EXCEPTIONS,
            ACME_KEY,
            &json!([short_pick("ex-1"), robot_stuck("ex-2"), unknown_sku]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["summary"],
        json!({"accepted": 2, "replay": 0, "rejected": 1})
    );
    assert_eq!(body["results"][2]["problem"]["status"], 422);
    // A replay: no second entry, no second page.
    let (status, body) = hub.post(EXCEPTIONS, ACME_KEY, &short_pick("ex-1")).await;
    assert_eq!((status, body["replay"].as_bool()), (200, Some(true)));
    let mut changed = short_pick("ex-1");
    changed["qty"] = 3.into();
    assert_eq!(hub.post(EXCEPTIONS, ACME_KEY, &changed).await.0, 422);
    let mut bad_code = robot_stuck("ex-4");
    bad_code["code"] = "FIRE".into();
    assert_eq!(hub.post(EXCEPTIONS, ACME_KEY, &bad_code).await.0, 400);
    let mut other_warehouse = robot_stuck("ex-5");
    other_warehouse["warehouse_id"] = "WH-Osaka-02".into();
    let (status, body) = hub.post(EXCEPTIONS, ACME_KEY, &other_warehouse).await;
    assert_eq!(status, 403);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("#cross-warehouse-credential")
    );
    assert_eq!(
        hub.post(EXCEPTIONS, SUPERVISOR_KEY, &robot_stuck("ex-6"))
            .await
            .0,
        403,
        "supervisors do not report exceptions"
    );
    hub.wait_caught_up().await;

    // The queue: most severe first; filters narrow it.
    let entries = queue(&hub, "").await;
    let codes: Vec<&str> = entries
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ROBOT_STUCK", "SHORT_PICK"]);
    let pick = entries[1].clone();
    assert_eq!(
        (
            &pick["status"],
            &pick["sku"],
            &pick["qty"],
            &pick["document_ref"]["id"]
        ),
        (
            &json!("OPEN"),
            &json!("SKU-WIDGET-RED-LG"),
            &json!(2),
            &json!("SH-2026-000183")
        )
    );
    assert_eq!(queue(&hub, "?severity=HIGH").await.len(), 1);
    assert_eq!(queue(&hub, "?code=ROBOT_STUCK&status=OPEN").await.len(), 1);
    assert_eq!(
        queue(&hub, "?from=2026-11-21T06:00:00Z&to=2026-11-21T06:30:00Z")
            .await
            .len(),
        1
    );
    assert_eq!(
        queue(&hub, "?warehouse_id=WH-Tokyo-01&status=CLOSED")
            .await
            .len(),
        0
    );
    assert_eq!(
        hub.get(&format!("{QUEUE}?severity=BAD"), Some(SUPERVISOR_KEY))
            .await
            .0,
        400
    );
    // Its own credentials: not an admin's, not an executor's, not none; not another warehouse.
    assert_eq!(hub.get(QUEUE, Some(ADMIN_KEY)).await.0, 403);
    assert_eq!(hub.get(QUEUE, Some(ACME_KEY)).await.0, 403);
    assert_eq!(hub.get(QUEUE, None).await.0, 401);
    let (status, body) = hub
        .get(
            &format!("{QUEUE}?warehouse_id=WH-Osaka-02"),
            Some(SUPERVISOR_KEY),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // open -> acknowledged -> closed, each with who and when.
    let entry = format!("{QUEUE}/{}", pick["entry_id"].as_str().unwrap());
    let (status, body) = hub
        .post(
            &format!("{entry}/acknowledge"),
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ACKNOWLEDGED");
    assert_eq!(body["acknowledged"]["by"], "sup-anna");
    let (status, body) = hub
        .post(
            &format!("{entry}/acknowledge"),
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("#state-conflict"));
    assert_eq!(
        hub.post(
            &format!("{entry}/close"),
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna", "reason": " "})
        )
        .await
        .0,
        400,
        "closing needs a reason"
    );
    assert_eq!(
        hub.post(
            &format!("{entry}/close"),
            SUPERVISOR_KEY,
            &json!({"reason": "restocked"})
        )
        .await
        .0,
        400,
        "closing needs a supervisor id"
    );
    assert_eq!(
        hub.post(
            &format!("{entry}/close"),
            ADMIN_KEY,
            &json!({"supervisor_id": "x", "reason": "y"})
        )
        .await
        .0,
        403
    );
    let close = json!({"supervisor_id": "sup-ben", "reason": "bin restocked, short confirmed"});
    let (status, body) = hub
        .post(&format!("{entry}/close"), SUPERVISOR_KEY, &close)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CLOSED");
    assert_eq!(body["closed"]["by"], "sup-ben");
    assert_eq!(body["closed"]["reason"], "bin restocked, short confirmed");
    let steps: Vec<(&str, &str)> = body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("OPENED", "WH-Tokyo-01/AcmeWES"),
            ("ACKNOWLEDGED", "sup-anna"),
            ("CLOSED", "sup-ben")
        ]
    );
    assert_eq!(
        hub.post(&format!("{entry}/close"), SUPERVISOR_KEY, &close)
            .await
            .0,
        409
    );
    assert_eq!(
        hub.post(
            &format!("{QUEUE}/no-such-entry/close"),
            SUPERVISOR_KEY,
            &close
        )
        .await
        .0,
        404
    );
    // Closing straight from OPEN acknowledges implicitly.
    let urgent = format!("{QUEUE}/{}", entries[0]["entry_id"].as_str().unwrap());
    assert_eq!(
        hub.post(&format!("{urgent}/close"), SUPERVISOR_KEY, &close)
            .await
            .0,
        200
    );
    assert_eq!(queue(&hub, "?status=CLOSED").await.len(), 2);

    // Exactly one page per accepted exception, with its severity and entry id.
    let mut pages: Vec<(String, String)> = hub
        .read_topic("wes.notifications.v1")
        .await
        .into_iter()
        .map(|e| match e {
            Event::Notification(n) => (n.severity, n.source_id),
            other => panic!("not a notification: {other:?}"),
        })
        .collect();
    pages.sort();
    let mut expected = vec![
        (
            "HIGH".to_string(),
            pick["entry_id"].as_str().unwrap().to_string(),
        ),
        (
            "URGENT".to_string(),
            entries[0]["entry_id"].as_str().unwrap().to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(pages, expected);

    // The queue is a projection: rebuilt from the log it is the same, and it survives a restart.
    let before = hub.get(&entry, Some(SUPERVISOR_KEY)).await.1;
    let (status, report) = hub
        .post(
            "/planner/v1/projections/supervisor/rebuild",
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(hub.get(&entry, Some(SUPERVISOR_KEY)).await.1, before);
    let mut hub = hub;
    hub.restart().await;
    hub.wait_caught_up().await;
    assert_eq!(hub.get(&entry, Some(SUPERVISOR_KEY)).await.1, before);
    assert_eq!(queue(&hub, "").await.len(), 2);
}

on_sqlite_and_postgres!(exceptions_open_queue_entries_and_page_once);
