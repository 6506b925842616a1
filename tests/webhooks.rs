//! Webhook dispatch (contract §2) against real receivers on local ports: the payload as sent,
//! signed over the raw body; one lane per warehouse, a failing one delaying no other; the retry
//! schedule (short settings) ending in the dead-letter topic with an URGENT notification and a
//! supervisor-queue entry; redrive; the rotation overlap; a crash mid-delivery.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wes_tests::*;

const TOKYO: &str = "/planner/v1/warehouses/WH-Tokyo-01/dispatch-transport";
const OSAKA: &str = "/planner/v1/warehouses/WH-Osaka-02/dispatch-transport";
const DELIVERIES: &str = "/planner/v1/dispatch/deliveries";
const SECRET: &str = "tokyo-secret-0123456789";
const ROTATED: &str = "tokyo-secret-rotated-0123";

/// A local webhook receiver: records every request (headers, raw body), answers 500 while failing.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    failing: Arc<AtomicBool>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            got: Arc::default(),
            failing: Arc::default(),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push((headers, body));
                    if state.failing.load(Ordering::SeqCst) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// The requests so far: (correlation id, headers, raw body).
    fn requests(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| {
                let body: Value = serde_json::from_slice(b).expect("a JSON body");
                (
                    body["correlation_id"].as_str().unwrap().to_owned(),
                    h.clone(),
                    b.clone(),
                )
            })
            .collect()
    }
}

/// The signature the receiver computes itself: `sha256=` + hex HMAC-SHA256 of the raw body.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name}"))
        .to_str()
        .unwrap()
}

fn shipper(cid: &str) -> Value {
    json!({"kind": "SHIPPER_RELEASED", "correlation_id": cid, "planner_id": "fgai-wms", "warehouse_id": "WH-Tokyo-01",
           "document_ref": {"type": "SHIPPER", "id": format!("SH-{cid}")},
           "routing": {"ops": [{"op_id": "op-1", "kind": "PICK", "sku": "SKU-WIDGET-RED-LG", "qty": 12, "from_location": "A.12.3.1"}]},
           "meta": {"released_at": "2026-05-24T03:14:01Z", "priority": "URGENT", "wave": "W-1"}})
}

fn receiver_release(cid: &str) -> Value {
    json!({"kind": "RECEIVER_EXPECTED", "correlation_id": cid, "planner_id": "fgai-wms", "warehouse_id": "WH-Osaka-02",
           "document_ref": {"type": "RECEIVER", "id": format!("RCV-{cid}")},
           "routing": {"ops": [{"op_id": "1", "kind": "RECEIVE", "to_location": "DOCK-1"}]}})
}

