//! A supervisor resolves a DISCREPANCY window (contract §4), and it becomes RECONCILED:
//! - accept-confirmation first appends compensating ADJUST movements so the ledger equals the
//!   confirmation;
//! - accept-realtime discards the confirmation's deltas;
//! - manual-adjustment (counts and snapshots) appends the supervisor's ADJUST lines after checking
//!   that, with them, the ledger as of the count matches (409 and nothing written otherwise).
//!
//! Corrections go through the movements log under the reconciler partner, so they never count
//! towards a window's realtime sum. The window's queue entry is closed with the same reason.

use crate::reconciler::positions;
use crate::{App, AppError};
use serde_json::Value;
use wes_domain::masterdata::{MasterData, Partner};
use wes_domain::movement::{Actor, ActorKind, Movement, MovementKind, check_movement};
use wes_domain::reconcile::{
    ConfirmationKind, CountLine, LineKey, Resolution, WindowStatus, compare_stock, compensation,
};
use wes_domain::supervisor::{EntryStatus, SupervisorAction};
use wes_domain::*;
use wes_events::{ComparedLine, Event, MovementRecorded, SupervisorActionRecorded, WindowDecision};
use wes_store::windows::WindowRow;

/// The partner compensating ADJUST movements are recorded under (never an executor, so they never
/// count towards a window's realtime sum).
pub const RECONCILER_PARTNER: &str = "wes/reconciler";

/// A supervisor's resolution of one window.
#[derive(Debug, Clone)]
pub struct Resolve {
    pub window_id: String,
    pub supervisor_id: String,
    pub reason: String,
    pub resolution: Resolution,
    /// manual-adjustment only: the stock lines to adjust, signed quantities.
    pub adjustments: Vec<CountLine>,
}

/// A correction of `window`'s stock, recorded under the reconciler partner with a correlation id
/// derived from `seed`, dated when the window's corrections take effect.
fn correction(
    window: &WindowRow,
    mut movement: Movement,
    seed: &str,
    supervisor_id: &str,
    now: UtcMillis,
) -> Event {
    let cid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes());
    movement.correlation_id = CorrelationId::from_trusted(cid.to_string());
    movement.occurred_at = window.effective_at;
    movement.actor = Some(Actor {
        kind: ActorKind::Human,
        id: supervisor_id.to_owned(),
    });
    Event::Movement(MovementRecorded::from_domain(
        &movement,
        &PartnerId::from_trusted(RECONCILER_PARTNER),
        format!("correction of window {}", window.window_id),
        now,
    ))
}

fn base_uom(md: &MasterData, sku: &SkuCode) -> String {
    md.skus
        .get(sku)
        .map_or_else(String::new, |s| s.base_uom.clone())
}

/// The ADJUSTs that make the ledger equal the confirmation, line by line.
fn compensations(window: &WindowRow, md: &MasterData) -> Result<Vec<(String, Movement)>, AppError> {
    let comparison = wes_events::comparison_of(window.lines.as_deref().unwrap_or_default())?;
    let decision_id = window.decision_event_id.clone().unwrap_or_default();
    let mut out = vec![];
    for (i, line) in comparison.discrepancies().enumerate() {
        for delta in compensation(line) {
            let movement = Movement {
                correlation_id: CorrelationId::from_trusted(""),
                kind: MovementKind::Adjust,
                warehouse_id: window.key.warehouse_id.clone(),
                sku: line.key.sku.clone(),
                qty: delta.qty,
                uom: base_uom(md, &line.key.sku),
                from_location: None,
                lot: line.key.lot.clone(),
                serial: line.key.serial.clone(),
                to_location: Some(delta.location.clone()),
                document_ref: None,
                occurred_at: window.effective_at,
                actor: None,
            };
            out.push((format!("{decision_id}/{i}/{}", delta.location), movement));
        }
    }
    Ok(out)
}

/// The supervisor's adjustment lines as ADJUST movements of the window's warehouse, dated when
/// its corrections take effect, held to the movement rules (problems under `/adjustments/<i>`).
fn manual_adjustments(
    window: &WindowRow,
    md: &MasterData,
    adjustments: Vec<CountLine>,
) -> Result<Vec<Movement>, AppError> {
    let mut adjusted = vec![];
    for (i, line) in adjustments.into_iter().enumerate() {
        let movement = Movement {
            correlation_id: CorrelationId::from_trusted("manual"),
            kind: MovementKind::Adjust,
            warehouse_id: window.key.warehouse_id.clone(),
            uom: line.uom.unwrap_or_else(|| base_uom(md, &line.sku)),
            sku: line.sku,
            qty: line.qty,
            from_location: None,
            to_location: Some(line.location),
            lot: line.lot,
            serial: line.serial,
            document_ref: None,
            occurred_at: window.effective_at,
            actor: None,
        };
        check_movement(&movement, md).map_err(|r| {
            let field = if r.field == "/to_location" {
                "/location".to_owned()
            } else {
                r.field.clone()
            };
            Rejection { field, ..r }.within(&format!("/adjustments/{i}"))
        })?;
        adjusted.push(movement);
    }
    Ok(adjusted)
}

