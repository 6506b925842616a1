//! Confluent REST paths and error codes (`{"error_code": 40401, "message": ...}`).

use crate::store::{Registered, Registry, RegistryError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Shared = State<Arc<Registry>>;

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    reply(StatusCode::OK, body)
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            RegistryError::SubjectNotFound(_) => (StatusCode::NOT_FOUND, 40401),
            RegistryError::VersionNotFound(..) => (StatusCode::NOT_FOUND, 40402),
            RegistryError::SchemaNotFound(_) | RegistryError::SchemaNotInSubject(_) => {
                (StatusCode::NOT_FOUND, 40403)
            }
            RegistryError::SoftDeleted { version: false, .. } => (StatusCode::NOT_FOUND, 40404),
            RegistryError::NotSoftDeletedFirst { version: false, .. } => {
                (StatusCode::NOT_FOUND, 40405)
            }
            RegistryError::SoftDeleted { version: true, .. } => (StatusCode::NOT_FOUND, 40406),
            RegistryError::NotSoftDeletedFirst { version: true, .. } => {
                (StatusCode::NOT_FOUND, 40407)
            }
            RegistryError::NoSubjectConfig(_) => (StatusCode::NOT_FOUND, 40408),
            RegistryError::Incompatible(_) => (StatusCode::CONFLICT, 409),
            RegistryError::BadRequest(_) => (StatusCode::BAD_REQUEST, 400),
            RegistryError::InvalidSchema(_) | RegistryError::UnsupportedType(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, 42201)
            }
            RegistryError::InvalidCompatibility(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            RegistryError::InvalidMode(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42204),
            // The backing topic is unreachable: an outage the client may retry, not a bug.
            RegistryError::Kafka(_) | RegistryError::Storage(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, 50002)
            }
        };
        let mut response = reply(
            status,
            json!({"error_code": code, "message": self.to_string()}),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5.into());
        }
        response
    }
}

/// Query parameters as given. Flags read leniently: `true`, `True`, `TRUE` (what clients in other
/// languages send) are all true; anything else, or nothing, is false.
#[derive(Deserialize, Default)]
#[serde(transparent)]
struct Params(HashMap<String, String>);

impl Params {
    fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::BadRequest(e.to_string()))
}

fn answer<T>(result: Result<T, RegistryError>, to_json: impl FnOnce(T) -> Value) -> Response {
    match result {
        Ok(value) => ok(to_json(value)),
        Err(e) => e.into_response(),
    }
}

fn registered(r: Registered) -> Value {
    json!({"subject": r.subject, "version": r.version, "id": r.id, "schema": r.schema, "schemaType": "AVRO"})
}

/// A schema's text as JSON (the `/schema` paths answer the schema itself, not a wrapper).
fn schema_json(schema: String) -> Value {
    serde_json::from_str(&schema).unwrap_or(Value::String(schema))
}

async fn subjects(State(r): Shared, Query(q): Query<Params>) -> Response {
    ok(json!(r.subjects(q.flag("deleted"))))
}

async fn versions(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    answer(r.versions(&subject, q.flag("deleted")), |v| json!(v))
}

async fn register(State(r): Shared, Path(subject): Path<String>, bytes: Bytes) -> Response {
    let b: SchemaBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    answer(
        r.register(&subject, &b.schema, b.schema_type.as_deref())
            .await,
        |id| json!({"id": id}),
    )
}

