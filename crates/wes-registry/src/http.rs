//! Confluent REST paths and error codes (`{"error_code": 40401, "message": ...}`).

use crate::store::{Registered, Registry, RegistryError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
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
            RegistryError::NoSubjectConfig(_) => (StatusCode::NOT_FOUND, 40408),
            RegistryError::Incompatible(_) => (StatusCode::CONFLICT, 409),
            RegistryError::InvalidSchema(_)
            | RegistryError::UnsupportedType(_)
            | RegistryError::BadRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            RegistryError::InvalidCompatibility(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            RegistryError::Kafka(_) | RegistryError::Storage(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, 50001)
            }
        };
        reply(
            status,
            json!({"error_code": code, "message": self.to_string()}),
        )
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

fn registered(r: Registered) -> Value {
    json!({"subject": r.subject, "version": r.version, "id": r.id, "schema": r.schema})
}

async fn subjects(State(r): Shared) -> Response {
    ok(json!(r.subjects()))
}

async fn versions(State(r): Shared, Path(subject): Path<String>) -> Response {
    r.versions(&subject)
        .map(|v| ok(json!(v)))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn register(State(r): Shared, Path(subject): Path<String>, bytes: Bytes) -> Response {
    let b: SchemaBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match r
        .register(&subject, &b.schema, b.schema_type.as_deref())
        .await
    {
        Ok(id) => ok(json!({"id": id})),
        Err(e) => e.into_response(),
    }
}

async fn lookup(State(r): Shared, Path(subject): Path<String>, bytes: Bytes) -> Response {
    let b: SchemaBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    r.lookup(&subject, &b.schema, b.schema_type.as_deref())
        .map(|reg| ok(registered(reg)))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn version(State(r): Shared, Path((subject, version)): Path<(String, String)>) -> Response {
    r.version(&subject, &version)
        .map(|reg| ok(registered(reg)))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn version_schema(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    match r.version(&subject, &version) {
        Ok(reg) => reply(
            StatusCode::OK,
            serde_json::from_str(&reg.schema).unwrap_or(Value::String(reg.schema)),
        ),
        Err(e) => e.into_response(),
    }
}

async fn schema_by_id(State(r): Shared, Path(id): Path<u32>) -> Response {
    r.schema_by_id(id)
        .map(|schema| ok(json!({"schema": schema})))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn raw_schema_by_id(State(r): Shared, Path(id): Path<u32>) -> Response {
    match r.schema_by_id(id) {
        Ok(schema) => reply(
            StatusCode::OK,
            serde_json::from_str(&schema).unwrap_or(Value::String(schema)),
        ),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CompatQuery {
    #[serde(default)]
    verbose: bool,
}

fn compat_reply(result: Result<Vec<String>, RegistryError>, verbose: bool) -> Response {
    match result {
        Ok(problems) if verbose => {
            ok(json!({"is_compatible": problems.is_empty(), "messages": problems}))
        }
        Ok(problems) => ok(json!({"is_compatible": problems.is_empty()})),
        Err(e) => e.into_response(),
    }
}

async fn compat_version(
    State(r): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<CompatQuery>,
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
            q.verbose,
        ),
        Err(e) => e.into_response(),
    }
}

async fn compat_all(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<CompatQuery>,
    bytes: Bytes,
) -> Response {
    match body::<SchemaBody>(&bytes) {
        Ok(b) => compat_reply(
            r.test_compatibility(&subject, None, &b.schema, b.schema_type.as_deref()),
            q.verbose,
        ),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: String,
}

#[derive(Deserialize)]
struct ConfigQuery {
    #[serde(default, rename = "defaultToGlobal")]
    default_to_global: bool,
}

async fn get_global(State(r): Shared) -> Response {
    ok(json!({"compatibilityLevel": r.global_level().as_str()}))
}

async fn put_global(State(r): Shared, bytes: Bytes) -> Response {
    match body::<ConfigBody>(&bytes) {
        Ok(b) => match r.set_level(None, &b.compatibility).await {
            Ok(level) => ok(json!({"compatibility": level.as_str()})),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn get_subject_config(
    State(r): Shared,
    Path(subject): Path<String>,
    Query(q): Query<ConfigQuery>,
) -> Response {
    r.subject_level(&subject, q.default_to_global)
        .map(|l| ok(json!({"compatibilityLevel": l.as_str()})))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn put_subject_config(
    State(r): Shared,
    Path(subject): Path<String>,
    bytes: Bytes,
) -> Response {
    match body::<ConfigBody>(&bytes) {
        Ok(b) => match r.set_level(Some(&subject), &b.compatibility).await {
            Ok(level) => ok(json!({"compatibility": level.as_str()})),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
    )
}

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", axum::routing::post(lookup))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route(
            "/compatibility/subjects/{subject}/versions",
            axum::routing::post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            axum::routing::post(compat_version),
        )
        .route("/config", get(get_global).put(put_global))
        .route(
            "/config/{subject}",
            get(get_subject_config).put(put_subject_config),
        )
        .fallback(not_found)
        .with_state(registry)
}
