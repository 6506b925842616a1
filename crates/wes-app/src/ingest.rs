//! Keyed ingest: validate each item into its event, claim idempotency keys, append the new
//! events (and the pages they raise), and report per item. Used by every keyed request: realtime
//! items and releases. Answers per the contract's idempotency rules; the HTTP edge shapes them.

use crate::ports::{Appended, KeyOwner};
use crate::{App, AppError};
use serde_json::Value;
use wes_domain::idempotency::{Claim, Fingerprint, IdempotencyScope};
use wes_domain::{Rejection, UtcMillis};
use wes_events::Event;
use wes_store::idempotency::KeyRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Accepted,
    Replay,
    Rejected,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Accepted => "ACCEPTED",
            ItemStatus::Replay => "REPLAY",
            ItemStatus::Rejected => "REJECTED",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    pub correlation_id: Option<String>,
    pub status: ItemStatus,
    pub problem: Option<AppError>,
}

impl ItemResult {
    fn rejected(correlation_id: Option<String>, problem: AppError) -> Self {
        ItemResult {
            correlation_id,
            status: ItemStatus::Rejected,
            problem: Some(problem),
        }
    }

    fn ok(correlation_id: &str, status: ItemStatus) -> Self {
        ItemResult {
            correlation_id: Some(correlation_id.to_owned()),
            status,
            problem: None,
        }
    }
}

/// The outcome of a claim that does not append: a replay, or why the item is refused.
pub fn claim_refusal(claim: Claim, what: &str, cid: &str) -> Option<Result<(), AppError>> {
    match claim {
        Claim::Fresh | Claim::TakeOver => None,
        Claim::Replay => Some(Ok(())),
        Claim::InFlight => Some(Err(AppError::InFlight(format!(
            "{what} with correlation_id {cid} is still being processed; retry later"
        )))),
        Claim::PayloadMismatch => Some(Err(AppError::KeyReused(format!(
            "correlation_id {cid} was already used with a different payload"
        )))),
    }
}

/// What a keyed request adds to plain ingest.
pub struct Admission<A> {
    /// A rule over the new items, in order, once their keys are claimed (a replay never meets it:
    /// it is in the log already). A refused item's key is released.
    pub admit: A,
    /// The items stand or fall together: if one is refused (or replays while one before it is
    /// new), nothing is appended and the request is refused with that item's problem.
    pub all_or_nothing: bool,
}

impl App {
    /// Validates, deduplicates and appends `items` under `(scope, owner, correlation_id)` keys.
    /// `to_event` turns one item (with its payload fingerprint and the request's instant) into its
    /// event. One result per item, in order.
    pub async fn ingest(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        items: &[Value],
        to_event: impl Fn(&Value, String, UtcMillis) -> Result<Event, Rejection>,
    ) -> Result<Vec<ItemResult>, AppError> {
        let admission = Admission {
            admit: |_: &Event| Ok(()),
            all_or_nothing: false,
        };
        self.ingest_admitting(scope, owner, items, to_event, admission)
            .await
    }

