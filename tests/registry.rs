//! The embedded schema registry against Confluent's own client: the Python `SchemaRegistryClient`
//! runs every method it offers, and every error is Confluent-shaped JSON.

use serde_json::Value;
use std::process::Command;
use wes_tests::*;

#[tokio::test(flavor = "multi_thread")]
async fn confluents_python_client_works_against_the_registry() {
    let hub = Hub::start(Db::Sqlite).await;
    let mut command = Command::new(python_tool("python"));
    command
        .arg(repo_root().join("tests/python/registry_client.py"))
        .arg(&hub.registry_url);
    run_to_success(command, "the SchemaRegistryClient exercise").await;
}

/// An old reader against a new writer with Confluent's serializers: a later schema that adds enum
/// symbols registers as a compatible evolution, and today's schema reads its symbols as UNKNOWN.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_with_todays_schemas_reads_symbols_added_later_as_unknown() {
    let hub = Hub::start(Db::Sqlite).await;
    let mut command = Command::new(python_tool("python"));
    command
        .arg(repo_root().join("tests/python/schema_evolution.py"))
        .arg(&hub.registry_url);
    for schema in std::fs::read_dir(repo_root().join("schemas")).expect("schemas/") {
        command.arg(schema.expect("entry").path());
    }
    run_to_success(command, "the schema-evolution exercise").await;
}

/// Wrong methods, unknown paths and malformed bodies answer JSON with `error_code` and `message`.
#[tokio::test(flavor = "multi_thread")]
async fn every_registry_error_is_confluent_shaped_json() {
    let hub = Hub::start(Db::Sqlite).await;
    let url = |path: &str| format!("{}{path}", hub.registry_url);
    let requests = [
        (hub.client.patch(url("/subjects")), 405, 405),
        (hub.client.get(url("/no/such/path")), 404, 404),
        (
            hub.client.get(url("/subjects/none-value/versions")),
            404,
            40401,
        ),
        (hub.client.get(url("/schemas/ids/987654")), 404, 40403),
        (hub.client.get(url("/schemas/ids/abc")), 404, 404),
        (
            hub.client
                .post(url("/subjects/x-value/versions"))
                .header("content-type", "application/vnd.schemaregistry.v1+json")
                .body("{not json"),
            400,
            400,
        ),
        (
            hub.client
                .post(url("/subjects/x-value/versions"))
                .json(&serde_json::json!({"schema": "{\"type\": \"nonsense\"}"})),
            422,
            42201,
        ),
        (
            hub.client
                .put(url("/config"))
                .json(&serde_json::json!({"compatibility": "SOMETIMES"})),
            422,
            42203,
        ),
    ];
    for (request, status, code) in requests {
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{body}");
        assert!(content_type.contains("json"), "{content_type}");
        assert_eq!(body["error_code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// Deletes are records on the registry's topic: after a crash a soft-deleted version is still
/// hidden, and a permanently deleted one is gone, not revived.
#[tokio::test(flavor = "multi_thread")]
async fn deletes_survive_a_restart() {
    let mut hub = Hub::start(Db::Sqlite).await;
    let subject = format!("{}/subjects/restart-value", hub.registry_url);
    let schema = |field: &str| {
        serde_json::json!({"schema": serde_json::json!({"type": "record", "name": "R", "fields": [
            {"name": field, "type": ["null", "string"], "default": null}]}).to_string()})
    };
    for field in ["a", "b", "c"] {
        let response = hub
            .client
            .post(format!("{subject}/versions"))
            .json(&schema(field))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let delete = |path: String| {
        let client = hub.client.clone();
        async move { client.delete(path).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(delete(format!("{subject}/versions/1")).await, 200);
    assert_eq!(delete(format!("{subject}/versions/2")).await, 200);
    assert_eq!(
        delete(format!("{subject}/versions/2?permanent=true")).await,
        200
    );
    hub.restart().await;
    let versions = |query: &'static str| {
        let client = hub.client.clone();
        let url = format!("{subject}/versions{query}");
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(versions("").await, serde_json::json!([3]));
    assert_eq!(versions("?deleted=true").await, serde_json::json!([1, 3]));
}
