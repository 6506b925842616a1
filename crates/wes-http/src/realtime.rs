//! The realtime partner endpoints (contract §3): movements, exceptions, work-status, capacity.
//! Each authenticates the executor and charges its rate limit before reading the body, then
//! validates every item into its event and ingests under its idempotency scope.

use crate::Shared;
use crate::auth::{Credential, executor};
use crate::ingest::{ingest_for, parse_body, read_body};
use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use wes_domain::capacity::check_capacity;
use wes_domain::exception::check_exception;
use wes_domain::idempotency::IdempotencyScope;
use wes_domain::masterdata::{MasterData, Partner};
use wes_domain::movement::check_movement;
use wes_domain::parse;
use wes_domain::work_status::check_work_status;
use wes_domain::{Rejection, UtcMillis};
use wes_events::{
    CapacityReported, Event, ExceptionRecorded, MovementRecorded, WorkStatusRecorded,
};

/// What turning one item into its event needs besides the item.
struct Item<'a> {
    md: &'a MasterData,
    partner: &'a Partner,
    fingerprint: String,
    now: UtcMillis,
}

async fn realtime(
    state: Shared,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
    scope: IdempotencyScope,
    to_event: fn(&Value, Item<'_>) -> Result<Event, Rejection>,
) -> Result<Response, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let body = parse_body(&headers, &bytes, state.settings.max_batch_items)?;
    ingest_for(&state, scope, &partner, body, |item, fingerprint, now| {
        let md = &md;
        let partner = &partner;
        to_event(
            item,
            Item {
                md,
                partner,
                fingerprint,
                now,
            },
        )
    })
    .await
}

/// One handler per endpoint: `$name` keys its items under `$scope`; each item is read by
/// `$read` (shape, 400) into a command that `$check` holds to the rules (422), and `$record`
/// records it.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $scope:ident, $record:ident, $read:path, $check:path) => {
        $(#[$doc])*
        pub async fn $name(
            State(state): State<Shared>,
            credential: Credential,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Response, ApiError> {
            realtime(state, credential, headers, body, IdempotencyScope::$scope, |item, cx| {
                let value = $read(item)?;
                $check(&value, cx.md)?;
                Ok($record::from_domain(&value, &cx.partner.partner_id, cx.fingerprint, cx.now).into())
            })
            .await
        }
    };
}

endpoint!(
    /// `POST /wes/v1/realtime/movements`: applied to the ledger.
    movements,
    Movement,
    MovementRecorded,
    parse::movement,
    check_movement
);
endpoint!(
    /// `POST /wes/v1/realtime/exceptions`: each opens a supervisor-queue entry and raises a
    /// notification.
    exceptions,
    Exception,
    ExceptionRecorded,
    parse::exception,
    check_exception
);
endpoint!(
    /// `POST /wes/v1/realtime/work-status`: task lifecycle transitions, no ledger effect.
    work_status,
    WorkStatus,
    WorkStatusRecorded,
    parse::work_status,
    check_work_status
);
endpoint!(
    /// `POST /wes/v1/realtime/capacity`: snapshots for dashboards and trends only.
    capacity,
    Capacity,
    CapacityReported,
    parse::capacity,
    check_capacity
);
