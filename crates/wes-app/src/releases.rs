//! Dispatch releases (contract §2): keyed `(planner_id, correlation_id)` like realtime events; a
//! missing `correlation_id` is assigned; a CANCELLED must name a release that exists.

use crate::ingest::ItemResult;
use crate::ports::KeyOwner;
use crate::{App, AppError};
use serde_json::Value;
use std::collections::HashSet;
use wes_domain::idempotency::IdempotencyScope;
use wes_domain::release::{ReleaseDefaults, validate_release};
use wes_domain::{CorrelationId, PlannerId, Rejection};
use wes_events::{DispatchEvent, Event};

fn planner_of(item: &Value) -> Option<String> {
    item.get("planner_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl App {
    /// Releases `items` (one request speaks for one planner); one result per item, in order.
    pub async fn release(&self, mut items: Vec<Value>) -> Result<Vec<ItemResult>, AppError> {
        // Assign correlation ids first, so the idempotency key and the result carry them.
        for item in &mut items {
            if let Value::Object(map) = item {
                map.entry("correlation_id")
                    .or_insert_with(|| Value::String(uuid::Uuid::now_v7().to_string()));
            }
        }
        let planner_default = self.settings.planner_id.clone();
        // Idempotency keys are `(planner_id, correlation_id)`; items that name no planner belong
        // to the request's planner.
        let key_owner = items
            .first()
            .and_then(planner_of)
            .unwrap_or_else(|| planner_default.to_string());
        let request_planner = PlannerId::parse(&key_owner).unwrap_or(planner_default);
        // Which releases exist is read before validation (validation itself does no IO).
        let mut known = HashSet::new();
        for item in &items {
            if let Some(original) = item.get("cancelled_correlation_id").and_then(Value::as_str) {
                let planner = planner_of(item).unwrap_or_else(|| request_planner.to_string());
                let of = KeyOwner {
                    scope: IdempotencyScope::Dispatch,
                    owner: &planner,
                };
                if self.keys.is_done(of, original).await?
                    || self.reads.release_exists(&planner, original).await?
                {
                    known.insert((planner, original.to_owned()));
                }
            }
        }
        let md = self.reads.master_data();
        self.ingest(
            IdempotencyScope::Dispatch,
            &key_owner,
            &items,
            |item, _fingerprint, now| {
                if planner_of(item).is_some_and(|p| p != key_owner) {
                    return Err(Rejection::malformed(
                        "/planner_id",
                        "all releases of one request must share one planner_id",
                    ));
                }
                let defaults = ReleaseDefaults {
                    planner_id: request_planner.clone(),
                    correlation_id: CorrelationId::from_trusted(uuid::Uuid::now_v7().to_string()),
                    now,
                };
                let release = validate_release(
                    item,
                    &md,
                    defaults,
                    |planner: &PlannerId, original: &CorrelationId| {
                        known.contains(&(planner.to_string(), original.to_string()))
                    },
                )?;
                Ok(Event::Dispatch(DispatchEvent::from_domain(&release)))
            },
        )
        .await
    }
}
