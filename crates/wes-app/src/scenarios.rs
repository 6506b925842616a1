//! Given/when/then tests of the confirmation path, the reconciler's decision, each supervisor
//! resolution and the window watcher, through in-memory ports (no broker, no database).

use crate::AppError;
use crate::confirmations::{ConfirmOutcome, Confirmation};
use crate::memory::*;
use crate::resolutions::{RECONCILER_PARTNER, Resolve};
use serde_json::json;
use std::sync::Arc;
use wes_domain::idempotency::Fingerprint;
use wes_domain::reconcile::*;
use wes_domain::supervisor::{EntryStatus, QueueSource};
use wes_domain::*;
use wes_events::{ConfirmationRecorded, Event, LogPosition, WindowDecision};
use wes_store::queries::SupervisorEntryRow;
use wes_store::reactors::WatchedWindow;
use wes_store::windows::{LateMovementRow, WindowRow};

/// The payloads of one variant of `Event` among `events`, in order.
macro_rules! of {
    ($events:expr, $variant:path) => {
        $events
            .iter()
            .filter_map(|e| match e {
                $variant(x) => Some(x),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

const START: i64 = 1_790_000_000_000;
const END: i64 = START + 8 * 3600 * 1000;

fn window_key() -> WindowKey {
    WindowKey {
        partner_id: PartnerId::parse(EXECUTOR).unwrap(),
        warehouse_id: WarehouseId::parse(WAREHOUSE).unwrap(),
        start: UtcMillis(START),
        end: UtcMillis(END),
    }
}

fn stock(location: &str) -> LineKey {
    LineKey::stock(
        SkuCode::parse(SKU).unwrap(),
        LocationCode::parse(location).unwrap(),
        None,
        None,
    )
}

/// A cycle count of `counted` at A.1 (and 5 at A.2), as of the window's end.
fn cycle_count(counted: i64) -> Confirmation {
    Confirmation::Count(
        StockCount {
            correlation_id: CorrelationId::parse("count-1").unwrap(),
            window: window_key(),
            as_of: UtcMillis(END),
            scope: CountScope::Partial,
            counts: Totals::from([(stock("A.1"), counted), (stock("A.2"), 5)]),
        },
        ConfirmationKind::CycleCount,
    )
}

fn decisions(events: &[Event]) -> Vec<(&'static str, WindowDecision)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WindowReconciled(d) => Some(("RECONCILED", d.clone())),
            Event::WindowDiscrepancy(d) => Some(("DISCREPANCY", d.clone())),
            _ => None,
        })
        .collect()
}

/// Given the ledger holds 20 at A.1 and 5 at A.2 (and the movements log ends at (0:40, 1:2)), when
/// the executor counts `counted` at A.1 (and 5 at A.2): the memory and the outcome.
async fn counting(counted: i64) -> (Arc<Memory>, ConfirmOutcome) {
    let memory = Memory::new();
    *memory.stock.lock().unwrap() = Totals::from([(stock("A.1"), 20), (stock("A.2"), 5)]);
    let outcome = memory
        .app()
        .confirm(cycle_count(counted), Fingerprint::exact("fp"))
        .await;
    (memory, outcome.unwrap())
}

#[tokio::test]
async fn a_count_that_matches_the_ledger_is_reconciled_below_the_log_end() {
    let (memory, outcome) = counting(20).await;
    // Then the window is RECONCILED, the decision records the log position it covered, no page
    assert_eq!(outcome.window_status, WindowStatus::Reconciled);
    assert!(!outcome.replay);
    let events = memory.appended();
    assert!(matches!(events[0], Event::Confirmation(_)));
    let decided = decisions(&events);
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].0, "RECONCILED");
    assert_eq!(
        decided[0].1.realtime_through,
        vec![
            LogPosition {
                partition: 0,
                next_offset: 40
            },
            LogPosition {
                partition: 1,
                next_offset: 2
            }
        ]
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Notification(_))));
}

