//! Dispatch releases (contract §2): keyed `(planner_id, correlation_id)` like realtime events; a
//! missing `correlation_id` is assigned. One live release per document: a CANCELLED names a
//! release of its own document, once; amend = that CANCELLED, then a fresh release.

use crate::ingest::{Admission, ItemResult};
use crate::{App, AppError};
use serde_json::{Value, json};
use std::time::Duration;
use wes_domain::idempotency::IdempotencyScope;
use wes_domain::release::{
    DispatchSnapshot, DocumentKey, ReleaseDefaults, check_against_dispatched, validate_release,
};
use wes_domain::{CorrelationId, PlannerId, Rejection, WarehouseId};
use wes_events::catalog::topics;
use wes_events::{DispatchEvent, Event};
use wes_store::ProjectionKind;

/// How long a release waits for the dispatch projection to hold the whole log.
const DISPATCH_WAIT: Duration = Duration::from_secs(10);

fn planner_of(item: &Value) -> Option<String> {
    item.get("planner_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The document an item names, when it names one well enough to look it up.
fn document_of(item: &Value) -> Option<DocumentKey> {
    Some(DocumentKey {
        warehouse_id: WarehouseId::parse(item.get("warehouse_id")?.as_str()?)?,
        document: wes_domain::parse::document_ref("/document_ref", item.get("document_ref")?)
            .ok()?,
    })
}

impl App {
    /// Releases `items` (one request speaks for one planner); one result per item, in order.
    pub async fn release(&self, items: Vec<Value>) -> Result<Vec<ItemResult>, AppError> {
        self.release_items(items, false).await
    }

    /// `all_or_nothing`: the items stand or fall together (an amendment's CANCELLED never goes
    /// without its release): if one is refused, nothing is written and the request is refused.
    async fn release_items(
        &self,
        mut items: Vec<Value>,
        all_or_nothing: bool,
    ) -> Result<Vec<ItemResult>, AppError> {
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
        // The rules read the dispatch log, then the request appends: one request at a time in
        // this hub, and only once the projection holds everything appended before.
        let Ok(_turn) = tokio::time::timeout(DISPATCH_WAIT, self.dispatch_turn.lock()).await else {
            return Err(AppError::Unavailable(
                "other releases are being written; retry".into(),
            ));
        };
        self.dispatch_caught_up().await?;
        let mut snapshot = self.dispatch_snapshot(&items, &request_planner).await?;
        let md = self.reads.master_data();
        let to_event = |item: &Value, _fingerprint, now| {
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
            let release = validate_release(item, &md, defaults)?;
            Ok(Event::Dispatch(DispatchEvent::from_domain(&release)))
        };
        // The rules meet new items only, in order, each seeing the ones admitted before it.
        let admit = |event: &Event| {
            let Event::Dispatch(dispatch) = event else {
                return Ok(());
            };
            let release = dispatch
                .to_domain()
                .map_err(|e| Rejection::malformed("", e.to_string()))?;
            check_against_dispatched(&release, &snapshot)?;
            snapshot.record(&release);
            Ok(())
        };
        let admission = Admission {
            admit,
            all_or_nothing,
        };
        self.ingest_admitting(
            IdempotencyScope::Dispatch,
            &key_owner,
            &items,
            to_event,
            admission,
        )
        .await
    }

    /// Waits until the dispatch projection holds everything in the log now.
    async fn dispatch_caught_up(&self) -> Result<(), AppError> {
        let end = self.log.log_end(topics::DISPATCH).await?;
        if self
            .log
            .wait_through(ProjectionKind::DISPATCH, &end, DISPATCH_WAIT)
            .await
        {
            Ok(())
        } else {
            Err(AppError::Unavailable(
                "the dispatch projection is behind the log; retry".into(),
            ))
        }
    }

    /// What the dispatch log holds of the documents and releases `items` name.
    async fn dispatch_snapshot(
        &self,
        items: &[Value],
        planner: &PlannerId,
    ) -> Result<DispatchSnapshot, AppError> {
        let mut snapshot = DispatchSnapshot::default();
        for item in items {
            if let Some(document) = document_of(item)
                && let Some((planner, live)) = self.reads.live_release(&document).await?
            {
                snapshot.knows_live(document, planner, live);
            }
            if let Some(original) = item
                .get("cancelled_correlation_id")
                .and_then(Value::as_str)
                .and_then(CorrelationId::parse)
                && let Some(dispatched) = self
                    .reads
                    .dispatched(planner.as_str(), original.as_str())
                    .await?
            {
                snapshot.knows(planner.clone(), original, dispatched);
            }
        }
        Ok(snapshot)
    }

    /// Amends (or reprioritizes) the live release `original`: appends a CANCELLED of it, then
    /// `body` as a fresh release of the same document, in that order and in one partition, or
    /// neither. The CANCELLED's correlation id is derived from the fresh release's, so a retry
    /// with the same body replays both.
    pub async fn amend(
        &self,
        original: &str,
        mut body: Value,
    ) -> Result<(ItemResult, ItemResult), AppError> {
        let Some(map) = body.as_object_mut() else {
            return Err(Rejection::malformed("", "the body must be a release object").into());
        };
        if map.get("kind").and_then(Value::as_str) == Some("CANCELLED") {
            return Err(Rejection::malformed(
                "/kind",
                "an amendment is a fresh release, not a CANCELLED",
            )
            .into());
        }
        let fresh = map
            .entry("correlation_id")
            .or_insert_with(|| Value::String(uuid::Uuid::now_v7().to_string()))
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if fresh == original {
            return Err(Rejection::unprocessable(
                "/correlation_id",
                "an amendment is a fresh release: give it a new correlation_id",
            )
            .into());
        }
        let planner = match planner_of(&body) {
            None => self.settings.planner_id.to_string(),
            Some(named) => PlannerId::parse(&named)
                .ok_or_else(|| {
                    Rejection::malformed("/planner_id", "`planner_id` is not a valid id")
                })?
                .to_string(),
        };
        self.dispatch_caught_up().await?;
        let amended = self
            .reads
            .dispatched(&planner, original)
            .await?
            .filter(|d| d.kind != wes_domain::release::ReleaseKind::Cancelled)
            .ok_or_else(|| {
                AppError::NotFound(format!("no release {original} of planner {planner}"))
            })?;
        if document_of(&body).is_some_and(|d| d != amended.document) {
            return Err(Rejection::unprocessable(
                "/document_ref",
                format!(
                    "release {original} is for {}: an amendment keeps its warehouse and document",
                    amended.document
                ),
            )
            .into());
        }
        let cancel_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("amend\u{0}{planner}\u{0}{fresh}").as_bytes(),
        );
        let cancel = json!({
            "kind": "CANCELLED",
            "correlation_id": cancel_id.to_string(),
            "planner_id": planner,
            "warehouse_id": body.get("warehouse_id").cloned().unwrap_or(Value::Null),
            "document_ref": body.get("document_ref").cloned().unwrap_or(Value::Null),
            "cancelled_correlation_id": original,
        });
        body["planner_id"] = Value::String(planner);
        let mut results = self
            .release_items(vec![cancel, body], true)
            .await
            .map_err(|e| match e {
                // The CANCELLED's field is the path's correlation id here.
                AppError::Rejected(r) if r.field == "/cancelled_correlation_id" => {
                    AppError::Rejected(Rejection {
                        field: String::new(),
                        ..r
                    })
                }
                other => other,
            })?
            .into_iter();
        match (results.next(), results.next()) {
            (Some(cancelled), Some(released)) => Ok((cancelled, released)),
            _ => Err(AppError::Internal("an amendment has two results".into())),
        }
    }
}
