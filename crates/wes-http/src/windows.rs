//! Confirmation path (contract §4): the shift-summary, cycle-count and inventory-snapshot
//! endpoints, the reconciler that decides each window, and the supervisor's window API with its
//! resolutions.
//!
//! The reconciler runs when a confirmation has been appended: it reads the movements log's end,
//! waits until the ledger projection holds everything below it, sums the partner's movements of
//! the window (or, for counts, the warehouse's stock as of the count) below that position,
//! compares (`wes_domain::reconcile`) and
//! appends the decision, with its breakdown and that log position, as `WindowReconciled` or
//! `WindowDiscrepancy` (which opens a supervisor-queue entry and pages URGENT). The windows
//! projection folds those events, so a rebuild gives the same windows; movements of the window
//! beyond the recorded position arrived late and are counted on the window.

use crate::Shared;
use crate::auth::{Credential, executor};
use crate::ingest::{Body, append_with_notifications, check_warehouses, parse_body, read_body};
use crate::planner::{limit, projector_error};
use crate::problem::ApiError;
use crate::supervisor::{check_warehouse, supervisor, visible_warehouses};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use wes_domain::idempotency::{Claim, payload_fingerprint};
use wes_domain::masterdata::{MasterData, Partner};
use wes_domain::movement::{Actor, ActorKind, Movement, MovementKind, validate_movement};
use wes_domain::reconcile::{
    CountScope, LineKey, by_location, by_sku, compare, compare_stock, compensation, validate_count,
    validate_shift_summary,
};
use wes_domain::supervisor::SupervisorAction;
use wes_domain::*;
use wes_events::catalog::topics;
use wes_events::{
    ComparedLine, ConfirmationRecorded, LateMovementFlagged, LogPosition, MovementRecorded, Routed,
    SupervisorActionRecorded, WindowDecision, WindowDiscrepancy, WindowReconciled,
};
use wes_store::ProjectionKind;
use wes_store::idempotency::KeyRequest;
use wes_store::queries::QueueFilter;
use wes_store::windows::WindowRow;

/// How long the reconciler waits for the ledger to hold the movements already in the log.
const LEDGER_WAIT: Duration = Duration::from_secs(10);
/// How long an answer waits for the windows projection to show a decision.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);
/// The partner compensating ADJUST movements are recorded under (never an executor, so they never
/// count towards a window's realtime sum).
pub const RECONCILER_PARTNER: &str = "wes/reconciler";

fn now() -> UtcMillis {
    UtcMillis(chrono::Utc::now().timestamp_millis())
}

/// A log position as the decision records it.
fn positions(ends: &[(i32, i64)]) -> Vec<LogPosition> {
    ends.iter()
        .map(|(partition, next_offset)| LogPosition {
            partition: *partition,
            next_offset: *next_offset,
        })
        .collect()
}

/// Appends `record` (and the page it raises) and waits until the windows projection shows it.
async fn append_visible<T: Routed>(state: &Shared, record: &T) -> Result<(), ApiError> {
    let delivery = append_with_notifications(state, &[record])
        .await
        .remove(0)?;
    state
        .projector
        .wait_applied(
            ProjectionKind::Windows,
            T::TOPIC,
            delivery.partition,
            delivery.offset,
            VISIBILITY_TIMEOUT,
        )
        .await;
    Ok(())
}

/// The end of the movements log, once the ledger holds everything below it; `None` when the
/// ledger did not get there within `LEDGER_WAIT`.
async fn ledger_at_log_end(state: &Shared) -> Result<Option<Vec<(i32, i64)>>, ApiError> {
    let ends = state
        .projector
        .log_end(topics::MOVEMENTS)
        .await
        .map_err(projector_error)?;
    let caught_up = state
        .projector
        .wait_through(
            ProjectionKind::Ledger,
            topics::MOVEMENTS,
            &ends,
            LEDGER_WAIT,
        )
        .await;
    Ok(caught_up.then_some(ends))
}