#[tokio::test]
async fn a_count_one_short_is_a_discrepancy_with_an_urgent_page() {
    let (memory, outcome) = counting(19).await;
    // Then DISCREPANCY: the A.1 line differs by -1, the A.2 line matches, and one URGENT page names it
    assert_eq!(outcome.window_status, WindowStatus::Discrepancy);
    let events = memory.appended();
    let (word, decision) = decisions(&events).remove(0);
    assert_eq!(word, "DISCREPANCY");
    let differing: Vec<_> = decision.lines.iter().filter(|l| !l.matched).collect();
    assert_eq!(differing.len(), 1);
    assert_eq!(
        (
            differing[0].confirmed,
            differing[0].realtime,
            differing[0].delta
        ),
        (19, 20, -1)
    );
    let pages = of!(events, Event::Notification);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].severity, "URGENT");
    assert_eq!(pages[0].source_id, decision.event_id);
}

#[tokio::test]
async fn a_ledger_behind_the_log_leaves_the_window_pending_and_the_replay_decides_it() {
    // Given the ledger has not caught up with the movements log
    let memory = Memory::new();
    *memory.ledger_behind.lock().unwrap() = true;
    let app = memory.app();
    // When the count is confirmed
    let first = app
        .confirm(cycle_count(20), Fingerprint::exact("fp"))
        .await
        .unwrap();
    // Then it is accepted but PENDING, and nothing is decided
    assert_eq!(first.window_status, WindowStatus::Pending);
    assert!(decisions(&memory.appended()).is_empty());
    // When the ledger catches up and the same confirmation is sent again
    *memory.ledger_behind.lock().unwrap() = false;
    let again = app
        .confirm(cycle_count(20), Fingerprint::exact("fp"))
        .await
        .unwrap();
    // Then it is a replay, and this time the window is decided
    assert!(again.replay);
    assert_ne!(again.window_status, WindowStatus::Pending);
    assert_eq!(decisions(&memory.appended()).len(), 1);
}

#[tokio::test]
async fn a_second_confirmation_of_a_window_is_a_conflict_and_writes_nothing() {
    // Given a window already confirmed by count-1
    let memory = Memory::new();
    let app = memory.app();
    app.confirm(cycle_count(20), Fingerprint::exact("fp"))
        .await
        .unwrap();
    let written = memory.appended().len();
    // When another correlation id confirms the same window
    let Confirmation::Count(mut count, kind) = cycle_count(20) else {
        unreachable!()
    };
    count.correlation_id = CorrelationId::parse("count-2").unwrap();
    let refused = app
        .confirm(Confirmation::Count(count, kind), Fingerprint::exact("fp2"))
        .await;
    // Then 409, and the log is unchanged
    assert!(matches!(refused, Err(AppError::Conflict(_))), "{refused:?}");
    assert_eq!(memory.appended().len(), written);
}

/// Given: a DISCREPANCY window of a cycle count (counted 19 at A.1, ledger 20; A.2 matches at 5)
/// with its queue entry OPEN.
fn discrepancy_window(memory: &Arc<Memory>, kind: ConfirmationKind) -> WindowRow {
    let key = window_key();
    let confirmation = ConfirmationRecorded::from_count(
        &StockCount {
            correlation_id: CorrelationId::parse("count-1").unwrap(),
            window: key.clone(),
            as_of: UtcMillis(END),
            scope: CountScope::Partial,
            counts: Totals::from([(stock("A.1"), 19), (stock("A.2"), 5)]),
        },
        ConfirmationKind::CycleCount,
        "fp".into(),
        UtcMillis(END + 1),
    );
    let comparison = compare_stock(
        &confirmation.totals().unwrap(),
        &Totals::from([(stock("A.1"), 20), (stock("A.2"), 5)]),
        CountScope::Partial,
        0,
    );
    let decision = WindowDecision::of(
        &confirmation,
        &comparison,
        0,
        vec![LogPosition {
            partition: 0,
            next_offset: 40,
        }],
        UtcMillis(END + 2),
    );
    let row = WindowRow {
        window_id: key.id(),
        partner_id: EXECUTOR.into(),
        warehouse_id: WAREHOUSE.into(),
        window_start: UtcMillis(START).to_rfc3339(),
        window_end: UtcMillis(END).to_rfc3339(),
        status: WindowStatus::Discrepancy,
        kind: Some(kind),
        as_of: Some(UtcMillis(END).to_rfc3339()),
        as_of_ms: Some(END),
        scope: Some(CountScope::Partial),
        correlation_id: Some("count-1".into()),
        confirmation_event_id: Some(confirmation.event_id.clone()),
        decision_event_id: Some(decision.event_id.clone()),
        confirmed_at: None,
        confirmed_at_ms: Some(END + 1),
        decided_at: None,
        tolerance: Some(0),
        lines: Some(decision.lines.clone()),
        confirmation_lines: Some(confirmation.lines.clone()),
        realtime_through: Some(decision.realtime_through.clone()),
        resolution: None,
        compensating_movements: 0,
        key,
        effective_at: UtcMillis(END - 1),
    };
    memory
        .windows
        .lock()
        .unwrap()
        .insert(row.window_id.clone(), row.clone());
    memory.entries.lock().unwrap().insert(
        decision.event_id.clone(),
        SupervisorEntryRow {
            entry_id: decision.event_id.clone(),
            warehouse_id: WAREHOUSE.into(),
            status: EntryStatus::Open,
            source: Some(QueueSource::WindowDiscrepancy),
            code: None,
            severity: None,
            occurred_at: None,
            opened_at: None,
            partner_id: None,
            correlation_id: None,
            document_ref: None,
            sku: None,
            location: None,
            qty: None,
            device_id: None,
            message: None,
            acknowledged: None,
            closed: None,
        },
    );
    *memory.stock.lock().unwrap() = Totals::from([(stock("A.1"), 20), (stock("A.2"), 5)]);
    row
}

