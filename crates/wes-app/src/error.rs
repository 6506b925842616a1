//! The application's errors: what a handler refuses or could not do, in the hub's own terms.
//! The HTTP edge maps each to a problem document; nothing here knows about status codes.

use wes_domain::Rejection;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppError {
    /// The command is malformed or breaks a business rule (400/422, with the field).
    #[error("{}", .0.detail)]
    Rejected(Rejection),
    #[error("{0}")]
    NotFound(String),
    /// What a field of the command names does not exist (404, with the field).
    #[error("{detail}")]
    Missing { field: String, detail: String },
    /// The command conflicts with the current state of what it names.
    #[error("{0}")]
    Conflict(String),
    /// The same idempotency key is still being processed by another request.
    #[error("{0}")]
    InFlight(String),
    /// The idempotency key was used before with another payload.
    #[error("{0}")]
    KeyReused(String),
    /// The credential may not act for the warehouse the command names.
    #[error("{0}")]
    CrossWarehouse(String),
    /// A dependency (broker, registry, database) is unavailable or full: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A platform failure; the detail is for the log, never for the client.
    #[error("{0}")]
    Internal(String),
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        AppError::Rejected(r)
    }
}

impl From<wes_store::StoreError> for AppError {
    fn from(e: wes_store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            AppError::Unavailable("the database is unavailable".into())
        } else {
            AppError::Internal(e.to_string())
        }
    }
}

impl From<wes_kafka::KafkaError> for AppError {
    fn from(e: wes_kafka::KafkaError) -> Self {
        if e.is_queue_full() {
            tracing::warn!(error = %e, "producer queue full");
            AppError::Unavailable(
                "the hub's outbound queue to the event log is full; retry with the same correlation_id"
                    .into(),
            )
        } else if e.is_unavailable() {
            tracing::warn!(error = %e, "broker or registry unavailable");
            AppError::Unavailable(
                "the event log did not confirm the write in time; retry with the same correlation_id"
                    .into(),
            )
        } else {
            AppError::Internal(e.to_string())
        }
    }
}

impl From<wes_projector::ProjectorError> for AppError {
    fn from(e: wes_projector::ProjectorError) -> Self {
        match e {
            wes_projector::ProjectorError::Kafka(k) => k.into(),
            wes_projector::ProjectorError::Store(s) => s.into(),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<wes_events::EventsError> for AppError {
    fn from(e: wes_events::EventsError) -> Self {
        AppError::Internal(e.to_string())
    }
}