async fn lookup(State(r): Shared, Path(subject): Path<String>, bytes: Bytes) -> Response {
    match body::<SchemaBody>(&bytes) {
        Ok(b) => answer(
            r.lookup(&subject, &b.schema, b.schema_type.as_deref()),
            registered,
        ),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /subjects/{subject}[?permanent=true]`: soft, or permanent after a soft delete.
async fn delete_subject(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    answer(r.delete(&subject, None, q.flag("permanent")).await, |v| {
        json!(v)
    })
}

async fn version(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<Params>,
) -> Response {
    answer(r.version(&subject, &version, q.flag("deleted")), registered)
}

async fn delete_version(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<Params>,
) -> Response {
    let deleted = r
        .delete(&subject, Some(&version), q.flag("permanent"))
        .await;
    answer(deleted, |v| json!(v.first()))
}

async fn version_schema(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<Params>,
) -> Response {
    answer(r.version(&subject, &version, q.flag("deleted")), |reg| {
        schema_json(reg.schema)
    })
}

/// No schema references are supported, so nothing refers to any version.
async fn referenced_by(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    answer(r.version(&subject, &version, false), |_| json!([]))
}

async fn schema_by_id(State(r): Shared, Path(id): Path<String>) -> Response {
    // Not a number names no schema: Confluent's 404, not a 400.
    let Ok(id) = id.parse::<u32>() else {
        return not_found();
    };
    answer(
        r.schema_by_id(id),
        |schema| json!({"schema": schema, "schemaType": "AVRO"}),
    )
}

async fn raw_schema_by_id(State(r): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u32>() else {
        return not_found();
    };
    answer(r.schema_by_id(id), schema_json)
}

async fn subjects_of_id(State(r): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u32>() else {
        return not_found();
    };
    answer(r.uses_of(id), |uses| {
        let mut subjects: Vec<String> = uses.into_iter().map(|(s, _)| s).collect();
        subjects.dedup();
        json!(subjects)
    })
}

async fn versions_of_id(State(r): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u32>() else {
        return not_found();
    };
    answer(r.uses_of(id), |uses| {
        json!(
            uses.into_iter()
                .map(|(subject, version)| json!({"subject": subject, "version": version}))
                .collect::<Vec<_>>()
        )
    })
}

fn compat_reply(result: Result<Vec<String>, RegistryError>, verbose: bool) -> Response {
    answer(result, |problems| {
        if verbose {
            json!({"is_compatible": problems.is_empty(), "messages": problems})
        } else {
            json!({"is_compatible": problems.is_empty()})
        }
    })
}

async fn compat_version(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<Params>,
    bytes: Bytes,
) -> Response {
    match body::<SchemaBody>(&bytes) {
        Ok(b) => compat_reply(
            r.test_compatibility(
                &subject,
                Some(&version),
                &b.schema,
                b.schema_type.as_deref(),
            ),
            q.flag("verbose"),
        ),
        Err(e) => e.into_response(),
    }
}

async fn compat_all(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<Params>,
    bytes: Bytes,
) -> Response {
    match body::<SchemaBody>(&bytes) {
        Ok(b) => compat_reply(
            r.test_compatibility(&subject, None, &b.schema, b.schema_type.as_deref()),
            q.flag("verbose"),
        ),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

impl ConfigBody {
    fn level(&self) -> &str {
        self.compatibility
            .as_deref()
            .or(self.compatibility_level.as_deref())
            .unwrap_or_default()
    }
}

fn level_json(level: crate::compat::CompatibilityLevel) -> Value {
    json!({"compatibilityLevel": level.as_str()})
}

async fn get_global(State(r): Shared) -> Response {
    ok(level_json(r.global_level()))
}

async fn put_config(r: &Registry, subject: Option<&str>, bytes: &Bytes) -> Response {
    match body::<ConfigBody>(bytes) {
        Ok(b) => answer(
            r.set_level(subject, b.level()).await,
            |level| json!({"compatibility": level.as_str(), "compatibilityLevel": level.as_str()}),
        ),
        Err(e) => e.into_response(),
    }
}

async fn put_global(State(r): Shared, bytes: Bytes) -> Response {
    put_config(&r, None, &bytes).await
}

async fn get_subject_config(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    answer(
        r.subject_level(&subject, q.flag("defaultToGlobal")),
        level_json,
    )
}

async fn put_subject_config(
    State(r): Shared,
    Path(subject): Path<String>,
    bytes: Bytes,
) -> Response {
    put_config(&r, Some(&subject), &bytes).await
}

async fn delete_subject_config(State(r): Shared, Path(subject): Path<String>) -> Response {
    answer(r.delete_level(&subject).await, level_json)
}

/// This registry is always READWRITE: reading the mode says so, setting READWRITE is accepted,
/// any other mode is refused (42204).
#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

async fn get_mode() -> Response {
    ok(json!({"mode": "READWRITE"}))
}

async fn put_mode(bytes: Bytes) -> Response {
    match body::<ModeBody>(&bytes) {
        Ok(b) if b.mode == "READWRITE" => ok(json!({"mode": "READWRITE"})),
        Ok(b) => RegistryError::InvalidMode(b.mode).into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
    )
}

async fn method_not_allowed() -> Response {
    reply(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"}),
    )
}

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route("/schemas/types", get(|| async { ok(json!(["AVRO"])) }))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route("/config", get(get_global).put(put_global))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_mode).put(put_mode))
        .route(
            "/mode/{subject}",
            get(get_mode).put(put_mode).delete(get_mode),
        )
        // Only the default context, which Confluent writes as ".".
        .route("/contexts", get(|| async { ok(json!(["."])) }))
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(registry)
}
