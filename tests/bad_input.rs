//! Bad input never hurts: generated malformed, wrongly typed, deeply nested, oversized-field,
//! boundary and non-UTF-8 bodies against every realtime endpoint of a live hub. Every answer is a 4xx
//! (or a 200 whose items are all REJECTED with a 4xx problem), never a 5xx, and nothing is written.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use wes_tests::*;

const ENDPOINTS: [&str; 4] = [
    "/wes/v1/realtime/movements",
    "/wes/v1/realtime/exceptions",
    "/wes/v1/realtime/work-status",
    "/wes/v1/realtime/capacity",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("x".repeat(5000))),
        Just(json!(u64::MAX)),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("correlation_id".to_string()),
                    Just("kind".to_string()),
                    Just("warehouse_id".to_string()),
                    Just("sku".to_string()),
                    Just("qty".to_string()),
                    Just("status".to_string()),
                    Just("code".to_string()),
                    Just("severity".to_string()),
                    Just("occurred_at".to_string()),
                    Just("document_ref".to_string()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid movement with one field replaced by an arbitrary value (or removed).
fn near_valid_movement() -> impl Strategy<Value = Value> {
    let fields = [
        "correlation_id",
        "kind",
        "warehouse_id",
        "sku",
        "qty",
        "uom",
        "from_location",
        "occurred_at",
    ];
    (
        prop::sample::select(fields.to_vec()),
        prop::option::of(any_json()),
        "[a-z0-9]{8}",
    )
        .prop_map(|(field, value, cid)| {
            let mut m = movement(
                &format!("fz-{cid}"),
                "PICK",
                "SKU-WIDGET-RED-LG",
                1,
                Some("A.12.3.1"),
                None,
            );
            match value {
                Some(v) => m[field] = v,
                None => {
                    m.as_object_mut().unwrap().remove(field);
                }
            }
            m
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any_json(), 1..4).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..256),
        (1usize..3000)
            .prop_map(|depth| format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
    ]
}

fn check(status: u16, body: &Value, request: &[u8]) -> Result<(), TestCaseError> {
    let shown = String::from_utf8_lossy(&request[..request.len().min(300)]).into_owned();
    prop_assert!(status < 500, "{status} for {shown}: {body}");
    if status == 200 {
        for item in body["results"].as_array().into_iter().flatten() {
            prop_assert_eq!(
                item["status"].as_str(),
                Some("REJECTED"),
                "{} accepted: {}",
                shown,
                body
            );
            let code = item["problem"]["status"].as_u64().unwrap_or(0);
            prop_assert!(
                (400..500).contains(&code),
                "{} item problem {}",
                shown,
                body
            );
        }
        prop_assert!(
            body.get("results").is_some(),
            "a single object was accepted: {} -> {}",
            shown,
            body
        );
    } else {
        prop_assert!((400..500).contains(&status));
        prop_assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:wes:problem#")),
            "{}",
            body
        );
    }
    Ok(())
}

#[test]
fn generated_bad_input_is_always_a_4xx_and_writes_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hub = runtime.block_on(Hub::start_with(
        Db::Sqlite,
        &[
            ("WES_RATE_LIMIT_PER_SEC", "100000"),
            ("WES_RATE_LIMIT_BURST", "100000"),
        ],
    ));
    let send = |path: &str, bytes: Vec<u8>| -> (u16, Value) {
        runtime.block_on(async {
            let response = hub
                .client
                .post(format!("{}{path}", hub.http_url))
                .bearer_auth(ACME_KEY)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .expect("the hub answers");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    };
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(prop::sample::select(ENDPOINTS.to_vec()), body()),
            |(path, bytes)| {
                let (status, answer) = send(path, bytes.clone());
                check(status, &answer, &bytes)
            },
        )
        .unwrap();
    runner
        .run(&near_valid_movement(), |m| {
            let bytes = serde_json::to_vec(&m).unwrap();
            let (status, answer) = send(ENDPOINTS[0], bytes.clone());
            // A replacement can happen to be valid (e.g. another correct kind): then it is accepted.
            if status == 200 && answer["status"] == "ACCEPTED" {
                return Ok(());
            }
            prop_assert!(
                (400..500).contains(&status),
                "{} for {}: {}",
                status,
                m,
                answer
            );
            Ok(())
        })
        .unwrap();
    // Nothing the garbage phase sent reached a read model (near-valid accepted ones are movements
    // with an `fz-` key and are excluded).
    runtime.block_on(hub.wait_caught_up());
    let tasks = runtime.block_on(hub.admin_get("/planner/v1/documents/SHIPPER/SH-1/tasks"));
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 0);
    let trends = runtime.block_on(hub.admin_get(
        "/planner/v1/capacity/trends?warehouse_id=WH-Tokyo-01&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&bucket=3650d",
    ));
    assert_eq!(trends["buckets"].as_array().unwrap().len(), 0, "{trends}");
    let (_, queue) =
        runtime.block_on(hub.get("/planner/v1/supervisor/queue", Some(SUPERVISOR_KEY)));
    assert_eq!(queue["entries"].as_array().unwrap().len(), 0, "{queue}");
    let movements = runtime.block_on(hub.admin_get("/planner/v1/ledger/movements?limit=10000"));
    for m in movements["movements"].as_array().unwrap() {
        assert!(
            m["executor_correlation_id"]
                .as_str()
                .unwrap()
                .starts_with("fz-"),
            "{m}"
        );
    }
}
