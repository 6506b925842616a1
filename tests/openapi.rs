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

/// Schemathesis, bounded, against the served document with every credential: no 5xx, and every
/// status, content type, header and body it gets is one the document describes. (Whether the
/// document's request schemas carry every business rule — ids, cross-field rules — is not checked:
/// those answer 400/422 as documented.)
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_nothing_undocumented() {
    let hub = Hub::start(Db::Sqlite).await;
    let document = format!("{}/openapi.json", hub.http_url);
    let runs: [(&str, &[&str]); 3] = [
        (
            ADMIN_KEY,
            &[
                "dispatch",
                "ledger",
                "tasks",
                "capacity",
                "masterdata",
                "operations",
            ],
        ),
        (SUPERVISOR_KEY, &["supervisor"]),
        (ACME_KEY, &["realtime", "confirmation"]),
    ];
    for (key, tags) in runs {
        let mut command = std::process::Command::new(python_tool("schemathesis"));
        command
            .args(["run", &document, "--header"])
            .arg(format!("Authorization: Bearer {key}"))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance,\
                 missing_required_header,unsupported_method",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "10",
                "--seed",
                "20261201",
                "--workers",
                "1",
                "--no-color",
            ])
            .current_dir(hub.data_dir.path());
        for tag in tags {
            command.args(["--include-tag", tag]);
        }
        run_to_success(
            command,
            &format!("schemathesis with the {tags:?} credential"),
        )
        .await;
    }
}

/// What a user comparing the document with the hub found, each answered as documented.
#[tokio::test(flavor = "multi_thread")]
async fn behaviour_matches_what_the_document_and_docs_promise() {
    let hub = Hub::start(Db::Sqlite).await;
    let send =
        |method: reqwest::Method, path: &str, key: &str, content_type: Option<&str>, body: &str| {
            let mut request = hub
                .client
                .request(method, format!("{}{path}", hub.http_url))
                .bearer_auth(key)
                .body(body.to_owned());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };

    // A batch item's problem is a complete problem document, pointing at the item.
    let bad = movement("doc-1", "RECEIVE", "SKU-NOPE", 1, None, Some("DOCK-3"));
    let (status, body) = hub.movements(&serde_json::json!([bad])).await;
    assert_eq!(status, 200, "{body}");
    let problem = &body["results"][0]["problem"];
    assert_eq!(
        problem["instance"], "/wes/v1/realtime/movements#/0",
        "{body}"
    );
    assert!(
        problem["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{body}"
    );

    // PUT needs its body: nothing is created without one.
    let (status, _) = send(
        reqwest::Method::PUT,
        "/planner/v1/warehouses/WH-Empty-01",
        ADMIN_KEY,
        None,
        "",
    )
    .await;
    assert_eq!(status, 400);
    let all = hub.admin_get("/planner/v1/masterdata").await;
    assert!(
        !all.to_string().contains("WH-Empty-01"),
        "created without a body"
    );

    // A body that is not JSON is 415 everywhere (docs/errors.md), and an array sent to a
    // confirmation endpoint is 400 (docs/api.md), whatever its length.
    for (path, key) in [
        ("/planner/v1/warehouses/WH-Text-01", ADMIN_KEY),
        ("/planner/v1/masterdata", ADMIN_KEY),
        ("/wes/v1/confirmation/shift-summary", ACME_KEY),
        ("/wes/v1/realtime/movements", ACME_KEY),
    ] {
        let method = if path.contains("WH-Text") {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let (status, body) = send(method, path, key, Some("text/plain"), "{}").await;
        assert_eq!(status, 415, "{path}: {body}");
        assert_eq!(
            body["type"], "urn:wes:problem#unsupported-media-type",
            "{path}: {body}"
        );
    }
    for items in ["[{}]", "[{}, {}]"] {
        let (status, body) = send(
            reqwest::Method::POST,
            "/wes/v1/confirmation/shift-summary",
            ACME_KEY,
            Some("application/json"),
            items,
        )
        .await;
        assert_eq!(status, 400, "{items}: {body}");
    }

    // The document: instants are typed as such, and it names its server.
    let (_, document) = hub.get("/openapi.json", None).await;
    let parameters = &document["paths"]["/planner/v1/capacity/trends"]["get"]["parameters"];
    for name in ["from", "to"] {
        let parameter = parameters
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        assert_eq!(parameter["schema"]["format"], "date-time", "{name}");
    }
    assert_eq!(document["servers"][0]["url"], "/");
}
