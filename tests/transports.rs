//! Dispatch transports (contract §2): one per warehouse, a sealed webhook secret, and poll-mode
//! dispatch with cursors and acks; the contract's example payload delivered verbatim on Kafka
//! and by polling — through the real broker, registry and database.

use serde_json::{Value, json};
use std::time::Duration;
use wes_tests::*;

const TOKYO: &str = "/planner/v1/warehouses/WH-Tokyo-01/dispatch-transport";
const OSAKA: &str = "/planner/v1/warehouses/WH-Osaka-02/dispatch-transport";
const PENDING: &str = "/wes/v1/dispatch/pending";
const ACK: &str = "/wes/v1/dispatch/ack";
const SECRET: &str = "s3cret-0123456789-abcdef";

/// The contract's own example (wes-contract.md §2), with unknown optional fields at every level.
fn seed_release() -> Value {
    json!({"kind": "SHIPPER_RELEASED", "correlation_id": "01J7Y6K1NQ3W2C0X4V0R5T6E7N", "planner_id": "fgai-wms",
     "warehouse_id": "WH-Tokyo-01", "document_ref": {"type": "SHIPPER", "id": "SH-2026-000183"},
     "routing": {"ops": [
       {"op_id": "op-1", "kind": "PICK", "sku": "SKU-WIDGET-RED-LG", "qty": 12, "from_location": "A.12.3.1"},
       {"op_id": "op-2", "kind": "PACK", "carton": "CTN-S"},
       {"op_id": "op-3", "kind": "SHIP", "dock": "DOCK-3"}],
      "expected_duration_seconds": 420, "zone": "Z-1"},
     "meta": {"released_at": "2026-05-24T03:14:01Z", "priority": "NORMAL", "wave": {"id": "W-7", "seq": 3}},
     "customer_ref": "PO-77"})
}

fn osaka_release(cid: &str) -> Value {
    json!({"kind": "RECEIVER_EXPECTED", "correlation_id": cid, "warehouse_id": "WH-Osaka-02",
           "document_ref": {"type": "RECEIVER", "id": format!("RCV-{cid}")},
           "routing": {"operations": [{"op_id": "1", "kind": "RECEIVE", "to_location": "DOCK-1"}]},
           "meta": {"priority": "HIGH"}})
}

