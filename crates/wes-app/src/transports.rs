//! One dispatch transport per warehouse (contract §2): configured, read and removed by an admin,
//! written as master-data events. A webhook secret is sealed before it leaves this module.

use crate::{App, AppError};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use wes_domain::dispatch_transport::{
    DispatchTransport, TransportChange, check_secret, parse_transport_request, transport_change,
};
use wes_domain::{Rejection, UtcMillis, WarehouseId};
use wes_events::catalog::topics;
use wes_events::{DispatchTransportSet, Event};
use wes_store::ProjectionKind;

/// How long a change waits for the master-data snapshot to hold it.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

/// A transport as the admin API shows it: never the secret, only whether there is one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransportView {
    pub warehouse_id: String,
    pub transport: String,
    pub partner_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub secret_set: bool,
    /// When the webhook secret was last rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
    pub configured_at: String,
    /// Releases from these positions of the dispatch topic on are this transport's.
    pub starts_at: Vec<Value>,
}

impl From<&DispatchTransport> for TransportView {
    fn from(t: &DispatchTransport) -> Self {
        TransportView {
            warehouse_id: t.warehouse_id.to_string(),
            transport: t.transport.as_str().into(),
            partner_id: t.partner_id.to_string(),
            url: t.url.clone(),
            secret_set: t.sealed_secret.is_some(),
            rotated_at: t.rotated_at.map(UtcMillis::to_rfc3339),
            configured_at: t.configured_at.to_rfc3339(),
            starts_at: t
                .start
                .iter()
                .map(|(partition, offset)| {
                    serde_json::json!({"topic": topics::DISPATCH, "partition": partition, "offset": offset})
                })
                .collect(),
        }
    }
}

/// What a `PUT` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransportOutcome {
    Configured,
    Updated,
    Unchanged,
}

pub(crate) fn warehouse_id(text: &str) -> Result<WarehouseId, AppError> {
    WarehouseId::parse(text).ok_or_else(|| {
        Rejection::malformed("/warehouse_id", format!("{text:?} is not a warehouse id")).into()
    })
}

impl App {
    /// `warehouse`'s transport (404 when none is configured).
    pub fn dispatch_transport(&self, warehouse: &str) -> Result<DispatchTransport, AppError> {
        let id = warehouse_id(warehouse)?;
        self.reads
            .master_data()
            .transports
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("{id} has no dispatch transport configured")))
    }

    /// Configures `warehouse`'s transport: a new one starts at the end of the dispatch log;
    /// the same transport with another executor or URL is updated in place; another transport
    /// while one is set is refused (409), and so is another webhook secret (rotate it instead).
    pub async fn set_dispatch_transport(
        &self,
        warehouse: &str,
        body: &Value,
    ) -> Result<(DispatchTransport, TransportOutcome), AppError> {
        let id = warehouse_id(warehouse)?;
        // Changes of transports take turns with releases: both read, then write, the dispatch side.
        let _turn = self.dispatch_turn.lock().await;
        let md = self.reads.master_data();
        let request = parse_transport_request(body, &id, &md)?;
        let current = md.transports.get(&id);
        let same_secret = match (
            current.and_then(|c| c.sealed_secret.as_deref()),
            &request.secret,
        ) {
            (Some(sealed), Some(secret)) => self.secrets.open(id.as_str(), sealed)? == *secret,
            (None, None) => true,
            _ => false,
        };
        let change = transport_change(current, &request, same_secret)?;
        let now = self.clock.now();
        let transport = match (change, current) {
            (TransportChange::Unchanged, Some(current)) => {
                return Ok((current.clone(), TransportOutcome::Unchanged));
            }
            (TransportChange::Update, Some(current)) => DispatchTransport {
                partner_id: request.partner_id,
                url: request.url,
                ..current.clone()
            },
            _ => DispatchTransport {
                warehouse_id: id.clone(),
                transport: request.transport,
                partner_id: request.partner_id,
                url: request.url,
                sealed_secret: match &request.secret {
                    Some(secret) => Some(self.secrets.seal(id.as_str(), secret)?),
                    None => None,
                },
                previous_sealed_secret: None,
                rotated_at: None,
                configured_at: now,
                start: self.log.log_end(topics::DISPATCH).await?.ends,
            },
        };
        self.write_transport(DispatchTransportSet::from_domain(&transport, now))
            .await?;
        let outcome = if change == TransportChange::Update {
            TransportOutcome::Updated
        } else {
            TransportOutcome::Configured
        };
        Ok((transport, outcome))
    }

    /// Rotates `warehouse`'s webhook secret to `{"secret": "…"}`: the one it replaces stays the
    /// previous secret, which deliveries are also signed with during the overlap after now. The
    /// same secret again changes nothing (false).
    pub async fn rotate_webhook_secret(
        &self,
        warehouse: &str,
        body: &Value,
    ) -> Result<(DispatchTransport, bool), AppError> {
        let f = wes_domain::fields::Fields::of(body)?;
        if let Some(other) = body
            .as_object()
            .and_then(|m| m.keys().find(|k| k.as_str() != "secret"))
        {
            return Err(Rejection::malformed(
                &format!("/{other}"),
                format!("unknown field `{other}`: a rotation is {{\"secret\": \"…\"}}"),
            )
            .into());
        }
        let secret = f.req_str("secret")?;
        check_secret(secret)?;
        let _turn = self.dispatch_turn.lock().await;
        let current = self.dispatch_transport(warehouse)?;
        let id = &current.warehouse_id;
        let Some(sealed) = current.sealed_secret.as_deref() else {
            return Err(AppError::Conflict(format!(
                "{id} dispatches over {}: only a WEBHOOK transport has a secret",
                current.transport
            )));
        };
        if self.secrets.open(id.as_str(), sealed)? == secret {
            return Ok((current, false));
        }
        let now = self.clock.now();
        let rotated = DispatchTransport {
            sealed_secret: Some(self.secrets.seal(id.as_str(), secret)?),
            previous_sealed_secret: Some(sealed.to_owned()),
            rotated_at: Some(now),
            ..current.clone()
        };
        self.write_transport(DispatchTransportSet::from_domain(&rotated, now))
            .await?;
        Ok((rotated, true))
    }

    /// Removes `warehouse`'s transport (404 when none is configured).
    pub async fn remove_dispatch_transport(&self, warehouse: &str) -> Result<(), AppError> {
        let _turn = self.dispatch_turn.lock().await;
        let current = self.dispatch_transport(warehouse)?;
        self.write_transport(DispatchTransportSet::removed(
            &current.warehouse_id,
            self.clock.now(),
        ))
        .await
    }

    async fn write_transport(&self, event: DispatchTransportSet) -> Result<(), AppError> {
        let at = self
            .log
            .append(&[Event::DispatchTransport(event)])
            .await
            .remove(0)?;
        if self
            .log
            .wait_applied(ProjectionKind::MASTER_DATA, at, VISIBILITY_TIMEOUT)
            .await
        {
            Ok(())
        } else {
            Err(AppError::Unavailable(
                "the change is recorded but master data has not applied it yet; read it back in a moment".into(),
            ))
        }
    }
}
