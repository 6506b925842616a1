//! Dispatch rules (contract §2): one live release per document, cancellations that name their own
//! release once, amendment as CANCELLED + fresh release — through the real broker.

use serde_json::{Value, json};
use std::time::Duration;
use wes_tests::*;

const RELEASES: &str = "/planner/v1/releases";

fn release(cid: &str, document: &str) -> Value {
    json!({"kind": "SHIPPER_RELEASED", "correlation_id": cid, "planner_id": "fgai-wms", "warehouse_id": "WH-Tokyo-01",
           "document_ref": {"type": "SHIPPER", "id": document},
           "routing": {"ops": [{"op_id": "op-1", "kind": "PICK", "sku": "SKU-WIDGET-RED-LG", "qty": 12, "from_location": "A.12.3.1"}]},
           "meta": {"priority": "NORMAL"}})
}

fn cancel(cid: &str, of: &str, warehouse: &str, document: &str) -> Value {
    json!({"kind": "CANCELLED", "correlation_id": cid, "planner_id": "fgai-wms", "warehouse_id": warehouse,
           "document_ref": {"type": "SHIPPER", "id": document}, "cancelled_correlation_id": of})
}

/// The dispatch projection's rows of a document, in log order: (correlation id, kind, cancelled by).
async fn dispatched(hub: &Hub, document: &str) -> Vec<(String, String, Option<String>)> {
    let listed = hub
        .admin_get(&format!("{RELEASES}?document_id={document}"))
        .await;
    listed["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                r["correlation_id"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
                r["cancelled_by"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn the_rules_of_releases_and_cancellations_hold(db: Db) {
    let hub = Hub::start(db).await;
    let post = |body: Value| {
        let hub = &hub;
        async move { hub.post(RELEASES, ADMIN_KEY, &body).await }
    };
    assert_eq!(post(release("r1", "SH-1")).await.0, 200);
    let operations = eventually("r1 is projected", Duration::from_secs(10), || async {
        let listed = hub.admin_get(&format!("{RELEASES}?document_id=SH-1")).await;
        listed["releases"][0]["operations"].as_i64()
    })
    .await;
    assert_eq!(
        operations, 1,
        "`routing.ops`, the contract's name, carries them"
    );
    // A second release of a document with a live release: 409, naming the live one.
    let (status, problem) = post(release("r2", "SH-1")).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("r1"),
        "{problem}"
    );
    let mut unnamed = release("x", "SH-1");
    unnamed.as_object_mut().unwrap().remove("correlation_id");
    assert_eq!(post(unnamed).await.0, 409, "an assigned correlation id too");
    assert_eq!(
        post(release("r1", "SH-1")).await.0,
        200,
        "the same again replays"
    );

    // A CANCELLED names a release of its own warehouse and document.
    let (status, problem) = post(cancel("c1", "r1", "WH-Tokyo-01", "SH-2")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "/cancelled_correlation_id");
    assert_eq!(
        post(cancel("c1", "r1", "WH-Osaka-02", "SH-1")).await.0,
        422,
        "another warehouse: it would reach another executor"
    );
    let (status, answer) = post(cancel("c1", "r1", "WH-Tokyo-01", "SH-1")).await;
    assert_eq!((status, &answer["status"]), (200, &json!("ACCEPTED")));
    let (status, answer) = post(cancel("c1", "r1", "WH-Tokyo-01", "SH-1")).await;
    assert_eq!((status, &answer["status"]), (200, &json!("REPLAY")));
    let (status, problem) = post(cancel("c2", "r1", "WH-Tokyo-01", "SH-1")).await;
    assert_eq!(status, 409, "a second CANCELLED of one release: {problem}");
    assert_eq!(
        post(cancel("c3", "c1", "WH-Tokyo-01", "SH-1")).await.0,
        422,
        "a cancellation is not cancelled"
    );
    // Cancelled, the document takes a fresh release; r1 again is still a replay.
    assert_eq!(post(release("r2", "SH-1")).await.0, 200);
    let (status, answer) = post(release("r1", "SH-1")).await;
    assert_eq!((status, &answer["status"]), (200, &json!("REPLAY")));
    // Lines of one document are documents of their own.
    let line = |cid: &str, line_no: i64| {
        let mut r = release(cid, "SH-L");
        r["document_ref"]["line_no"] = json!(line_no);
        r
    };
    assert_eq!(post(line("l1", 1)).await.0, 200);
    assert_eq!(post(line("l2", 2)).await.0, 200);
    assert_eq!(post(line("l3", 1)).await.0, 409);

    // Amend: the CANCELLED and the fresh release, in that order; a retry replays both.
    let amend = "/planner/v1/releases/r2/amend";
    let mut amended = release("r3", "SH-1");
    amended["meta"]["priority"] = json!("URGENT");
    let (status, answer) = hub.post(amend, ADMIN_KEY, &amended).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["cancellation"]["status"], "ACCEPTED");
    assert_eq!(
        (
            &answer["release"]["correlation_id"],
            &answer["release"]["status"]
        ),
        (&json!("r3"), &json!("ACCEPTED"))
    );
    let (status, again) = hub.post(amend, ADMIN_KEY, &amended).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            &again["cancellation"]["status"],
            &again["release"]["status"]
        ),
        (&json!("REPLAY"), &json!("REPLAY"))
    );
    // An amendment that breaks a rule appends nothing: r3 stays live.
    let mut broken = release("r4", "SH-1");
    broken["routing"]["ops"][0]["sku"] = json!("SKU-NOPE");
    let (status, problem) = hub
        .post("/planner/v1/releases/r3/amend", ADMIN_KEY, &broken)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        hub.post(
            "/planner/v1/releases/r1/amend",
            ADMIN_KEY,
            &release("r5", "SH-1")
        )
        .await
        .0,
        409,
        "r1 was cancelled already"
    );
    assert_eq!(
        hub.post(
            "/planner/v1/releases/nope/amend",
            ADMIN_KEY,
            &release("r6", "SH-1")
        )
        .await
        .0,
        404
    );
    let (status, problem) = hub
        .post(
            "/planner/v1/releases/r3/amend",
            ADMIN_KEY,
            &release("r3", "SH-1"),
        )
        .await;
    assert_eq!(
        (status, &problem["field"]),
        (422, &json!("/correlation_id"))
    );
    let (status, problem) = hub
        .post(
            "/planner/v1/releases/r3/amend",
            ADMIN_KEY,
            &release("r6", "SH-2"),
        )
        .await;
    assert_eq!((status, &problem["field"]), (422, &json!("/document_ref")));
    // A batch item refused at its key (c1 was used for another payload) admits nothing, so the
    // release after it still meets r3's live release.
    let (status, answer) = hub
        .post(
            RELEASES,
            ADMIN_KEY,
            &json!([
                cancel("c1", "r3", "WH-Tokyo-01", "SH-1"),
                release("r7", "SH-1")
            ]),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["problem"]["status"], 422, "{answer}");
    assert_eq!(answer["results"][1]["problem"]["status"], 409, "{answer}");

    let rows = dispatched(&hub, "SH-1").await;
    let by_id = |id: &str| rows.iter().find(|(cid, _, _)| cid == id).cloned();
    assert_eq!(by_id("r1").unwrap().2.as_deref(), Some("c1"));
    let r2_cancelled_by = by_id("r2")
        .unwrap()
        .2
        .expect("r2 was cancelled by the amendment");
    assert_eq!(by_id("r3").unwrap().2, None, "r3 is the live release");
    assert_eq!(
        rows.iter()
            .filter(|(_, kind, _)| kind != "CANCELLED")
            .count(),
        3,
        "r1, r2, r3 and nothing of r4 … r7: {rows:?}"
    );
    let offsets = hub.admin_get(&format!("{RELEASES}?document_id=SH-1")).await;
    let at = |id: &str| {
        offsets["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["correlation_id"] == id)
            .map(|r| (r["kafka_partition"].as_i64(), r["kafka_offset"].as_i64()))
            .unwrap()
    };
    let (cancel_partition, cancel_offset) = at(&r2_cancelled_by);
    let (fresh_partition, fresh_offset) = at("r3");
    assert_eq!(cancel_partition, fresh_partition, "one partition");
    assert!(cancel_offset < fresh_offset, "the CANCELLED first");
}

/// Concurrent releases of one document: exactly one is accepted.
async fn concurrent_releases_of_one_document_accept_one(db: Db) {
    let hub = Hub::start(db).await;
    let answers = futures::future::join_all((0..8).map(|i| {
        let body = release(&format!("race-{i}"), "SH-RACE");
        let hub = &hub;
        async move { hub.post(RELEASES, ADMIN_KEY, &body).await.0 }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 409).count(),
        7,
        "{answers:?}"
    );
    let live: Vec<_> = dispatched(&hub, "SH-RACE").await;
    assert_eq!(live.len(), 1, "{live:?}");
}

on_sqlite_and_postgres!(
    the_rules_of_releases_and_cancellations_hold,
    concurrent_releases_of_one_document_accept_one
);
