//! The confirmation path end to end (contract §4 and §5.1), on SQLite and PostgreSQL: shift
//! summaries against the realtime stream, discrepancies in the supervisor queue, resolution.

use serde_json::{Value, json};
use wes_events::Event;
use wes_tests::*;

const SHIFT_SUMMARY: &str = "/wes/v1/confirmation/shift-summary";

fn at(time: &str) -> String {
    format!("2026-11-21T{time}:00Z")
}

fn moved(
    cid: &str,
    kind: &str,
    qty: i64,
    from: Option<&str>,
    to: Option<&str>,
    time: &str,
) -> Value {
    let mut m = movement(cid, kind, "SKU-WIDGET-RED-LG", qty, from, to);
    m["occurred_at"] = at(time).into();
    m["document_ref"] = json!({"type": "SHIPPER", "id": "SH-2026-000183", "line_no": 1});
    m
}

fn line(kind: &str, qty: i64, from: Option<&str>, to: Option<&str>) -> Value {
    let mut l = json!({"sku": "SKU-WIDGET-RED-LG", "kind": kind, "qty": qty, "uom": "EA"});
    if let Some(f) = from {
        l["from_location"] = f.into();
    }
    if let Some(t) = to {
        l["to_location"] = t.into();
    }
    l
}

fn summary(cid: &str, start: &str, end: &str, totals: Value) -> Value {
    json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "window_start": at(start),
           "window_end": at(end), "totals": totals})
}