/// When a supervisor resolves a DISCREPANCY window of `kind` with `resolution`: the memory it ran
/// on and the answer.
async fn resolving(
    kind: ConfirmationKind,
    resolution: Resolution,
    adjustments: Vec<serde_json::Value>,
) -> (Arc<Memory>, Result<serde_json::Value, AppError>) {
    let adjustments = wes_domain::parse::stock_lines(Some(&json!(adjustments)), "adjustments")
        .expect("well-formed adjustment lines");
    let memory = Memory::new();
    let window = discrepancy_window(&memory, kind);
    let command = Resolve {
        window_id: window.window_id.clone(),
        supervisor_id: "sup-7".into(),
        reason: "recounted".into(),
        resolution,
        adjustments,
    };
    let answer = memory
        .app()
        .resolve(&memory.partner(SUPERVISOR), command)
        .await;
    (memory, answer)
}

/// `resolving` a cycle count's window.
async fn resolving_count(
    resolution: Resolution,
    adjustments: Vec<serde_json::Value>,
) -> (Arc<Memory>, Result<serde_json::Value, AppError>) {
    resolving(ConfirmationKind::CycleCount, resolution, adjustments).await
}

fn movements(events: &[Event]) -> Vec<&wes_events::MovementRecorded> {
    of!(events, Event::Movement)
}

fn closes(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::SupervisorAction(a) if a.action == "CLOSE"))
        .count()
}

#[tokio::test]
async fn accept_confirmation_appends_the_compensating_adjust_then_reconciles_and_closes() {
    // Given a count one short of the ledger, when the supervisor accepts the count
    let (memory, answer) = resolving_count(Resolution::AcceptConfirmation, vec![]).await;
    answer.unwrap();
    // Then one ADJUST of -1 at A.1 under the reconciler, dated just before the count, comes first
    let events = memory.appended();
    let adjusts = movements(&events);
    assert_eq!(adjusts.len(), 1);
    let adjust = adjusts[0];
    assert_eq!(
        (
            adjust.kind.as_str(),
            adjust.qty,
            adjust.to_location.as_deref()
        ),
        ("ADJUST", -1, Some("A.1"))
    );
    assert_eq!(adjust.partner_id, RECONCILER_PARTNER);
    assert_eq!(adjust.occurred_at, END - 1);
    assert!(matches!(events[0], Event::Movement(_)));
    // and the window is RECONCILED by the supervisor, with one compensating movement, entry closed
    let (word, decision) = decisions(&events).remove(0);
    assert_eq!(word, "RECONCILED");
    assert_eq!(decision.resolution.as_deref(), Some("ACCEPT_CONFIRMATION"));
    assert_eq!(decision.resolved_by.as_deref(), Some("sup-7"));
    assert_eq!(decision.compensating_movements, 1);
    assert_eq!(closes(&events), 1);
}