async fn one_warehouse_has_one_transport_and_its_secret_stays_sealed(db: Db) {
    let hub = Hub::start(db).await;
    // The demo configured Tokyo for KAFKA and Osaka for POLLING.
    let (status, tokyo) = hub.get(TOKYO, Some(ADMIN_KEY)).await;
    assert_eq!(
        (status, &tokyo["transport"]),
        (200, &json!("KAFKA")),
        "{tokyo}"
    );
    let kafka = json!({"transport": "KAFKA", "partner_id": "WH-Tokyo-01/AcmeWES"});
    let (status, answer) = hub.put(TOKYO, ADMIN_KEY, &kafka).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("UNCHANGED")),
        "{answer}"
    );
    let webhook = json!({"transport": "WEBHOOK", "partner_id": "WH-Tokyo-01/AcmeWES",
                         "url": "http://127.0.0.1:9/hook", "secret": SECRET});
    let (status, problem) = hub.put(TOKYO, ADMIN_KEY, &webhook).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("KAFKA"),
        "the problem names the transport in place: {problem}"
    );
    // Bad input changes nothing.
    for (bad, status) in [
        (
            json!({"transport": "WEBHOOK", "partner_id": "WH-Tokyo-01/AcmeWES"}),
            400,
        ),
        (
            json!({"transport": "PIGEON", "partner_id": "WH-Tokyo-01/AcmeWES"}),
            400,
        ),
        (
            json!({"transport": "KAFKA", "partner_id": "WH-Osaka-02/BetaWES"}),
            422,
        ),
    ] {
        assert_eq!(hub.put(TOKYO, ADMIN_KEY, &bad).await.0, status, "{bad}");
    }
    assert_eq!(
        hub.put(
            "/planner/v1/warehouses/WH-Nowhere/dispatch-transport",
            ADMIN_KEY,
            &kafka
        )
        .await
        .0,
        422
    );
    assert_eq!(hub.get(TOKYO, Some(ACME_KEY)).await.0, 403, "admin only");

    // Remove, then configure a webhook: the secret is never shown, nor kept in clear.
    assert_eq!(hub.delete(TOKYO, ADMIN_KEY).await, 200);
    assert_eq!(hub.get(TOKYO, Some(ADMIN_KEY)).await.0, 404);
    assert_eq!(hub.delete(TOKYO, ADMIN_KEY).await, 404);
    let (status, configured) = hub.put(TOKYO, ADMIN_KEY, &webhook).await;
    assert_eq!(
        (status, &configured["outcome"]),
        (200, &json!("CONFIGURED")),
        "{configured}"
    );
    let (_, shown) = hub.get(TOKYO, Some(ADMIN_KEY)).await;
    assert_eq!(shown["secret_set"], true);
    assert!(!shown.to_string().contains(SECRET), "{shown}");
    assert_eq!(
        hub.put(TOKYO, ADMIN_KEY, &webhook).await.1["outcome"],
        "UNCHANGED",
        "the same body again"
    );
    let mut moved = webhook.clone();
    moved["url"] = json!("http://127.0.0.1:9/hook/v2");
    assert_eq!(
        hub.put(TOKYO, ADMIN_KEY, &moved).await.1["outcome"],
        "UPDATED"
    );
    let mut other_secret = moved.clone();
    other_secret["secret"] = json!("another-secret-0123456789");
    let (status, problem) = hub.put(TOKYO, ADMIN_KEY, &other_secret).await;
    assert_eq!(
        (status, &problem["field"]),
        (409, &json!("/secret")),
        "{problem}"
    );
    // A secret changes by rotation (the previous one stays for the overlap).
    let rotate = format!("{TOKYO}/rotate-secret");
    let new_secret = json!({"secret": "another-secret-0123456789"});
    let (status, rotated) = hub.post(&rotate, ADMIN_KEY, &new_secret).await;
    assert_eq!(
        (status, &rotated["rotated"]),
        (200, &json!(true)),
        "{rotated}"
    );
    assert!(rotated["transport"]["rotated_at"].is_string(), "{rotated}");
    assert_eq!(
        hub.post(&rotate, ADMIN_KEY, &new_secret).await.1["rotated"],
        false
    );
    assert_eq!(
        hub.put(TOKYO, ADMIN_KEY, &other_secret).await.1["outcome"],
        "UNCHANGED"
    );
    assert_eq!(
        hub.post(&rotate, ADMIN_KEY, &json!({"secret": "short"}))
            .await
            .0,
        400
    );
    let osaka_rotate = format!("{OSAKA}/rotate-secret");
    assert_eq!(
        hub.post(&osaka_rotate, ADMIN_KEY, &new_secret).await.0,
        409,
        "a POLLING transport has no secret"
    );
    let (_, shown) = hub.get(TOKYO, Some(ADMIN_KEY)).await;
    assert_eq!(shown["url"], "http://127.0.0.1:9/hook/v2");
    assert_eq!(
        shown["starts_at"], configured["transport"]["starts_at"],
        "an update keeps the position"
    );
    let on_topic = hub
        .read_topic(wes_events::catalog::topics::DISPATCH_TRANSPORTS)
        .await;
    let text = format!("{on_topic:?}");
    assert!(text.contains("sealed_secret: Some(\"v1."), "{text}");
    assert!(
        !text.contains(SECRET) && !text.contains("another-secret"),
        "the topic holds the secrets sealed only"
    );
    let key_file = hub.data_dir.path().join("secrets.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().len(), 64);
}

