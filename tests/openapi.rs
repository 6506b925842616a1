//! The OpenAPI document: the served one equals `docs/openapi.json`, and for every documented path
//! the hub serves exactly the documented methods. (That every routed path is documented is a unit
//! test in wes-http, against the router's own route table.)

use serde_json::Value;
use wes_tests::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_is_the_file_and_matches_the_routes() {
    let hub = Hub::start(Db::Sqlite).await;
    let (status, served) = hub.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/openapi.json")).unwrap(),
    )
    .unwrap();
    assert!(
        served == file,
        "docs/openapi.json is stale: regenerate it with `wes openapi > docs/openapi.json`"
    );
    assert_eq!(served["openapi"], "3.1.0");

    for (path, operations) in served["paths"].as_object().unwrap() {
        // Any value for the path parameters: no credential is sent, so nothing is written.
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "delete", "patch"] {
            let response = hub
                .client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", hub.http_url),
                )
                .send()
                .await
                .unwrap();
            let routed = response.status().as_u16() != 405;
            let documented = operations.get(method).is_some();
            assert_eq!(
                routed, documented,
                "{method} {path}: served {routed}, documented {documented}"
            );
            if documented && operations[method]["security"] != Value::Array(vec![]) {
                assert_eq!(
                    response.status().as_u16(),
                    401,
                    "{method} {path} needs a credential"
                );
            }
        }
    }
}
