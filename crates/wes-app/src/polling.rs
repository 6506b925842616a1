//! Poll-mode dispatch (contract §2): an executor behind an egress-only firewall reads its
//! warehouse's releases page by page and acknowledges a cursor once it has processed them
//! durably. Acks are events, so a rebuild restores every executor's position.

use crate::transports::warehouse_id;
use crate::{App, AppError};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use wes_domain::dispatch_transport::{
    AckDecision, DispatchTransport, PollCursor, TransportKind, ack_decision,
};
use wes_domain::masterdata::Partner;
use wes_domain::{Rejection, WarehouseId};
use wes_events::{DispatchPollAcked, Event};
use wes_store::ProjectionKind;

/// Largest page; also the default.
pub const MAX_PAGE: i64 = 100;
/// How long an ack waits for the next page to see it.
const ACK_VISIBILITY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PendingPage {
    pub warehouse_id: String,
    pub events: Vec<Value>,
    /// The cursor of the page's last event; empty when the page is empty.
    pub next_cursor: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AckOutcome {
    pub warehouse_id: String,
    pub cursor: String,
    /// False when the same cursor was acknowledged already (a no-op)…
    pub advanced: bool,
    /// …which is then a replay, as the contract answers retries.
    pub replay: bool,
}

impl App {
    /// The warehouse a poll request is for: the one named, or the credential's only one.
    fn polled_warehouse(
        &self,
        executor: &Partner,
        named: Option<&str>,
    ) -> Result<WarehouseId, AppError> {
        let id = match named {
            Some(text) => warehouse_id(text)?,
            None => {
                let mut allowed = executor.allowed_warehouses.iter();
                match (allowed.next(), allowed.next()) {
                    (Some(only), None) => only.clone(),
                    _ => {
                        return Err(Rejection::malformed(
                            "/warehouse_id",
                            "this credential acts for several warehouses: name one with `warehouse_id`",
                        )
                        .into());
                    }
                }
            }
        };
        if !executor.may_act_for(&id) {
            return Err(AppError::CrossWarehouse(format!(
                "this credential may not act for warehouse {id}"
            )));
        }
        Ok(id)
    }

    /// `warehouse`'s transport, when it is POLLING to `executor`.
    fn polling_transport(
        &self,
        warehouse: &WarehouseId,
        executor: &Partner,
    ) -> Result<DispatchTransport, AppError> {
        let configure = format!("PUT /planner/v1/warehouses/{warehouse}/dispatch-transport");
        let Some(transport) = self.reads.master_data().transports.get(warehouse).cloned() else {
            return Err(AppError::Conflict(format!(
                "{warehouse} has no dispatch transport configured; an admin sets POLLING with {configure}"
            )));
        };
        if transport.transport != TransportKind::Polling {
            return Err(AppError::Conflict(format!(
                "{warehouse} dispatches over {}, not POLLING",
                transport.transport
            )));
        }
        if transport.partner_id != executor.partner_id {
            return Err(AppError::CrossWarehouse(format!(
                "{warehouse} dispatches to executor {}, not {}",
                transport.partner_id, executor.partner_id
            )));
        }
        Ok(transport)
    }

    /// A page of `warehouse`'s releases in log order, after `since` (or after the acknowledged
    /// position): the same page until an ack moves the position.
    pub async fn pending(
        &self,
        executor: &Partner,
        warehouse: Option<&str>,
        since: Option<&str>,
        limit: Option<i64>,
    ) -> Result<PendingPage, AppError> {
        let limit = limit.unwrap_or(MAX_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Rejection::malformed("/limit", format!("limit is 1-{MAX_PAGE}")).into());
        }
        let id = self.polled_warehouse(executor, warehouse)?;
        let transport = self.polling_transport(&id, executor)?;
        let after = match since.filter(|s| !s.is_empty()) {
            Some(text) => Some(self.known_cursor(&transport, "/since", text).await?),
            None => self.reads.poll_acked(&id, &executor.partner_id).await?,
        };
        let page = self
            .reads
            .poll_page(&id, after, &transport.start, limit)
            .await?;
        let next_cursor = page
            .last()
            .map(|(cursor, _)| cursor.encode())
            .unwrap_or_default();
        Ok(PendingPage {
            warehouse_id: id.to_string(),
            events: page.into_iter().map(|(_, e)| Value::Object(e)).collect(),
            next_cursor,
        })
    }

    /// A cursor the transport gave out: the position of one of its warehouse's releases, at or
    /// after where it started.
    async fn known_cursor(
        &self,
        transport: &DispatchTransport,
        field: &str,
        text: &str,
    ) -> Result<PollCursor, AppError> {
        let warehouse = &transport.warehouse_id;
        let unknown = || AppError::Missing {
            field: field.into(),
            detail: format!(
                "unknown cursor {text:?} for {warehouse}: use a next_cursor of GET /wes/v1/dispatch/pending"
            ),
        };
        let cursor = PollCursor::decode(text).ok_or_else(unknown)?;
        if transport.covers(cursor.partition, cursor.offset)
            && self.reads.has_release_at(warehouse, cursor).await?
        {
            Ok(cursor)
        } else {
            Err(unknown())
        }
    }

    /// Moves `warehouse`'s acknowledged position to `cursor`: the same cursor again is a no-op,
    /// a cursor behind the acknowledged one is refused (409), an unknown one is 404.
    pub async fn ack(
        &self,
        executor: &Partner,
        warehouse: Option<&str>,
        cursor: &str,
    ) -> Result<AckOutcome, AppError> {
        let id = self.polled_warehouse(executor, warehouse)?;
        let transport = self.polling_transport(&id, executor)?;
        let cursor = self.known_cursor(&transport, "/cursor", cursor).await?;
        // Acks of one hub take turns, so "behind" is judged against the latest one.
        let _turn = self.poll_turn.lock().await;
        let executor_id = &executor.partner_id;
        let outcome = |advanced| AckOutcome {
            warehouse_id: id.to_string(),
            cursor: cursor.encode(),
            advanced,
            replay: !advanced,
        };
        let behind = || {
            AppError::Conflict(format!(
                "cursor {} is behind the position {id} acknowledged already; acks only move forward",
                cursor.encode()
            ))
        };
        match ack_decision(self.reads.poll_acked(&id, executor_id).await?, cursor) {
            AckDecision::Same => return Ok(outcome(false)),
            AckDecision::Behind => return Err(behind()),
            AckDecision::Advance => {}
        }
        let event = DispatchPollAcked::new(&id, executor_id, cursor, self.clock.now());
        let at = self
            .log
            .append(&[Event::DispatchPollAcked(event)])
            .await
            .remove(0)?;
        if !self
            .log
            .wait_applied(ProjectionKind::POLL_ACKS, at, ACK_VISIBILITY)
            .await
        {
            return Err(AppError::Unavailable(
                "the ack is recorded but not applied yet; send it again in a moment (it is idempotent)".into(),
            ));
        }
        // Another hub may have acknowledged further meanwhile: then this ack was behind it.
        match self.reads.poll_acked(&id, executor_id).await? {
            Some(position) if position > cursor => Err(behind()),
            _ => Ok(outcome(true)),
        }
    }
}