/// The events of a page, by correlation id.
fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|e| e["correlation_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn poll_mode_serves_pages_until_acked(db: Db) {
    let mut hub = Hub::start(db).await;
    let post = |body: Value| {
        let hub = &hub;
        async move { hub.post("/planner/v1/releases", ADMIN_KEY, &body).await }
    };
    // A release appended before the transport was (re)configured is not its to deliver.
    assert_eq!(hub.delete(OSAKA, ADMIN_KEY).await, 200);
    assert_eq!(post(osaka_release("before")).await.0, 200);
    let polling = json!({"transport": "POLLING", "partner_id": "WH-Osaka-02/BetaWES"});
    assert_eq!(
        hub.put(OSAKA, ADMIN_KEY, &polling).await.1["outcome"],
        "CONFIGURED"
    );
    for cid in ["p1", "p2", "p3"] {
        assert_eq!(post(osaka_release(cid)).await.0, 200);
    }
    let page = |query: String| {
        let hub = &hub;
        async move { hub.get(&format!("{PENDING}{query}"), Some(BETA_KEY)).await }
    };
    let all = eventually(
        "three releases to poll",
        Duration::from_secs(10),
        || async {
            let (status, all) = page(String::new()).await;
            assert_eq!(status, 200, "{all}");
            (ids(&all).len() == 3).then_some(all)
        },
    )
    .await;
    assert_eq!(
        ids(&all),
        ["p1", "p2", "p3"],
        "in log order, from the transport's start"
    );
    let (_, first) = page("?limit=2".into()).await;
    assert_eq!(ids(&first), ["p1", "p2"]);
    assert_eq!(
        first["events"][0]["meta"]["priority"], "HIGH",
        "the envelope, as sent"
    );
    assert!(first["events"][0]["routing"]["ops"].is_array(), "{first}");
    let c2 = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        page("?limit=2".into()).await.1,
        first,
        "no ack: the same page"
    );
    let (_, after_c2) = page(format!("?since={c2}")).await;
    assert_eq!(ids(&after_c2), ["p3"]);

    // The ack matrix.
    let ack = |cursor: &str| {
        let hub = &hub;
        let body = json!({"cursor": cursor});
        async move { hub.post(ACK, BETA_KEY, &body).await }
    };
    let (status, answer) = ack(&c2).await;
    assert_eq!(
        (status, &answer["advanced"]),
        (200, &json!(true)),
        "{answer}"
    );
    let (status, answer) = ack(&c2).await;
    assert_eq!(
        (status, &answer["advanced"], &answer["replay"]),
        (200, &json!(false), &json!(true)),
        "the same cursor: a no-op"
    );
    let (_, rest) = page(String::new()).await;
    assert_eq!(ids(&rest), ["p3"], "after the ack");
    let c3 = rest["next_cursor"].as_str().unwrap().to_owned();
    let c1 = cursor_of(&hub, "p1").await;
    let (_, after_c1) = page(format!("?limit=1&since={c1}")).await;
    assert_eq!(
        ids(&after_c1),
        ["p2"],
        "any cursor given out can be read after"
    );
    assert_eq!(ack(&c1).await.0, 409, "behind the acknowledged position");
    let before = cursor_of(&hub, "before").await;
    assert_eq!(
        ack(&before).await.0,
        404,
        "not a cursor this transport gave out"
    );
    assert_eq!(ack("not-a-cursor").await.0, 404);
    assert_eq!(ack("00000000000000ffffff").await.0, 404);
    assert_eq!(hub.post(ACK, BETA_KEY, &json!({})).await.0, 400);
    let (status, problem) = ack("").await;
    assert_eq!(
        (status, &problem["field"]),
        (400, &json!("/cursor")),
        "an empty page's cursor"
    );
    let extra = json!({"cursor": c2, "extra": 1});
    assert_eq!(hub.post(ACK, BETA_KEY, &extra).await.1["field"], "/extra");
    let two_warehouses = json!({"cursor": c2, "warehouse_id": "WH-Osaka-02"});
    assert_eq!(
        hub.post(
            &format!("{ACK}?warehouse_id=WH-Tokyo-01"),
            BETA_KEY,
            &two_warehouses
        )
        .await
        .0,
        400
    );
    for (bad, status, field) in [
        ("?limit=0", 400, "/limit"),
        ("?limit=abc", 400, "/limit"),
        ("?limit=101", 400, "/limit"),
        ("?since=zz", 404, "/since"),
    ] {
        let (got, problem) = page(bad.into()).await;
        assert_eq!((got, &problem["field"]), (status, &json!(field)), "{bad}");
    }
    assert_eq!(ack(&c3).await.0, 200);
    let (_, empty) = page(String::new()).await;
    assert_eq!((ids(&empty).len(), &empty["next_cursor"]), (0, &json!("")));

    // Other transports and other executors.
    let (status, problem) = hub.get(PENDING, Some(ACME_KEY)).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("KAFKA"),
        "{problem}"
    );
    assert_eq!(
        hub.get(
            &format!("{PENDING}?warehouse_id=WH-Osaka-02"),
            Some(ACME_KEY)
        )
        .await
        .0,
        403
    );

    // Acks are durable: a crash, then a rebuild of their projection, keep the position.
    hub.restart().await;
    let page = |query: &'static str| {
        let hub = &hub;
        async move { hub.get(&format!("{PENDING}{query}"), Some(BETA_KEY)).await }
    };
    assert_eq!(ids(&page("").await.1).len(), 0);
    let (status, rebuilt) = hub
        .post(
            "/planner/v1/projections/poll_acks/rebuild",
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rebuilt}");
    assert_eq!(ids(&page("").await.1).len(), 0);
    let body = json!({"cursor": c2});
    assert_eq!(
        hub.post(ACK, BETA_KEY, &body).await.0,
        409,
        "still behind after the rebuild"
    );
}