#[tokio::test]
async fn accept_realtime_writes_no_movement() {
    let (memory, answer) = resolving_count(Resolution::AcceptRealtime, vec![]).await;
    answer.unwrap();
    let events = memory.appended();
    assert!(movements(&events).is_empty());
    let (_, decision) = decisions(&events).remove(0);
    assert_eq!(decision.resolution.as_deref(), Some("ACCEPT_REALTIME"));
    assert_eq!(decision.compensating_movements, 0);
    assert_eq!(closes(&events), 1);
}

#[tokio::test]
async fn a_manual_adjustment_that_does_not_reconcile_is_refused_and_writes_nothing() {
    // When the supervisor adjusts A.1 by +1 (the count says one fewer)
    let wrong = vec![json!({"sku": SKU, "location": "A.1", "qty": 1})];
    let (memory, answer) = resolving_count(Resolution::ManualAdjustment, wrong).await;
    // Then 409 naming what still differs, and nothing was appended
    match answer {
        Err(AppError::Conflict(detail)) => assert!(detail.contains("counted 19, ledger 21")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(memory.appended().is_empty());
}

#[tokio::test]
async fn a_manual_adjustment_that_reconciles_is_written_with_the_new_comparison() {
    let right = vec![json!({"sku": SKU, "location": "A.1", "qty": -1})];
    let (memory, answer) = resolving_count(Resolution::ManualAdjustment, right).await;
    answer.unwrap();
    let events = memory.appended();
    let adjusts = movements(&events);
    assert_eq!(adjusts.len(), 1);
    assert_eq!(adjusts[0].qty, -1);
    let (_, decision) = decisions(&events).remove(0);
    assert_eq!(decision.resolution.as_deref(), Some("MANUAL_ADJUSTMENT"));
    assert!(decision.lines.iter().all(|l| l.matched));
}

#[tokio::test]
async fn manual_adjustments_are_refused_field_by_field_and_never_for_a_shift_summary() {
    // A line naming an unknown location is refused by the movement rules, with its field; a shift
    // summary compares movement totals, which ADJUST lines cannot change. Neither writes anything.
    for (kind, location, field) in [
        (
            ConfirmationKind::CycleCount,
            "Z.9",
            "/adjustments/0/location",
        ),
        (ConfirmationKind::ShiftSummary, "A.1", "/resolution"),
    ] {
        let line = vec![json!({"sku": SKU, "location": location, "qty": -1})];
        let (memory, answer) = resolving(kind, Resolution::ManualAdjustment, line).await;
        assert!(
            matches!(&answer, Err(AppError::Rejected(r)) if r.field == field),
            "{kind}: {answer:?}"
        );
        assert!(memory.appended().is_empty());
    }
}

#[tokio::test]
async fn only_a_discrepancy_window_is_resolved() {
    let memory = Memory::new();
    let mut window = discrepancy_window(&memory, ConfirmationKind::CycleCount);
    window.status = WindowStatus::Reconciled;
    memory
        .windows
        .lock()
        .unwrap()
        .insert(window.window_id.clone(), window.clone());
    let command = Resolve {
        window_id: window.window_id.clone(),
        supervisor_id: "sup-7".into(),
        reason: "again".into(),
        resolution: Resolution::AcceptRealtime,
        adjustments: vec![],
    };
    let refused = memory
        .app()
        .resolve(&memory.partner(SUPERVISOR), command)
        .await;
    assert!(matches!(refused, Err(AppError::Conflict(_))), "{refused:?}");
    assert!(memory.appended().is_empty());
}

#[tokio::test]
async fn the_watcher_flags_a_late_movement_and_decides_a_stale_pending_window() {
    // Given a decided window with one movement beyond its position, and a PENDING one confirmed
    // longer ago than the grace period
    let memory = Memory::new();
    let decided = WatchedWindow {
        key: window_key(),
        confirmation: None,
        realtime_through: Some(vec![(0, 40)]),
    };
    *memory.late.lock().unwrap() = vec![LateMovementRow {
        event_id: "mv-41".into(),
        correlation_id: "late-1".into(),
        kind: "PICK".into(),
        sku: SKU.into(),
        qty: 2,
        occurred_at: START + 10,
    }];
    let mut pending_key = window_key();
    pending_key.start = UtcMillis(END);
    pending_key.end = UtcMillis(END + 1000);
    let confirmation = ConfirmationRecorded::from_count(
        &StockCount {
            correlation_id: CorrelationId::parse("count-9").unwrap(),
            window: pending_key.clone(),
            as_of: UtcMillis(END + 1000),
            scope: CountScope::Partial,
            counts: Totals::new(),
        },
        ConfirmationKind::CycleCount,
        "fp".into(),
        UtcMillis(memory.now.lock().unwrap().0 - 31_000),
    );
    let pending = WatchedWindow {
        key: pending_key,
        confirmation: Some(confirmation),
        realtime_through: None,
    };
    *memory.watched.lock().unwrap() = vec![decided, pending];
    // When the watcher sweeps
    memory.app().sweep_windows().await.unwrap();
    // Then the late movement is flagged once (id from window and movement), the pending window decided
    let events = memory.appended();
    let flags = of!(events, Event::LateMovement);
    assert_eq!(flags.len(), 1);
    assert_eq!(
        flags[0].event_id,
        wes_events::LateMovementFlagged::id_for(&window_key().key_text(), "mv-41")
    );
    assert_eq!(decisions(&events).len(), 1);
}

/// A release event for admission scenarios: its correlation id is `cid`.
fn dispatch_of(item: &serde_json::Value) -> Event {
    let cid = item["correlation_id"].as_str().unwrap();
    Event::Dispatch(wes_events::DispatchEvent::from_domain(
        &wes_domain::release::Release {
            kind: wes_domain::release::ReleaseKind::ShipperReleased,
            correlation_id: CorrelationId::parse(cid).unwrap(),
            planner_id: PlannerId::parse("planner").unwrap(),
            warehouse_id: WarehouseId::parse("WH-Tokyo-01").unwrap(),
            document_ref: wes_domain::movement::DocumentRef {
                doc_type: wes_domain::movement::DocumentType::Shipper,
                id: cid.into(),
                line_no: None,
            },
            routing: Default::default(),
            lines: vec![],
            released_at: UtcMillis(0),
            priority: wes_domain::release::Priority::Normal,
            cancelled_correlation_id: None,
            envelope: Default::default(),
        },
    ))
}

/// Admits every item but `b`.
fn refuse_b(event: &Event) -> Result<(), Rejection> {
    match event {
        Event::Dispatch(d) if d.correlation_id == "b" => {
            Err(Rejection::conflict("/document_ref", "b may not pass"))
        }
        _ => Ok(()),
    }
}

async fn admitting(
    memory: &Arc<Memory>,
    all_or_nothing: bool,
) -> Result<Vec<crate::ingest::ItemResult>, AppError> {
    let items = [
        json!({"correlation_id": "a"}),
        json!({"correlation_id": "b"}),
    ];
    let admission = crate::ingest::Admission {
        admit: refuse_b,
        all_or_nothing,
    };
    memory
        .app()
        .ingest_admitting(
            wes_domain::idempotency::IdempotencyScope::Dispatch,
            "planner",
            &items,
            |item, _, _| Ok(dispatch_of(item)),
            admission,
        )
        .await
}

#[tokio::test]
async fn an_item_the_admission_refuses_is_not_written_and_its_key_is_free_again() {
    // Given two new items, the second refused by the admission rule
    let memory = Memory::new();
    // When they are ingested item by item
    let results = admitting(&memory, false).await.unwrap();
    // Then the first is written, the second refused with the rule's problem, its key released
    assert_eq!(results[0].status, crate::ingest::ItemStatus::Accepted);
    assert!(matches!(
        results[1].problem,
        Some(AppError::Rejected(ref r)) if r.kind == RejectionKind::Conflict
    ));
    assert_eq!(memory.appended().len(), 1);
    let keys = memory.keys.lock().unwrap();
    assert!(keys.keys().any(|(_, _, cid)| cid == "a"));
    assert!(!keys.keys().any(|(_, _, cid)| cid == "b"));
}

#[tokio::test]
async fn all_or_nothing_writes_nothing_when_one_item_is_refused() {
    // Given the same two items, to stand or fall together
    let memory = Memory::new();
    // When they are ingested
    let refused = admitting(&memory, true).await;
    // Then the request is refused with the second item's problem, nothing is written and no key
    // is left claimed
    assert!(
        matches!(refused, Err(AppError::Rejected(ref r)) if r.detail == "b may not pass"),
        "{refused:?}"
    );
    assert!(memory.appended().is_empty());
    assert!(memory.keys.lock().unwrap().is_empty());
}