/// Decides the window of `confirmation`; `None` when the ledger did not catch up with the log in
/// time (the window stays PENDING and the next replay of the confirmation decides it).
async fn decide(
    state: &Shared,
    confirmation: &ConfirmationRecorded,
) -> Result<Option<WindowDecision>, ApiError> {
    let Some(through) = ledger_at_log_end(state).await? else {
        tracing::warn!(window = %confirmation.window().id(), "ledger behind the log; window left PENDING");
        return Ok(None);
    };
    let confirmed = confirmation.totals().map_err(ApiError::internal)?;
    let tolerance = state.settings.reconcile_tolerance;
    let window = confirmation.window();
    let comparison = if confirmation.kind == "SHIFT_SUMMARY" {
        let realtime = state.store.realtime_totals(&window, &through).await?;
        compare(&confirmed, &realtime, tolerance)
    } else {
        let scope = confirmation
            .scope
            .as_deref()
            .and_then(CountScope::parse)
            .unwrap_or(CountScope::Partial);
        let as_of = UtcMillis(confirmation.as_of.unwrap_or(confirmation.window_end));
        let ledger = state
            .store
            .stock_as_of(&window.warehouse_id, as_of, &through)
            .await?;
        compare_stock(&confirmed, &ledger, scope, tolerance)
    };
    let decision = WindowDecision::of(
        confirmation,
        &comparison,
        tolerance,
        positions(&through),
        now(),
    );
    if decision.reconciled() {
        append_visible(state, &WindowReconciled(decision.clone())).await?;
    } else {
        append_visible(state, &WindowDiscrepancy(decision.clone())).await?;
    }
    Ok(Some(decision))
}

/// How long a PENDING window is left to the request deciding it before the watcher decides it.
const PENDING_GRACE: Duration = Duration::from_secs(30);
/// How long after a window's end movements arriving for it are flagged.
const LATE_WATCH_MILLIS: i64 = 30 * 24 * 3600 * 1000;