/// The deliveries of a warehouse by correlation id: (status, attempts).
async fn deliveries(hub: &Hub, warehouse: &str) -> Vec<(String, String, i64)> {
    let (status, listed) = hub
        .get(
            &format!("{DELIVERIES}?warehouse_id={warehouse}"),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let mut rows: Vec<(String, String, i64)> = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["correlation_id"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

async fn webhooks_are_signed_ordered_per_warehouse_retried_and_dead_lettered(db: Db) {
    let hub = Hub::start_with(
        db,
        &[
            ("WES_WEBHOOK_RETRY_SCHEDULE", "0s,300ms"),
            ("WES_WEBHOOK_GIVE_UP_AFTER", "1s"),
            ("WES_WEBHOOK_TIMEOUT", "2s"),
        ],
    )
    .await;
    let (tokyo, osaka) = (Receiver::start().await, Receiver::start().await);
    for (path, executor, receiver, secret) in [
        (TOKYO, "WH-Tokyo-01/AcmeWES", &tokyo, SECRET),
        (
            OSAKA,
            "WH-Osaka-02/BetaWES",
            &osaka,
            "osaka-secret-0123456789",
        ),
    ] {
        assert_eq!(hub.delete(path, ADMIN_KEY).await, 200);
        let body = json!({"transport": "WEBHOOK", "partner_id": executor, "url": receiver.url, "secret": secret});
        let (status, answer) = hub.put(path, ADMIN_KEY, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let release = |body: Value| {
        let hub = &hub;
        async move {
            let (status, answer) = hub.post("/planner/v1/releases", ADMIN_KEY, &body).await;
            assert_eq!(status, 200, "{answer}");
        }
    };

    // Osaka's receiver fails: its lane retries, then dead-letters each release in turn; Tokyo's
    // deliveries go on meanwhile, in order, each the payload as sent, signed over its raw body.
    osaka.failing.store(true, Ordering::SeqCst);
    release(receiver_release("o1")).await;
    release(receiver_release("o2")).await;
    for cid in ["t1", "t2", "t3"] {
        release(shipper(cid)).await;
    }
    let got = eventually(
        "Tokyo's three releases",
        Duration::from_secs(20),
        || async {
            let got = tokyo.requests();
            (got.len() >= 3).then_some(got)
        },
    )
    .await;
    let ids: Vec<&str> = got.iter().map(|(cid, _, _)| cid.as_str()).collect();
    assert_eq!(ids, ["t1", "t2", "t3"], "in log order, once each");
    for (cid, headers, body) in &got {
        assert_eq!(header(headers, "x-fgai-signature"), sign(SECRET, body));
        assert_eq!(header(headers, "content-type"), "application/json");
        assert_eq!(header(headers, "x-fgai-attempt"), "1");
        assert!(!header(headers, "x-fgai-delivery-id").is_empty());
        let sent: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sent, shipper(cid), "the release as the planner sent it");
    }
    let dead = eventually(
        "Osaka's two releases dead-lettered",
        Duration::from_secs(30),
        || async {
            let rows = deliveries(&hub, "WH-Osaka-02").await;
            rows.iter()
                .all(|(_, status, _)| status == "DEAD_LETTERED")
                .then_some(rows)
        },
    )
    .await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter().all(|(_, _, attempts)| *attempts >= 3),
        "{dead:?}"
    );
    let attempts = osaka.requests();
    let first_o2 = attempts.iter().position(|(cid, _, _)| cid == "o2").unwrap();
    assert!(
        attempts[..first_o2].iter().all(|(cid, _, _)| cid == "o1"),
        "o2 waits until o1 is given up"
    );
    let o1: Vec<&HeaderMap> = attempts
        .iter()
        .filter(|(cid, _, _)| cid == "o1")
        .map(|(_, h, _)| h)
        .collect();
    let numbers: Vec<&str> = o1.iter().map(|h| header(h, "x-fgai-attempt")).collect();
    assert_eq!(numbers[..3], ["1", "2", "3"]);
    assert!(
        o1.iter()
            .all(|h| header(h, "x-fgai-delivery-id") == header(o1[0], "x-fgai-delivery-id")),
        "one delivery id across attempts"
    );
    assert!(
        deliveries(&hub, "WH-Tokyo-01")
            .await
            .iter()
            .all(|(_, status, attempts)| status == "DELIVERED" && *attempts == 1)
    );

    // The dead letters: on the DLQ topic, each with its URGENT notification.
    let letters = hub
        .read_topic(wes_events::catalog::topics::DISPATCH_DLQ)
        .await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let wes_events::Event::DispatchDeadLettered(letter) = &letters[0] else {
        panic!("{letters:?}");
    };
    assert_eq!(
        (letter.last_status_code, letter.correlation_id.as_str()),
        (Some(500), "o1")
    );
    let pages = hub
        .read_topic(wes_events::catalog::topics::NOTIFICATIONS)
        .await;
    assert!(
        pages.iter().any(|p| matches!(p, wes_events::Event::Notification(n)
            if n.source == "DISPATCH_DEAD_LETTER" && n.severity == "URGENT" && n.warehouse_id == "WH-Osaka-02")),
        "{pages:?}"
    );

    // And a supervisor-queue entry each, for Osaka's supervisors.
    let supervisor = json!({"role": "SUPERVISOR", "allowed_warehouses": ["WH-Osaka-02"],
                            "api_keys": ["osaka-supervisor-key-0001"]});
    let (status, answer) = hub
        .put(
            "/planner/v1/partners/WH-Osaka-02%2Fsupervisors",
            ADMIN_KEY,
            &supervisor,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let entries = eventually("the queue entries", Duration::from_secs(10), || async {
        let (_, queue) = hub
            .get(
                "/planner/v1/supervisor/queue?source=DISPATCH_DEAD_LETTER",
                Some("osaka-supervisor-key-0001"),
            )
            .await;
        let entries = queue["entries"].as_array().cloned().unwrap_or_default();
        (entries.len() == 2).then_some(entries)
    })
    .await;
    assert!(
        entries.iter().all(|e| e["severity"] == "URGENT"),
        "{entries:?}"
    );

    // Redrive, once the receiver is fixed: delivered, and only once it was dead-lettered.
    osaka.failing.store(false, Ordering::SeqCst);
    let delivery_id = letter.delivery_id.clone();
    let redrive = format!("/planner/v1/dispatch/dead-letters/{delivery_id}/redrive");
    let (status, redriven) = hub.post(&redrive, ADMIN_KEY, &json!({})).await;
    assert_eq!(
        (status, &redriven["status"]),
        (200, &json!("PENDING")),
        "{redriven}"
    );
    eventually(
        "o1 delivered after the redrive",
        Duration::from_secs(10),
        || async {
            let rows = deliveries(&hub, "WH-Osaka-02").await;
            rows.iter()
                .any(|(cid, status, _)| cid == "o1" && status == "DELIVERED")
                .then_some(())
        },
    )
    .await;
    assert_eq!(hub.post(&redrive, ADMIN_KEY, &json!({})).await.0, 409);
    assert_eq!(
        hub.post(
            "/planner/v1/dispatch/dead-letters/nope/redrive",
            ADMIN_KEY,
            &json!({})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        hub.get(&format!("{DELIVERIES}?status=LOST"), Some(ADMIN_KEY))
            .await
            .0,
        400
    );

    // After a rotation, both secrets sign during the overlap.
    let rotate = format!("{TOKYO}/rotate-secret");
    assert_eq!(
        hub.post(&rotate, ADMIN_KEY, &json!({"secret": ROTATED}))
            .await
            .0,
        200
    );
    release(shipper("t4")).await;
    let (_, headers, body) = eventually("t4", Duration::from_secs(10), || async {
        tokyo.requests().into_iter().find(|(cid, _, _)| cid == "t4")
    })
    .await;
    assert_eq!(header(&headers, "x-fgai-signature"), sign(ROTATED, &body));
    assert_eq!(
        header(&headers, "x-fgai-signature-previous"),
        sign(SECRET, &body)
    );
}

/// A hub killed while a receiver holds a request: after the restart the delivery is made again
/// (at least once), nothing is skipped, the order holds.
async fn a_crash_mid_delivery_skips_nothing(db: Db) {
    let mut hub = Hub::start(db).await;
    // A receiver that never answers the first request: the hub is killed during it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let hang_first = Arc::new(AtomicBool::new(true));
    let (state, hang) = (got.clone(), hang_first.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let (state, hang) = (state.clone(), hang.clone());
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap();
                state
                    .lock()
                    .unwrap()
                    .push(body["correlation_id"].as_str().unwrap().to_owned());
                if hang.swap(false, Ordering::SeqCst) {
                    // Never answers: the hub is killed while it waits.
                    std::future::pending::<()>().await;
                }
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(hub.delete(TOKYO, ADMIN_KEY).await, 200);
    let body = json!({"transport": "WEBHOOK", "partner_id": "WH-Tokyo-01/AcmeWES", "url": url, "secret": SECRET});
    assert_eq!(hub.put(TOKYO, ADMIN_KEY, &body).await.0, 200);
    for cid in ["k1", "k2", "k3"] {
        let (status, answer) = hub
            .post("/planner/v1/releases", ADMIN_KEY, &shipper(cid))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    eventually("k1 in flight", Duration::from_secs(10), || async {
        (!got.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    hub.restart().await;
    let seen = eventually(
        "every release after the crash",
        Duration::from_secs(40),
        || async {
            let seen = got.lock().unwrap().clone();
            (seen.len() >= 4).then_some(seen)
        },
    )
    .await;
    assert_eq!(
        seen,
        ["k1", "k1", "k2", "k3"],
        "k1 again, then the rest in order"
    );
}

on_sqlite_and_postgres!(
    webhooks_are_signed_ordered_per_warehouse_retried_and_dead_lettered,
    a_crash_mid_delivery_skips_nothing
);