/// The cursor of the release `cid` of Osaka, from its log position.
async fn cursor_of(hub: &Hub, cid: &str) -> String {
    let (_, releases) = hub
        .get(
            "/planner/v1/releases?warehouse_id=WH-Osaka-02",
            Some(ADMIN_KEY),
        )
        .await;
    let release = releases["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["correlation_id"] == cid)
        .unwrap_or_else(|| panic!("{cid} in {releases}"))
        .clone();
    wes_domain::dispatch_transport::PollCursor {
        partition: release["kafka_partition"].as_i64().unwrap() as i32,
        offset: release["kafka_offset"].as_i64().unwrap(),
    }
    .encode()
}

async fn the_contracts_example_comes_out_verbatim_on_kafka_and_by_polling(db: Db) {
    let hub = Hub::start(db).await;
    assert_eq!(hub.delete(TOKYO, ADMIN_KEY).await, 200);
    let polling = json!({"transport": "POLLING", "partner_id": "WH-Tokyo-01/AcmeWES"});
    assert_eq!(hub.put(TOKYO, ADMIN_KEY, &polling).await.0, 200);
    let seed = seed_release();
    let (status, answer) = hub.post("/planner/v1/releases", ADMIN_KEY, &seed).await;
    assert_eq!(status, 200, "{answer}");
    let polled = eventually("the release to poll", Duration::from_secs(10), || async {
        let (_, page) = hub.get(PENDING, Some(ACME_KEY)).await;
        page["events"].as_array().and_then(|e| e.first().cloned())
    })
    .await;
    assert_eq!(polled, seed, "polling delivers the payload as sent");
    let output = hub
        .cli()
        .args([
            "executor",
            "subscribe",
            "--warehouse",
            "WH-Tokyo-01",
            "--from-beginning",
            "--max",
            "1",
            "--idle-timeout-secs",
            "30",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["event"], seed, "Kafka carries it verbatim too");
    // The typed Avro fields carry the word as well (for consumers that read them).
    let on_topic = hub.read_topic(wes_events::catalog::topics::DISPATCH).await;
    let Some(wes_events::Event::Dispatch(record)) = on_topic.last() else {
        panic!("a dispatch record: {on_topic:?}");
    };
    assert_eq!(
        (record.priority_level.as_str(), record.priority),
        ("NORMAL", 0)
    );
}

on_sqlite_and_postgres!(
    one_warehouse_has_one_transport_and_its_secret_stays_sealed,
    poll_mode_serves_pages_until_acked,
    the_contracts_example_comes_out_verbatim_on_kafka_and_by_polling
);