fn millis(instant: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(instant.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

async fn window(hub: &Hub, window_id: &str) -> Value {
    let (status, body) = hub
        .get(
            &format!("/planner/v1/windows/{window_id}"),
            Some(SUPERVISOR_KEY),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn the_outbound_flow_reconciles_and_a_discrepancy_is_resolved(db: Db) {
    let mut hub = Hub::start(db).await;
    let release = json!({"kind": "SHIPPER_RELEASED", "correlation_id": "cid-101", "warehouse_id": "WH-Tokyo-01",
        "document_ref": {"type": "SHIPPER", "id": "SH-2026-000183"},
        "routing": {"operations": [{"op_id": "1", "kind": "PICK", "sku": "SKU-WIDGET-RED-LG", "qty": 12, "from_location": "A.12.3.1"},
                                   {"op_id": "2", "kind": "SHIP", "dock": "DOCK-3"}]}});
    assert_eq!(
        hub.post("/planner/v1/releases", ADMIN_KEY, &release)
            .await
            .0,
        200
    );
    // Morning shift: PICK 12, a SHORT_PICK exception, SHIP 12.
    let morning = json!([
        moved(
            "cid-201",
            "PICK",
            12,
            Some("A.12.3.1"),
            Some("STAGING-OUT-3"),
            "06:10"
        ),
        moved("cid-202", "SHIP", 12, Some("STAGING-OUT-3"), None, "06:40"),
    ]);
    assert_eq!(hub.movements(&morning).await.0, 200);
    let exception = json!({"correlation_id": "cid-301", "warehouse_id": "WH-Tokyo-01", "code": "SHORT_PICK",
        "severity": "HIGH", "occurred_at": at("06:12"), "sku": "SKU-WIDGET-RED-LG", "location": "A.12.3.1", "qty": 1});
    assert_eq!(
        hub.post("/wes/v1/realtime/exceptions", ACME_KEY, &exception)
            .await
            .0,
        200
    );
    let matching = summary(
        "ss-morning",
        "06:00",
        "14:00",
        json!([
            line("PICK", 12, Some("A.12.3.1"), Some("STAGING-OUT-3")),
            line("SHIP", 12, Some("STAGING-OUT-3"), None)
        ]),
    );
    let (status, body) = hub.post(SHIFT_SUMMARY, ACME_KEY, &matching).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["window_status"]),
        (&json!("ACCEPTED"), &json!("RECONCILED"))
    );
    let morning_id = body["window_id"].as_str().unwrap().to_owned();
    let (status, body) = hub.post(SHIFT_SUMMARY, ACME_KEY, &matching).await;
    assert_eq!(
        (status, &body["replay"], &body["window_status"]),
        (200, &json!(true), &json!("RECONCILED"))
    );
    let mut other_key = matching.clone();
    other_key["correlation_id"] = "ss-other".into();
    let (status, body) = hub.post(SHIFT_SUMMARY, ACME_KEY, &other_key).await;
    assert_eq!(status, 409, "same window, another correlation_id: {body}");
    let mut reversed = matching.clone();
    reversed["correlation_id"] = "ss-reversed".into();
    reversed["window_end"] = at("05:00").into();
    assert_eq!(hub.post(SHIFT_SUMMARY, ACME_KEY, &reversed).await.0, 400);
    let mut unknown = summary(
        "ss-unknown",
        "22:00",
        "23:00",
        json!([line("SHIP", 1, Some("Z.9"), None)]),
    );
    assert_eq!(hub.post(SHIFT_SUMMARY, ACME_KEY, &unknown).await.0, 422);
    unknown["totals"] = json!([{"sku": "SKU-WIDGET-RED-LG", "kind": "SHIP", "from_location": "DOCK-3", "qty": 1, "uom": "CS"}]);
    assert_eq!(
        hub.post(SHIFT_SUMMARY, ACME_KEY, &unknown).await.0,
        422,
        "wrong UoM"
    );
    let detail = window(&hub, &morning_id).await;
    assert_eq!(detail["status"], "RECONCILED");
    // Ids need no escaping in a URL; the key text that was the id before still finds the window.
    assert!(
        morning_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{morning_id}"
    );
    let key_text = format!(
        "{}%7C{}%7C{}%7C{}",
        detail["partner_id"].as_str().unwrap().replace('/', "%2F"),
        detail["warehouse_id"].as_str().unwrap(),
        millis(&detail["window_start"]),
        millis(&detail["window_end"])
    );
    let (status, by_key_text) = hub
        .get(
            &format!("/planner/v1/windows/{key_text}"),
            Some(SUPERVISOR_KEY),
        )
        .await;
    assert_eq!(
        (status, &by_key_text["window_id"]),
        (200, &detail["window_id"]),
        "{by_key_text}"
    );
    assert_eq!(
        detail["exceptions"].as_array().unwrap().len(),
        1,
        "{detail}"
    );
    assert_eq!(detail["exceptions"][0]["code"], "SHORT_PICK");
    assert_eq!(detail["late_movements"], 0);

    // Afternoon shift: 5 picked and shipped in realtime, the executor confirms 4 shipped.
    let afternoon = json!([
        moved(
            "cid-211",
            "PICK",
            5,
            Some("A.12.3.1"),
            Some("STAGING-OUT-3"),
            "14:10"
        ),
        moved("cid-212", "SHIP", 5, Some("STAGING-OUT-3"), None, "14:40"),
    ]);
    assert_eq!(hub.movements(&afternoon).await.0, 200);
    let off = summary(
        "ss-afternoon",
        "14:00",
        "22:00",
        json!([
            line("PICK", 5, Some("A.12.3.1"), Some("STAGING-OUT-3")),
            line("SHIP", 4, Some("STAGING-OUT-3"), None)
        ]),
    );
    let (status, body) = hub.post(SHIFT_SUMMARY, ACME_KEY, &off).await;
    assert_eq!(
        (status, &body["window_status"]),
        (200, &json!("DISCREPANCY")),
        "{body}"
    );
    let afternoon_id = body["window_id"].as_str().unwrap().to_owned();
    hub.wait_caught_up().await;
    let staging_before = hub.balance("SKU-WIDGET-RED-LG", "STAGING-OUT-3").await;
    let detail = window(&hub, &afternoon_id).await;
    assert_eq!(detail["status"], "DISCREPANCY");
    let ship = detail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "SHIP")
        .unwrap()
        .clone();
    assert_eq!(
        (
            &ship["confirmed"],
            &ship["realtime"],
            &ship["delta"],
            &ship["matched"]
        ),
        (&json!(4), &json!(5), &json!(-1), &json!(false))
    );
    assert_eq!(detail["by_sku"]["SKU-WIDGET-RED-LG"]["delta"], -1);
    assert_eq!(detail["by_location"], json!({"STAGING-OUT-3": 1}));
    // The supervisor sees it in the queue, and a pager got an URGENT page.
    let (_, queue) = hub
        .get(
            "/planner/v1/supervisor/queue?source=WINDOW_DISCREPANCY",
            Some(SUPERVISOR_KEY),
        )
        .await;
    let entries = queue["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{queue}");
    assert_eq!(
        (&entries[0]["severity"], &entries[0]["status"]),
        (&json!("URGENT"), &json!("OPEN"))
    );
    let pages: Vec<String> = hub
        .read_topic("wes.notifications.v1")
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::Notification(n) if n.source == "WINDOW_DISCREPANCY" => Some(n.severity),
            _ => None,
        })
        .collect();
    assert_eq!(pages, ["URGENT"]);
    let (windows_status, windows) = hub
        .get(
            "/planner/v1/windows?status=DISCREPANCY",
            Some(SUPERVISOR_KEY),
        )
        .await;
    assert_eq!(windows_status, 200);
    assert_eq!(windows["windows"].as_array().unwrap().len(), 1);
    assert_eq!(
        hub.get("/planner/v1/windows", Some(ADMIN_KEY)).await.0,
        403,
        "windows need supervisor credentials"
    );

    let (status, body) = hub
        .post(
            &format!("/planner/v1/windows/{}/resolve", afternoon_id),
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna", "resolution": "manual-adjustment", "reason": "x",
                    "adjustments": [{"sku": "SKU-WIDGET-RED-LG", "location": "STAGING-OUT-3", "qty": 1}]}),
        )
        .await;
    assert_eq!(
        status, 422,
        "ADJUST lines cannot change a shift summary's totals: {body}"
    );
    // Resolution: accept the confirmation; the ledger follows it, the window is RECONCILED.
    let resolve = format!("/planner/v1/windows/{}/resolve", afternoon_id);
    assert_eq!(
        hub.post(
            &resolve,
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna", "resolution": "accept-confirmation"})
        )
        .await
        .0,
        400,
        "a reason is required"
    );
    let (status, body) = hub
        .post(
            &resolve,
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna", "resolution": "accept-confirmation",
                                               "reason": "dock scan shows 4 cartons left"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "RECONCILED");
    assert_eq!(body["resolution"]["resolved_by"], "sup-anna");
    assert_eq!(
        body["resolution"]["reason"],
        "dock scan shows 4 cartons left"
    );
    assert_eq!(body["compensating_movements"], 1);
    let (status, _) = hub
        .post(&resolve, SUPERVISOR_KEY, &json!({"supervisor_id": "sup-ben", "resolution": "accept-realtime", "reason": "again"}))
        .await;
    assert_eq!(status, 409, "a resolved window is not resolved again");
    hub.wait_caught_up().await;
    assert_eq!(
        hub.balance("SKU-WIDGET-RED-LG", "STAGING-OUT-3").await,
        staging_before + 1,
        "one unit the executor did not ship is back in staging"
    );
    let (_, queue) = hub
        .get(
            "/planner/v1/supervisor/queue?source=WINDOW_DISCREPANCY",
            Some(SUPERVISOR_KEY),
        )
        .await;
    assert_eq!(queue["entries"][0]["status"], "CLOSED");
    let resolutions: Vec<(Option<String>, Option<String>)> = hub
        .read_topic("wes.window.reconciled.v1")
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::WindowReconciled(d) if d.window_id == afternoon_id => {
                Some((d.resolved_by, d.resolution_reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        resolutions,
        [(
            Some("sup-anna".into()),
            Some("dock scan shows 4 cartons left".into())
        )]
    );

    // A movement of a decided window that arrives afterwards is counted late; the window stays.
    assert_eq!(
        hub.movements(&moved(
            "cid-221",
            "PICK",
            1,
            Some("A.12.3.1"),
            None,
            "15:00"
        ))
        .await
        .0,
        200
    );
    hub.wait_caught_up().await;
    let late = window(&hub, &afternoon_id).await;
    assert_eq!(
        (&late["late_movements"], &late["status"]),
        (&json!(1), &json!("RECONCILED"))
    );
    // ... and raises one supervisor-queue entry.
    let flagged = eventually(
        "the late movement raises a queue entry",
        std::time::Duration::from_secs(30),
        || async {
            let (_, queue) = hub
                .get(
                    "/planner/v1/supervisor/queue?source=LATE_MOVEMENT",
                    Some(SUPERVISOR_KEY),
                )
                .await;
            let entries = queue["entries"].as_array().cloned().unwrap_or_default();
            (!entries.is_empty()).then_some(entries)
        },
    )
    .await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        (&flagged[0]["correlation_id"], &flagged[0]["severity"]),
        (&json!("cid-221"), &json!("HIGH"))
    );

    // The windows are a projection of the log: rebuilt, and after a restart, they are the same.
    let before = (
        window(&hub, &morning_id).await,
        window(&hub, &afternoon_id).await,
    );
    for name in ["windows", "supervisor"] {
        let (status, report) = hub
            .post(
                &format!("/planner/v1/projections/{name}/rebuild"),
                ADMIN_KEY,
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{report}");
    }
    assert_eq!(
        (
            window(&hub, &morning_id).await,
            window(&hub, &afternoon_id).await
        ),
        before
    );
    hub.restart().await;
    hub.wait_caught_up().await;
    assert_eq!(
        (
            window(&hub, &morning_id).await,
            window(&hub, &afternoon_id).await
        ),
        before
    );
    // The window watcher is a reactor with its own position: neither the rebuilds nor the restart
    // made it flag the late movement again.
    let flags = hub.read_topic("wes.window.late-movements.v1").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
}

fn stock(sku: &str, location: &str, lot: Option<&str>, qty: i64) -> Value {
    let mut l = json!({"sku": sku, "location": location, "qty": qty});
    if let Some(lot) = lot {
        l["lot"] = lot.into();
    }
    l
}

async fn resolve(hub: &Hub, window_id: &str, resolution: &str) -> Value {
    let (status, body) = hub
        .post(
            &format!("/planner/v1/windows/{}/resolve", window_id),
            SUPERVISOR_KEY,
            &json!({"supervisor_id": "sup-anna", "resolution": resolution, "reason": "counted twice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn the_inbound_flow_reconciles_against_counts_and_snapshots(db: Db) {
    let hub = Hub::start(db).await;
    let release = json!({"kind": "RECEIVER_EXPECTED", "correlation_id": "cid-401", "warehouse_id": "WH-Tokyo-01",
        "document_ref": {"type": "RECEIVER", "id": "RC-2026-000042"},
        "routing": {"operations": [{"op_id": "1", "kind": "RECEIVE", "to_location": "RECV-1"}, {"op_id": "2", "kind": "PUT", "to_location": "B.01.1.1"}]},
        "lines": [{"line_no": 1, "sku": "SKU-WIDGET-RED-LG", "qty": 20}, {"line_no": 2, "sku": "SKU-GADGET-BLU", "qty": 5, "lot": "L-7"}]});
    assert_eq!(
        hub.post("/planner/v1/releases", ADMIN_KEY, &release)
            .await
            .0,
        200
    );
    // RECEIVE per pallet at the dock, then put away to the bin (a MOVE from the dock).
    let mut gadget = movement(
        "rcv-3",
        "RECEIVE",
        "SKU-GADGET-BLU",
        5,
        None,
        Some("RECV-1"),
    );
    gadget["lot"] = "L-7".into();
    let mut gadget_away = movement(
        "put-2",
        "MOVE",
        "SKU-GADGET-BLU",
        5,
        Some("RECV-1"),
        Some("B.01.1.1"),
    );
    gadget_away["lot"] = "L-7".into();
    let inbound = json!([
        movement(
            "rcv-1",
            "RECEIVE",
            "SKU-WIDGET-RED-LG",
            10,
            None,
            Some("RECV-1")
        ),
        movement(
            "rcv-2",
            "RECEIVE",
            "SKU-WIDGET-RED-LG",
            10,
            None,
            Some("RECV-1")
        ),
        gadget,
        movement(
            "put-1",
            "MOVE",
            "SKU-WIDGET-RED-LG",
            20,
            Some("RECV-1"),
            Some("B.01.1.1")
        ),
        gadget_away,
    ]);
    let (status, body) = hub.movements(&inbound).await;
    assert_eq!(
        (status, &body["summary"]["accepted"]),
        (200, &json!(5)),
        "{body}"
    );
    let damaged = json!({"correlation_id": "cid-402", "warehouse_id": "WH-Tokyo-01", "code": "DAMAGED_PRODUCT",
        "severity": "MEDIUM", "occurred_at": at("06:30"), "sku": "SKU-WIDGET-RED-LG", "location": "B.01.1.1", "qty": 1});
    assert_eq!(
        hub.post("/wes/v1/realtime/exceptions", ACME_KEY, &damaged)
            .await
            .0,
        200
    );

    // A FULL snapshot that matches the ledger as of 09:00.
    let snapshot = |cid: &str, start: &str, end: &str, as_of: &str, quantities: Value| {
        json!({"correlation_id": cid, "warehouse_id": "WH-Tokyo-01", "window_start": at(start), "window_end": at(end),
               "scope": "FULL", "as_of": at(as_of), "quantities": quantities})
    };
    let matching = snapshot(
        "snap-1",
        "06:00",
        "14:00",
        "09:00",
        json!([
            stock("SKU-WIDGET-RED-LG", "B.01.1.1", None, 20),
            stock("SKU-GADGET-BLU", "B.01.1.1", Some("L-7"), 5)
        ]),
    );
    let (status, body) = hub
        .post(
            "/wes/v1/confirmation/inventory-snapshot",
            ACME_KEY,
            &matching,
        )
        .await;
    assert_eq!(
        (status, &body["window_status"]),
        (200, &json!("RECONCILED")),
        "{body}"
    );
    let detail = window(&hub, body["window_id"].as_str().unwrap()).await;
    assert_eq!(detail["exceptions"][0]["code"], "DAMAGED_PRODUCT");
    let mut no_lot = matching.clone();
    no_lot["correlation_id"] = "snap-bad".into();
    no_lot["window_start"] = at("15:00").into();
    no_lot["window_end"] = at("16:00").into();
    no_lot["as_of"] = at("15:30").into();
    no_lot["quantities"] = json!([stock("SKU-GADGET-BLU", "B.01.1.1", None, 5)]);
    assert_eq!(
        hub.post("/wes/v1/confirmation/inventory-snapshot", ACME_KEY, &no_lot)
            .await
            .0,
        422
    );
    let mut outside = no_lot.clone();
    outside["quantities"] = json!([]);
    outside["as_of"] = at("05:00").into();
    assert_eq!(
        hub.post(
            "/wes/v1/confirmation/inventory-snapshot",
            ACME_KEY,
            &outside
        )
        .await
        .0,
        422
    );

    // A cycle count finds one widget short (the damaged one): DISCREPANCY, accepted.
    let count = json!({"correlation_id": "cc-1", "warehouse_id": "WH-Tokyo-01", "window_start": at("14:00"),
                       "window_end": at("22:00"), "counts": [stock("SKU-WIDGET-RED-LG", "B.01.1.1", None, 19)]});
    let (status, body) = hub
        .post("/wes/v1/confirmation/cycle-count", ACME_KEY, &count)
        .await;
    assert_eq!(
        (status, &body["window_status"]),
        (200, &json!("DISCREPANCY")),
        "{body}"
    );
    let count_id = body["window_id"].as_str().unwrap().to_owned();
    let detail = window(&hub, &count_id).await;
    assert_eq!(
        detail["lines"].as_array().unwrap().len(),
        1,
        "a cycle count compares what it counted"
    );
    assert_eq!(
        (
            &detail["lines"][0]["confirmed"],
            &detail["lines"][0]["realtime"]
        ),
        (&json!(19), &json!(20))
    );
    let resolved = resolve(&hub, &count_id, "accept-confirmation").await;
    assert_eq!(resolved["status"], "RECONCILED");
    hub.wait_caught_up().await;
    assert_eq!(hub.balance("SKU-WIDGET-RED-LG", "B.01.1.1").await, 19);

    // A FULL snapshot that lacks the widgets flags them; accepting realtime changes nothing.
    let lacking = snapshot(
        "snap-2",
        "22:00",
        "23:00",
        "22:30",
        json!([stock("SKU-GADGET-BLU", "B.01.1.1", Some("L-7"), 5)]),
    );
    let (status, body) = hub
        .post(
            "/wes/v1/confirmation/inventory-snapshot",
            ACME_KEY,
            &lacking,
        )
        .await;
    assert_eq!(
        (status, &body["window_status"]),
        (200, &json!("DISCREPANCY")),
        "{body}"
    );
    let lacking_id = body["window_id"].as_str().unwrap().to_owned();
    let detail = window(&hub, &lacking_id).await;
    let flagged: Vec<(&Value, &Value)> = detail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["matched"] == false)
        .map(|l| (&l["sku"], &l["realtime"]))
        .collect();
    assert_eq!(flagged, [(&json!("SKU-WIDGET-RED-LG"), &json!(19))]);
    let resolved = resolve(&hub, &lacking_id, "accept-realtime").await;
    assert_eq!(
        (&resolved["status"], &resolved["compensating_movements"]),
        (&json!("RECONCILED"), &json!(0))
    );
    hub.wait_caught_up().await;
    assert_eq!(hub.balance("SKU-WIDGET-RED-LG", "B.01.1.1").await, 19);

    // Manual adjustment: the supervisor's ADJUST lines must make the count match, or nothing is
    // written; then reconciliation runs again and the window is RECONCILED.
    let count = json!({"correlation_id": "cc-2", "warehouse_id": "WH-Tokyo-01", "window_start": at("23:00"),
                       "window_end": at("23:30"), "counts": [stock("SKU-GADGET-BLU", "B.01.1.1", Some("L-7"), 4)]});
    let (status, body) = hub
        .post("/wes/v1/confirmation/cycle-count", ACME_KEY, &count)
        .await;
    assert_eq!(
        (status, &body["window_status"]),
        (200, &json!("DISCREPANCY")),
        "{body}"
    );
    let manual_path = format!(
        "/planner/v1/windows/{}/resolve",
        body["window_id"].as_str().unwrap()
    );
    let manual = |qty: i64| {
        json!({"supervisor_id": "sup-ben", "resolution": "manual-adjustment", "reason": "one gadget scrapped",
               "adjustments": [{"sku": "SKU-GADGET-BLU", "location": "B.01.1.1", "lot": "L-7", "qty": qty}]})
    };
    let (status, body) = hub.post(&manual_path, SUPERVISOR_KEY, &manual(-2)).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = hub.post(&manual_path, SUPERVISOR_KEY, &manual(-1)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["resolution"]["resolution"]),
        (&json!("RECONCILED"), &json!("MANUAL_ADJUSTMENT"))
    );
    hub.wait_caught_up().await;
    let gadgets = hub
        .admin_get("/planner/v1/ledger/balances?warehouse_id=WH-Tokyo-01&sku=SKU-GADGET-BLU&location=B.01.1.1")
        .await;
    assert_eq!(
        gadgets["balances"][0]["qty"], 4,
        "only the accepted adjustment was written: {gadgets}"
    );
}

on_sqlite_and_postgres!(
    the_outbound_flow_reconciles_and_a_discrepancy_is_resolved,
    the_inbound_flow_reconciles_against_counts_and_snapshots
);