impl App {
    /// Resolves a DISCREPANCY window; returns the window as it then stands.
    pub async fn resolve(&self, partner: &Partner, command: Resolve) -> Result<Value, AppError> {
        let Resolve {
            window_id,
            supervisor_id,
            reason,
            resolution,
            adjustments,
        } = command;
        if (resolution == Resolution::ManualAdjustment) == adjustments.is_empty() {
            return Err(Rejection::malformed(
                "/adjustments",
                "`adjustments` are given with, and only with, a manual-adjustment",
            )
            .into());
        }
        let window = self.window_for(partner, &window_id).await?;
        if window.status != WindowStatus::Discrepancy {
            return Err(AppError::Conflict(format!(
                "window {window_id} is {}; only a DISCREPANCY window is resolved",
                window.status
            )));
        }
        let decision_id = window.decision_event_id.clone().unwrap_or_default();
        let mut lines: Vec<ComparedLine> = window.lines.clone().unwrap_or_default();
        let mut realtime_through = window.realtime_through.clone().unwrap_or_default();
        let md = self.reads.master_data();
        let now = self.clock.now();
        let mut corrections = vec![];
        match resolution {
            Resolution::AcceptConfirmation => {
                for (seed, movement) in compensations(&window, &md)? {
                    corrections.push(correction(&window, movement, &seed, &supervisor_id, now));
                }
            }
            Resolution::AcceptRealtime => {}
            Resolution::ManualAdjustment => {
                if window.kind == Some(ConfirmationKind::ShiftSummary) {
                    return Err(Rejection::unprocessable(
                        "/resolution",
                        "a shift summary compares movement totals per kind, which ADJUST lines cannot change: resolve it with accept-confirmation or accept-realtime",
                    )
                    .into());
                }
                let adjusted = manual_adjustments(&window, &md, adjustments)?;
                let (checked, ends) = self.recheck_with(&window, &adjusted).await?;
                lines = checked;
                realtime_through = positions(&ends);
                for (i, movement) in adjusted.into_iter().enumerate() {
                    let seed = format!("{decision_id}/manual/{i}");
                    corrections.push(correction(&window, movement, &seed, &supervisor_id, now));
                }
            }
        }
        for delivery in self.log.append(&corrections).await {
            delivery?;
        }
        let resolved = WindowDecision {
            event_id: idempotency::event_id(
                "window-resolution",
                &window.partner_id,
                &window.key.key_text(),
            )
            .to_string(),
            recorded_at: now.0,
            window_id: window.window_id.clone(),
            partner_id: window.partner_id.clone(),
            warehouse_id: window.warehouse_id.clone(),
            warehouse_frn: WarehouseFrn::for_warehouse(&window.key.warehouse_id).to_string(),
            window_start: window.key.start.0,
            window_end: window.key.end.0,
            confirmation_event_id: window.confirmation_event_id.clone().unwrap_or_default(),
            confirmation_correlation_id: window.correlation_id.clone().unwrap_or_default(),
            tolerance: window.tolerance.unwrap_or_default(),
            lines,
            realtime_through,
            resolved_by: Some(supervisor_id.clone()),
            resolution: Some(resolution.as_str().into()),
            resolution_reason: Some(reason.clone()),
            compensating_movements: corrections.len() as i64,
        };
        self.append_visible(Event::WindowReconciled(resolved))
            .await?;
        if let Some((entry, _)) = self.reads.supervisor_entry(&decision_id).await?
            && entry.status != EntryStatus::Closed
        {
            let close = SupervisorActionRecorded::new(
                &decision_id,
                &window.key.warehouse_id,
                SupervisorAction::Close,
                &supervisor_id,
                &partner.partner_id,
                Some(format!("window resolved ({resolution}): {reason}")),
                now,
            );
            self.append_one(close.into()).await?;
        }
        let window = self.window_for(partner, &window_id).await?;
        self.window_detail(window).await
    }

    /// Reconciliation again, with `adjusted` on top of the ledger as of the count: the compared
    /// lines and the log position when it now matches, 409 with what still differs otherwise.
    async fn recheck_with(
        &self,
        window: &WindowRow,
        adjusted: &[Movement],
    ) -> Result<(Vec<ComparedLine>, Vec<(i32, i64)>), AppError> {
        let ends = self.ledger_at_log_end().await?.ok_or_else(|| {
            AppError::Unavailable("the ledger is behind the movements log; retry".into())
        })?;
        let as_of = UtcMillis(window.effective_at.0 + 1);
        let mut ledger = self
            .reads
            .stock_at(&window.key.warehouse_id, as_of, &ends)
            .await?;
        for m in adjusted {
            let location = m
                .to_location
                .clone()
                .ok_or_else(|| AppError::Internal("a validated ADJUST has its location".into()))?;
            let key = LineKey::stock(m.sku.clone(), location, m.lot.clone(), m.serial.clone());
            *ledger.entry(key).or_default() += m.qty;
        }
        ledger.retain(|_, qty| *qty != 0);
        let confirmed =
            wes_events::totals_of(window.confirmation_lines.as_deref().unwrap_or_default())?;
        let scope = window
            .scope
            .unwrap_or(wes_domain::reconcile::CountScope::Partial);
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
            return Err(AppError::Conflict(format!(
                "with these adjustments the window still differs ({}); nothing was written",
                remaining.join("; ")
            )));
        }
        Ok((WindowDecision::lines_of(&comparison), ends))
    }
}