/// Keeps windows complete in the background: decides a PENDING window whose deciding request did
/// not finish (a crash, a ledger too far behind), and flags every movement that reached the log
/// after its window was decided with a `LateMovementFlagged` event, which opens a
/// supervisor-queue entry. Woken by the ledger's and the windows projection's batches, at most
/// once a second.
pub async fn watch(state: Shared) {
    let mut ledger = state.projector.changes(ProjectionKind::Ledger);
    let mut windows = state.projector.changes(ProjectionKind::Windows);
    loop {
        tokio::select! {
            _ = ledger.changed() => {}
            _ = windows.changed() => {}
            _ = tokio::time::sleep(PENDING_GRACE) => {}
        }
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e.detail, "window watch");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn sweep(state: &Shared) -> Result<(), ApiError> {
    let at = now();
    for window in state
        .store
        .windows_to_watch(UtcMillis(at.0 - LATE_WATCH_MILLIS))
        .await?
    {
        if window.decision_event_id.is_none() {
            let stale = window
                .confirmed_at_ms
                .is_some_and(|confirmed| at.0 - confirmed > PENDING_GRACE.as_millis() as i64);
            if stale {
                decide(state, &confirmation_of(&window)).await?;
            }
            continue;
        }
        let through: Vec<LogPosition> =
            serde_json::from_value(window.realtime_through.clone()).unwrap_or_default();
        let through: Vec<(i32, i64)> = through
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        for late in state
            .store
            .late_movement_rows(&window.key, &through)
            .await?
        {
            let event_id = LateMovementFlagged::id_for(&window.window_id, &late.event_id);
            if state.store.supervisor_entry(&event_id).await?.is_some() {
                continue;
            }
            let flag = LateMovementFlagged {
                event_id,
                recorded_at: at.0,
                window_id: window.window_id.clone(),
                partner_id: window.partner_id.clone(),
                warehouse_id: window.warehouse_id.clone(),
                warehouse_frn: WarehouseFrn::for_warehouse(&window.key.warehouse_id).to_string(),
                movement_event_id: late.event_id,
                movement_correlation_id: late.correlation_id,
                kind: late.kind,
                sku: late.sku,
                qty: late.qty,
                occurred_at: late.occurred_at,
            };
            state.producer.send(&flag).await?;
        }
    }
    Ok(())
}

/// The confirmation of a window, as the windows projection holds it.
fn confirmation_of(window: &WindowRow) -> ConfirmationRecorded {
    ConfirmationRecorded {
        event_id: window.confirmation_event_id.clone().unwrap_or_default(),
        recorded_at: window.confirmed_at_ms.unwrap_or_default(),
        partner_id: window.partner_id.clone(),
        correlation_id: window.correlation_id.clone().unwrap_or_default(),
        payload_sha256: String::new(),
        warehouse_id: window.warehouse_id.clone(),
        warehouse_frn: WarehouseFrn::for_warehouse(&window.key.warehouse_id).to_string(),
        kind: window.kind.clone().unwrap_or_default(),
        window_start: window.key.start.0,
        window_end: window.key.end.0,
        lines: serde_json::from_value(window.confirmation_lines.clone()).unwrap_or_default(),
        as_of: window.as_of_ms,
        scope: window.scope.clone(),
    }
}

fn answer(cid: &str, replay: bool, window_id: &str, status: &str) -> Json<Value> {
    Json(json!({
        "correlation_id": cid, "status": if replay { "REPLAY" } else { "ACCEPTED" }, "replay": replay,
        "window_id": window_id, "window_status": status,
    }))
}

/// `POST /wes/v1/confirmation/shift-summary`: movement totals of a window.
pub async fn shift_summary(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    confirm(
        state,
        credential,
        headers,
        body,
        |item, md, partner, fingerprint, at| {
            let summary = validate_shift_summary(item, md, partner)?;
            Ok(ConfirmationRecorded::from_shift_summary(
                &summary,
                fingerprint,
                at,
            ))
        },
    )
    .await
}

/// `POST /wes/v1/confirmation/cycle-count`: counted stock, as of the window's end.
pub async fn cycle_count(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    count(state, credential, headers, body, "CYCLE_COUNT").await
}

/// `POST /wes/v1/confirmation/inventory-snapshot`: FULL or PARTIAL stock as of `as_of`.
pub async fn inventory_snapshot(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    count(state, credential, headers, body, "INVENTORY_SNAPSHOT").await
}

async fn count(
    state: Shared,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
    kind: &'static str,
) -> Result<Json<Value>, ApiError> {
    let snapshot = kind == "INVENTORY_SNAPSHOT";
    confirm(
        state,
        credential,
        headers,
        body,
        |item, md, partner, fingerprint, at| {
            let count = validate_count(item, md, partner, snapshot)?;
            Ok(ConfirmationRecorded::from_count(
                &count,
                kind,
                fingerprint,
                at,
            ))
        },
    )
    .await
}

/// The path every confirmation shares: one object, one confirmation per window and partner,
/// appended, then decided.
async fn confirm(
    state: Shared,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
    to_record: impl Fn(
        &Value,
        &MasterData,
        &Partner,
        String,
        UtcMillis,
    ) -> Result<ConfirmationRecorded, Rejection>,
) -> Result<Json<Value>, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let Body::One(item) = parse_body(&headers, &bytes, 1)? else {
        return Err(ApiError::bad_request("a confirmation is one JSON object"));
    };
    check_warehouses(std::slice::from_ref(&item), &partner)?;
    let fingerprint = payload_fingerprint(&item);
    let at = now();
    let confirmation = to_record(&item, &md, &partner, fingerprint.clone(), at)?;
    let window = confirmation.window();
    let (owner, cid, window_id) = (
        partner.partner_id.as_str(),
        confirmation.correlation_id.as_str(),
        window.id(),
    );
    let instance = &state.settings.instance_id;
    let claim = state
        .store
        .claim_keys(
            "confirmation",
            owner,
            instance,
            &[KeyRequest {
                correlation_id: cid,
                payload_sha256: &fingerprint,
            }],
            at,
        )
        .await?
        .remove(0);
    match claim {
        Claim::Fresh | Claim::TakeOver => {}
        Claim::Replay => {
            let mut status = state
                .store
                .window(&window_id)
                .await?
                .map_or("PENDING".to_owned(), |w| w.status);
            if status == "PENDING"
                && let Some(decision) = decide(&state, &confirmation).await?
            {
                status = if decision.reconciled() {
                    "RECONCILED"
                } else {
                    "DISCREPANCY"
                }
                .into();
            }
            return Ok(answer(cid, true, &window_id, &status));
        }
        Claim::InFlight => {
            return Err(ApiError::conflict_in_flight(format!(
                "a confirmation with correlation_id {cid} is still being processed; retry later"
            )));
        }
        Claim::PayloadMismatch => {
            return Err(ApiError::key_reused(format!(
                "correlation_id {cid} was already used with a different payload"
            )));
        }
    }
    // One confirmation per window, whatever its state: the claim on the window settles races, the
    // projection keeps the rule after the claim is purged.
    let window_claim = state
        .store
        .claim_keys(
            "window",
            owner,
            instance,
            &[KeyRequest {
                correlation_id: &window_id,
                payload_sha256: cid,
            }],
            at,
        )
        .await?
        .remove(0);
    let confirmed_by = state
        .store
        .window(&window_id)
        .await?
        .and_then(|w| w.correlation_id)
        .filter(|other| other != cid);
    if matches!(window_claim, Claim::PayloadMismatch | Claim::InFlight) || confirmed_by.is_some() {
        state
            .store
            .settle_keys("confirmation", owner, &[], &[cid])
            .await?;
        if matches!(window_claim, Claim::Fresh | Claim::TakeOver) {
            state
                .store
                .settle_keys("window", owner, &[], &[&window_id])
                .await?;
        }
        return Err(ApiError::state_conflict(format!(
            "window {} to {} of warehouse {} is already confirmed{}; a window takes one confirmation",
            window.start.to_rfc3339(),
            window.end.to_rfc3339(),
            window.warehouse_id,
            confirmed_by
                .map(|c| format!(" by correlation_id {c}"))
                .unwrap_or_default()
        )));
    }
    if let Err(e) = state.producer.send(&confirmation).await {
        state
            .store
            .settle_keys("confirmation", owner, &[], &[cid])
            .await?;
        // Free the window only if this request took it (not when an earlier attempt holds it).
        if matches!(window_claim, Claim::Fresh | Claim::TakeOver) {
            state
                .store
                .settle_keys("window", owner, &[], &[&window_id])
                .await?;
        }
        return Err(e.into());
    }
    state
        .store
        .settle_keys("confirmation", owner, &[cid], &[])
        .await?;
    state
        .store
        .settle_keys("window", owner, &[&window_id], &[])
        .await?;
    let status = match decide(&state, &confirmation).await? {
        Some(d) if d.reconciled() => "RECONCILED",
        Some(_) => "DISCREPANCY",
        None => "PENDING",
    };
    Ok(answer(cid, false, &window_id, status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    warehouse_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /planner/v1/windows?warehouse_id&status&limit`: the caller's windows, newest first.
pub async fn list(
    State(state): State<Shared>,
    credential: Credential,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    let warehouses = visible_warehouses(&partner, &q.warehouse_id)?;
    if let Some(status) = q.status.as_deref()
        && !matches!(status, "PENDING" | "DISCREPANCY" | "RECONCILED")
    {
        return Err(ApiError::bad_request(format!(
            "`status` has unknown value {status:?}; expected one of PENDING, DISCREPANCY, RECONCILED"
        ))
        .with_field("/status"));
    }
    let windows = state
        .store
        .windows(&warehouses, q.status.as_deref(), limit(q.limit)?)
        .await?;
    Ok(Json(json!({"windows": windows})))
}

async fn detail(state: &Shared, window: WindowRow) -> Result<Value, ApiError> {
    let lines: Vec<ComparedLine> = serde_json::from_value(window.lines.clone()).unwrap_or_default();
    let through: Vec<LogPosition> =
        serde_json::from_value(window.realtime_through.clone()).unwrap_or_default();
    let comparison = wes_events::comparison_of(&lines).map_err(ApiError::internal)?;
    let exceptions = state
        .store
        .supervisor_queue(
            &QueueFilter {
                warehouses: vec![window.warehouse_id.clone()],
                source: Some("EXCEPTION"),
                from: Some(window.key.start.0),
                to: Some(window.key.end.0),
                ..QueueFilter::default()
            },
            1000,
        )
        .await?;
    let late = if window.decision_event_id.is_some() {
        let through: Vec<(i32, i64)> = through
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        Some(
            state
                .store
                .late_movement_rows(&window.key, &through)
                .await?
                .len(),
        )
    } else {
        None
    };
    let mut body = serde_json::to_value(&window).map_err(ApiError::internal)?;
    body["by_sku"] = serde_json::to_value(by_sku(&comparison)).map_err(ApiError::internal)?;
    body["by_location"] =
        serde_json::to_value(by_location(&comparison)).map_err(ApiError::internal)?;
    body["exceptions"] = serde_json::to_value(exceptions).map_err(ApiError::internal)?;
    body["late_movements"] = json!(late);
    Ok(body)
}

async fn window_for(
    state: &Shared,
    partner: &Partner,
    window_id: &str,
) -> Result<WindowRow, ApiError> {
    let window = state
        .store
        .window(window_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no window {window_id}")))?;
    check_warehouse(partner, &window.warehouse_id)?;
    Ok(window)
}

/// `GET /planner/v1/windows/{window_id}`: confirmation totals, realtime sums, the compared lines,
/// per-SKU and per-location breakdowns, the exceptions logged in the window, late movements.
pub async fn window(
    State(state): State<Shared>,
    credential: Credential,
    Path(window_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    let window = window_for(&state, &partner, &window_id).await?;
    Ok(Json(detail(&state, window).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    supervisor_id: Option<String>,
    reason: Option<String>,
    /// `accept-confirmation`, `accept-realtime` or `manual-adjustment`.
    resolution: Option<String>,
    /// `manual-adjustment`: `[{sku, location, lot?, serial?, qty}]`, signed quantities.
    #[serde(default)]
    adjustments: Vec<Value>,
}

/// A correction of `window`'s stock at one (sku, location, lot, serial), recorded under the
/// reconciler partner with a correlation id derived from `seed`, dated when the window's
/// corrections take effect.
fn correction(
    window: &WindowRow,
    mut movement: Movement,
    seed: &str,
    supervisor_id: &str,
) -> MovementRecorded {
    let cid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes());
    movement.correlation_id = CorrelationId::from_trusted(cid.to_string());
    movement.occurred_at = window.effective_at;
    movement.actor = Some(Actor {
        kind: ActorKind::Human,
        id: supervisor_id.to_owned(),
    });
    MovementRecorded::from_domain(
        &movement,
        &PartnerId::from_trusted(RECONCILER_PARTNER),
        format!("correction of window {}", window.window_id),
        now(),
    )
}

/// `POST /planner/v1/windows/{window_id}/resolve` `{supervisor_id, reason, resolution,
/// adjustments?}`: a DISCREPANCY window becomes RECONCILED.
/// - `accept-confirmation` first appends compensating ADJUST movements so the ledger equals the
///   confirmation;
/// - `accept-realtime` discards the confirmation's deltas;
/// - `manual-adjustment` (counts and snapshots) appends the supervisor's ADJUST lines after checking
///   that, with them, the ledger as of the count matches it (409 and nothing written otherwise).
///
/// The window's queue entry is closed with the same reason.
pub async fn resolve(
    State(state): State<Shared>,
    credential: Credential,
    Path(window_id): Path<String>,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    let body: ResolveBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let supervisor_id = body
        .supervisor_id
        .filter(|id| is_valid_id(id))
        .ok_or_else(|| {
            ApiError::bad_request("`supervisor_id` (who resolves) is required")
                .with_field("/supervisor_id")
        })?;
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty() && r.chars().count() <= 2000)
        .ok_or_else(|| {
            ApiError::bad_request("a non-empty `reason` of at most 2000 characters is required")
                .with_field("/reason")
        })?;
    let resolution = match body.resolution.as_deref() {
        Some("accept-confirmation") => "ACCEPT_CONFIRMATION",
        Some("accept-realtime") => "ACCEPT_REALTIME",
        Some("manual-adjustment") => "MANUAL_ADJUSTMENT",
        other => {
            return Err(ApiError::bad_request(format!(
                "`resolution` must be accept-confirmation, accept-realtime or manual-adjustment, got {other:?}"
            ))
            .with_field("/resolution"));
        }
    };
    if (resolution == "MANUAL_ADJUSTMENT") == body.adjustments.is_empty() {
        return Err(ApiError::bad_request(
            "`adjustments` are given with, and only with, a manual-adjustment",
        )
        .with_field("/adjustments"));
    }
    let window = window_for(&state, &partner, &window_id).await?;
    if window.status != "DISCREPANCY" {
        return Err(ApiError::state_conflict(format!(
            "window {window_id} is {}; only a DISCREPANCY window is resolved",
            window.status
        )));
    }
    let decision_id = window.decision_event_id.clone().unwrap_or_default();
    let mut lines: Vec<ComparedLine> =
        serde_json::from_value(window.lines.clone()).unwrap_or_default();
    let mut through: Vec<LogPosition> =
        serde_json::from_value(window.realtime_through.clone()).unwrap_or_default();
    let md = state.masterdata();
    let mut corrections = vec![];
    match resolution {
        "ACCEPT_CONFIRMATION" => {
            let comparison = wes_events::comparison_of(&lines).map_err(ApiError::internal)?;
            for (i, line) in comparison.discrepancies().enumerate() {
                for delta in compensation(line) {
                    let movement = Movement {
                        correlation_id: CorrelationId::from_trusted(""),
                        kind: MovementKind::Adjust,
                        warehouse_id: window.key.warehouse_id.clone(),
                        sku: line.key.sku.clone(),
                        qty: delta.qty,
                        uom: md
                            .skus
                            .get(&line.key.sku)
                            .map_or_else(String::new, |s| s.base_uom.clone()),
                        from_location: None,
                        lot: line.key.lot.clone(),
                        serial: line.key.serial.clone(),
                        to_location: Some(delta.location.clone()),
                        document_ref: None,
                        occurred_at: window.effective_at,
                        actor: None,
                    };
                    let seed = format!("{decision_id}/{i}/{}", delta.location);
                    corrections.push(correction(&window, movement, &seed, &supervisor_id));
                }
            }
        }
        "MANUAL_ADJUSTMENT" => {
            if window.kind.as_deref() == Some("SHIFT_SUMMARY") {
                return Err(ApiError::from(Rejection::unprocessable(
                    "/resolution",
                    "a shift summary compares movement totals per kind, which ADJUST lines cannot change: resolve it with accept-confirmation or accept-realtime",
                )));
            }
            let mut adjusted = vec![];
            for (i, item) in body.adjustments.iter().enumerate() {
                let at = |r: Rejection| r.within(&format!("/adjustments/{i}"));
                let f = wes_domain::fields::Fields::of(item).map_err(at)?;
                let sku = f.req_id("sku", SkuCode::parse).map_err(at)?;
                let as_movement = json!({
                    "correlation_id": "manual", "kind": "ADJUST", "warehouse_id": window.warehouse_id,
                    "sku": sku.as_str(), "qty": item.get("qty"), "to_location": item.get("location"),
                    "lot": item.get("lot"), "serial": item.get("serial"),
                    "uom": md.skus.get(&sku).map(|s| s.base_uom.clone()).unwrap_or_default(),
                    "occurred_at": window.effective_at.to_rfc3339(),
                });
                let movement = validate_movement(&as_movement, &md, &partner).map_err(|r| {
                    let r = if r.field == "/to_location" {
                        Rejection {
                            field: "/location".into(),
                            ..r
                        }
                    } else {
                        r
                    };
                    at(r)
                })?;
                adjusted.push(movement);
            }
            // Reconciliation runs again: the ledger as of the count, with the adjustments.
            let ends = ledger_at_log_end(&state).await?.ok_or_else(|| {
                ApiError::unavailable("the ledger is behind the movements log; retry")
            })?;
            let as_of = UtcMillis(window.effective_at.0 + 1);
            let mut ledger = state
                .store
                .stock_as_of(&window.key.warehouse_id, as_of, &ends)
                .await?;
            for m in &adjusted {
                let key = LineKey::stock(
                    m.sku.clone(),
                    m.to_location
                        .clone()
                        .expect("validated ADJUST has its location"),
                    m.lot.clone(),
                    m.serial.clone(),
                );
                *ledger.entry(key).or_default() += m.qty;
            }
            ledger.retain(|_, qty| *qty != 0);
            let confirmation_lines: Vec<wes_events::ConfirmationLine> =
                serde_json::from_value(window.confirmation_lines.clone()).unwrap_or_default();
            let confirmed =
                wes_events::totals_of(&confirmation_lines).map_err(ApiError::internal)?;
            let scope = window
                .scope
                .as_deref()
                .and_then(CountScope::parse)
                .unwrap_or(CountScope::Partial);
            let comparison = compare_stock(
                &confirmed,
                &ledger,
                scope,
                window.tolerance.unwrap_or_default(),
            );
            if !comparison.reconciled() {
                let remaining: Vec<String> = comparison
                    .discrepancies()
                    .map(|l| {
                        format!(
                            "{} at {}: counted {}, ledger {}",
                            l.key.sku,
                            l.key.to_location.as_ref().map_or("?", |l| l.as_str()),
                            l.confirmed,
                            l.realtime
                        )
                    })
                    .collect();
                return Err(ApiError::state_conflict(format!(
                    "with these adjustments the window still differs ({}); nothing was written",
                    remaining.join("; ")
                )));
            }
            lines = WindowDecision::lines_of(&comparison);
            through = positions(&ends);
            for (i, movement) in adjusted.into_iter().enumerate() {
                let seed = format!("{decision_id}/manual/{i}");
                corrections.push(correction(&window, movement, &seed, &supervisor_id));
            }
        }
        _ => {}
    }
    let refs: Vec<&MovementRecorded> = corrections.iter().collect();
    for delivery in state.producer.send_all(&refs).await {
        delivery?;
    }
    let at = now();
    let resolved = WindowDecision {
        event_id: wes_domain::idempotency::event_id(
            "window-resolution",
            &window.partner_id,
            &window_id,
        )
        .to_string(),
        recorded_at: at.0,
        window_id: window_id.clone(),
        partner_id: window.partner_id.clone(),
        warehouse_id: window.warehouse_id.clone(),
        warehouse_frn: WarehouseFrn::for_warehouse(&window.key.warehouse_id).to_string(),
        window_start: window.key.start.0,
        window_end: window.key.end.0,
        confirmation_event_id: window.confirmation_event_id.clone().unwrap_or_default(),
        confirmation_correlation_id: window.correlation_id.clone().unwrap_or_default(),
        tolerance: window.tolerance.unwrap_or_default(),
        lines,
        realtime_through: through,
        resolved_by: Some(supervisor_id.clone()),
        resolution: Some(resolution.into()),
        resolution_reason: Some(reason.clone()),
        compensating_movements: corrections.len() as i64,
    };
    append_visible(&state, &WindowReconciled(resolved)).await?;
    if let Some((entry, _)) = state.store.supervisor_entry(&decision_id).await?
        && entry.status != "CLOSED"
    {
        let close = SupervisorActionRecorded::new(
            &decision_id,
            &window.key.warehouse_id,
            SupervisorAction::Close,
            &supervisor_id,
            &partner.partner_id,
            Some(format!("window resolved ({resolution}): {reason}")),
            at,
        );
        state.producer.send(&close).await?;
    }
    let window = window_for(&state, &partner, &window_id).await?;
    Ok(Json(detail(&state, window).await?))
}