    /// `ingest` with an admission rule (see [`Admission`]).
    pub async fn ingest_admitting(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        items: &[Value],
        to_event: impl Fn(&Value, String, UtcMillis) -> Result<Event, Rejection>,
        mut admission: Admission<impl FnMut(&Event) -> Result<(), Rejection>>,
    ) -> Result<Vec<ItemResult>, AppError> {
        let now = self.clock.now();
        let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(items.len());
        let mut valid: Vec<(usize, String, Fingerprint, Event)> = vec![]; // (index, cid, fingerprint, event)
        for (index, item) in items.iter().enumerate() {
            let correlation_id = item
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let fingerprint = Fingerprint::of(item);
            match to_event(item, fingerprint.sha256.clone(), now) {
                Ok(event) => {
                    valid.push((
                        index,
                        correlation_id.unwrap_or_default(),
                        fingerprint,
                        event,
                    ));
                    results.push(None);
                }
                Err(rejection) => {
                    results.push(Some(ItemResult::rejected(correlation_id, rejection.into())))
                }
            }
        }
        if admission.all_or_nothing
            && let Some(refused) = results.iter_mut().find_map(Option::take)
        {
            return Err(refused.problem.expect("a validation result is a refusal"));
        }
        let keys: Vec<KeyRequest> = valid
            .iter()
            .map(|(_, cid, fp, _)| KeyRequest {
                correlation_id: cid,
                payload: fp,
            })
            .collect();
        let of = KeyOwner { scope, owner };
        let claims = self.keys.claim(of, now, &keys).await?;
        let mut fresh: Vec<(usize, String)> = vec![];
        let mut events: Vec<Event> = vec![];
        let mut released: Vec<String> = vec![];
        let mut refusal: Option<AppError> = None;
        for ((index, cid, _, event), claim) in valid.into_iter().zip(claims) {
            results[index] = match claim_refusal(claim, "a request", &cid) {
                None => match (admission.admit)(&event) {
                    Ok(()) => {
                        fresh.push((index, cid));
                        events.push(event);
                        continue;
                    }
                    Err(rejection) => {
                        released.push(cid.clone());
                        Some(ItemResult::rejected(Some(cid), rejection.into()))
                    }
                },
                Some(Ok(())) if admission.all_or_nothing && !fresh.is_empty() => {
                    refusal.get_or_insert(AppError::Conflict(format!(
                        "correlation_id {cid} is in the log already while the items before it are new: they are written together or replayed together"
                    )));
                    Some(ItemResult::ok(&cid, ItemStatus::Replay))
                }
                Some(Ok(())) => Some(ItemResult::ok(&cid, ItemStatus::Replay)),
                Some(Err(e)) => Some(ItemResult::rejected(Some(cid), e)),
            };
            if let Some(ItemResult {
                problem: Some(problem),
                ..
            }) = &results[index]
                && admission.all_or_nothing
            {
                refusal.get_or_insert(problem.clone());
            }
        }
        // Only all-or-nothing requests are refused as a whole: then every key they took is freed.
        if refusal.is_some() {
            released.extend(fresh.drain(..).map(|(_, cid)| cid));
        }
        if !released.is_empty() {
            let released: Vec<&str> = released.iter().map(String::as_str).collect();
            self.keys.settle(of, &[], &released).await?;
        }
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        let deliveries = self.append_with_notifications(&events).await;
        let (mut done, mut failed) = (vec![], vec![]);
        for ((index, cid), delivery) in fresh.iter().zip(deliveries) {
            results[*index] = Some(match delivery {
                Ok(_) => {
                    done.push(cid.as_str());
                    ItemResult::ok(cid, ItemStatus::Accepted)
                }
                Err(e) => {
                    failed.push(cid.as_str());
                    ItemResult::rejected(Some(cid.clone()), e)
                }
            });
        }
        self.keys.settle(of, &done, &failed).await?;
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect())
    }

    /// Appends the events, then the notifications of those the log confirmed (so a page never
    /// names an event that is not in the log). An event succeeds only when both are confirmed; on
    /// a retry both are appended again under the same ids, and their consumers deduplicate by id.
    pub async fn append_with_notifications(
        &self,
        events: &[Event],
    ) -> Vec<Result<Appended, AppError>> {
        let mut deliveries = self.log.append(events).await;
        let (pages_of, pages): (Vec<usize>, Vec<Event>) = events
            .iter()
            .enumerate()
            .filter(|(i, _)| deliveries[*i].is_ok())
            .filter_map(|(i, event)| event.notification().map(|page| (i, page.into())))
            .unzip();
        if pages.is_empty() {
            return deliveries;
        }
        for (index, result) in pages_of.into_iter().zip(self.log.append(&pages).await) {
            if let Err(e) = result {
                deliveries[index] = Err(e);
            }
        }
        deliveries
    }

    /// Appends one event (and its page); its position once the log acknowledged both.
    pub async fn append_one(&self, event: Event) -> Result<Appended, AppError> {
        self.append_with_notifications(&[event]).await.remove(0)
    }
}
