//! How a warehouse's releases reach its executor (contract §2: one transport per warehouse): the
//! transport configuration, its rules, and the cursors of poll-mode dispatch.

use crate::UtcMillis;
use crate::fields::Fields;
use crate::ids::{PartnerId, WarehouseId};
use crate::masterdata::{MasterData, PartnerRole};
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

word_enum!(TransportKind {
    Kafka = "KAFKA",
    Webhook = "WEBHOOK",
    Polling = "POLLING",
});

/// A warehouse's dispatch transport as master data holds it. The webhook secret is sealed (the
/// hub's secret box): it is never held in clear outside the moment of signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchTransport {
    pub warehouse_id: WarehouseId,
    pub transport: TransportKind,
    /// The executor the warehouse dispatches to.
    pub partner_id: PartnerId,
    pub url: Option<String>,
    pub sealed_secret: Option<String>,
    /// The secret before the last rotation, still signed with during the overlap after it.
    pub previous_sealed_secret: Option<String>,
    pub rotated_at: Option<UtcMillis>,
    pub configured_at: UtcMillis,
    /// Where delivery starts: the next offset of each partition of the dispatch topic when the
    /// transport was configured. Releases appended before are not delivered by it.
    pub start: Vec<(i32, i64)>,
}

impl DispatchTransport {
    /// Whether a release at `(partition, offset)` of the dispatch topic is this transport's.
    pub fn covers(&self, partition: i32, offset: i64) -> bool {
        self.start
            .iter()
            .find(|(p, _)| *p == partition)
            .is_none_or(|(_, start)| offset >= *start)
    }
}

/// A `PUT …/dispatch-transport` body, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportRequest {
    pub transport: TransportKind,
    pub partner_id: PartnerId,
    pub url: Option<String>,
    /// In clear: the application layer seals it at once.
    pub secret: Option<String>,
}

/// Never the secret.
impl std::fmt::Debug for TransportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportRequest")
            .field("transport", &self.transport)
            .field("partner_id", &self.partner_id)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Shortest webhook secret accepted: HMAC-SHA256 wants at least 128 bits of key.
pub const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 256;
const MAX_URL_LEN: usize = 2048;

/// Validates the body of `PUT /planner/v1/warehouses/{warehouse}/dispatch-transport`.
pub fn parse_transport_request(
    body: &Value,
    warehouse: &WarehouseId,
    md: &MasterData,
) -> Result<TransportRequest, Rejection> {
    let f = Fields::of(body)?;
    if let Value::Object(map) = body
        && let Some(unknown) = map
            .keys()
            .find(|k| !["transport", "partner_id", "url", "secret"].contains(&k.as_str()))
    {
        return Err(Rejection::malformed(
            &format!("/{unknown}"),
            format!(
                "unknown field `{unknown}`: a transport has transport, partner_id, url and secret"
            ),
        ));
    }
    if !md.warehouses.contains_key(warehouse) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse}"),
        ));
    }
    let transport = f.req_enum("transport", TransportKind::parse, "KAFKA, WEBHOOK, POLLING")?;
    let partner_id = f.req_id("partner_id", PartnerId::parse)?;
    match md.partners.get(&partner_id) {
        None => {
            return Err(Rejection::unprocessable(
                "/partner_id",
                format!("unknown partner {partner_id}"),
            ));
        }
        Some(p) if p.role != PartnerRole::Executor || !p.may_act_for(warehouse) => {
            return Err(Rejection::unprocessable(
                "/partner_id",
                format!("{partner_id} is not an executor of {warehouse}"),
            ));
        }
        Some(_) => {}
    }
    let url = f.opt_str("url")?.map(str::to_owned);
    let secret = f.opt_str("secret")?.map(str::to_owned);
    match transport {
        TransportKind::Webhook => {
            let url = url.as_deref().ok_or_else(|| {
                Rejection::malformed("/url", "a WEBHOOK transport needs the receiver's `url`")
            })?;
            if !is_http_url(url) {
                return Err(Rejection::malformed(
                    "/url",
                    "`url` must be an absolute http:// or https:// URL",
                ));
            }
            let secret = secret.as_deref().ok_or_else(|| {
                Rejection::malformed("/secret", "a WEBHOOK transport needs the signing `secret`")
            })?;
            check_secret(secret)?;
        }
        TransportKind::Kafka | TransportKind::Polling => {
            if url.is_some() || secret.is_some() {
                return Err(Rejection::malformed(
                    if url.is_some() { "/url" } else { "/secret" },
                    format!("only a WEBHOOK transport takes `url` and `secret`, not {transport}"),
                ));
            }
        }
    }
    Ok(TransportRequest {
        transport,
        partner_id,
        url,
        secret,
    })
}

/// A webhook signing secret: 16-256 printable ASCII characters.
pub fn check_secret(secret: &str) -> Result<(), Rejection> {
    if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(Rejection::malformed(
            "/secret",
            format!(
                "`secret` must be {MIN_SECRET_LEN}-{MAX_SECRET_LEN} printable ASCII characters"
            ),
        ))
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    url.len() <= MAX_URL_LEN
        && rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && r.bytes().all(|b| b.is_ascii_graphic())
        })
}

/// What a `PUT` does to the transport in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChange {
    /// None was set: this one starts now.
    Configure,
    /// Same transport, another executor or URL: updated, delivery keeps its position.
    Update,
    /// The same body again.
    Unchanged,
}

/// The rules of a `PUT` against the transport in place. `same_secret` says whether the request's
/// secret (if any) is the one in place (only the caller can open the sealed one).
pub fn transport_change(
    current: Option<&DispatchTransport>,
    request: &TransportRequest,
    same_secret: bool,
) -> Result<TransportChange, Rejection> {
    let Some(current) = current else {
        return Ok(TransportChange::Configure);
    };
    let warehouse = &current.warehouse_id;
    if current.transport != request.transport {
        return Err(Rejection::conflict(
            "/transport",
            format!(
                "{warehouse} dispatches over {}: one transport per warehouse; DELETE /planner/v1/warehouses/{warehouse}/dispatch-transport first",
                current.transport
            ),
        ));
    }
    if !same_secret {
        return Err(Rejection::conflict(
            "/secret",
            format!(
                "{warehouse} has another webhook secret: change it with POST /planner/v1/warehouses/{warehouse}/dispatch-transport/rotate-secret, so receivers get an overlap"
            ),
        ));
    }
    if current.partner_id == request.partner_id && current.url == request.url {
        Ok(TransportChange::Unchanged)
    } else {
        Ok(TransportChange::Update)
    }
}

/// A position in a warehouse's dispatch log as poll-mode executors see it: just after the
/// release at `offset` of `partition`. Written as 20 hex digits, so cursors compare as text in
/// log order; executors treat them as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollCursor {
    pub partition: i32,
    pub offset: i64,
}

impl PollCursor {
    pub fn encode(self) -> String {
        format!("{:04x}{:016x}", self.partition, self.offset)
    }

    pub fn decode(text: &str) -> Option<PollCursor> {
        if text.len() != 20 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(PollCursor {
            partition: i32::from_str_radix(&text[..4], 16).ok()?,
            offset: i64::from_str_radix(&text[4..], 16).ok()?,
        })
    }
}

/// What an ack of `cursor` does, given the executor's acked position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDecision {
    /// The position moves to `cursor`.
    Advance,
    /// The same cursor again: a no-op.
    Same,
    /// Behind the acked position: refused (409).
    Behind,
}

pub fn ack_decision(acked: Option<PollCursor>, cursor: PollCursor) -> AckDecision {
    match acked.map(|a| cursor.cmp(&a)) {
        None | Some(Ordering::Greater) => AckDecision::Advance,
        Some(Ordering::Equal) => AckDecision::Same,
        Some(Ordering::Less) => AckDecision::Behind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masterdata::{Partner, Warehouse};
    use serde_json::json;

    fn md() -> MasterData {
        let wh = WarehouseId::parse("WH-1").unwrap();
        let partner = |id: &str, role| Partner {
            partner_id: PartnerId::parse(id).unwrap(),
            role,
            allowed_warehouses: [wh.clone()].into(),
            api_key_sha256: Default::default(),
            api_key_expires_at: Default::default(),
            cert_sha256: Default::default(),
            bearer_allowed: true,
        };
        MasterData::new(
            vec![Warehouse {
                warehouse_id: wh.clone(),
                name: String::new(),
            }],
            vec![],
            vec![],
            vec![
                partner("WH-1/Exec", PartnerRole::Executor),
                partner("sup", PartnerRole::Supervisor),
            ],
        )
    }

    fn parse(body: Value) -> Result<TransportRequest, Rejection> {
        parse_transport_request(&body, &WarehouseId::parse("WH-1").unwrap(), &md())
    }

    #[test]
    fn a_webhook_needs_a_url_and_a_secret_and_only_a_webhook_takes_them() {
        let hook = json!({"transport": "WEBHOOK", "partner_id": "WH-1/Exec", "url": "https://exec.example/hook", "secret": "0123456789abcdef"});
        assert_eq!(
            parse(hook.clone()).unwrap().transport,
            TransportKind::Webhook
        );
        for (field, bad) in [
            ("/url", json!(null)),
            ("/url", json!("ftp://x/")),
            ("/url", json!("https:///path")),
            ("/secret", json!("short")),
        ] {
            let mut body = hook.clone();
            let name = &field[1..];
            if bad.is_null() {
                body.as_object_mut().unwrap().remove(name);
            } else {
                body[name] = bad;
            }
            assert_eq!(parse(body).unwrap_err().field, field);
        }
        let polling =
            json!({"transport": "POLLING", "partner_id": "WH-1/Exec", "url": "https://x/"});
        assert_eq!(parse(polling).unwrap_err().field, "/url");
        let supervisor = json!({"transport": "POLLING", "partner_id": "sup"});
        assert_eq!(parse(supervisor).unwrap_err().field, "/partner_id");
        let extra = json!({"transport": "KAFKA", "partner_id": "WH-1/Exec", "sekret": "x"});
        assert_eq!(parse(extra).unwrap_err().field, "/sekret");
    }

    #[test]
    fn one_transport_per_warehouse_and_the_secret_changes_only_by_rotation() {
        let request = parse(json!({"transport": "POLLING", "partner_id": "WH-1/Exec"})).unwrap();
        assert_eq!(
            transport_change(None, &request, true),
            Ok(TransportChange::Configure)
        );
        let current = DispatchTransport {
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            transport: TransportKind::Polling,
            partner_id: request.partner_id.clone(),
            url: None,
            sealed_secret: None,
            previous_sealed_secret: None,
            rotated_at: None,
            configured_at: UtcMillis(0),
            start: vec![(0, 5)],
        };
        assert_eq!(
            transport_change(Some(&current), &request, true),
            Ok(TransportChange::Unchanged)
        );
        let kafka = TransportRequest {
            transport: TransportKind::Kafka,
            ..request.clone()
        };
        let refused = transport_change(Some(&current), &kafka, true).unwrap_err();
        assert!(
            refused.detail.contains("over POLLING"),
            "{}",
            refused.detail
        );
        assert_eq!(
            transport_change(Some(&current), &request, false)
                .unwrap_err()
                .field,
            "/secret"
        );
        assert!(current.covers(0, 5) && !current.covers(0, 4) && current.covers(1, 0));
    }

    #[test]
    fn cursors_are_opaque_ordered_and_acks_monotone() {
        let at = |partition, offset| PollCursor { partition, offset };
        for c in [at(0, 0), at(2, 41), at(0x7fff, i64::MAX)] {
            assert_eq!(PollCursor::decode(&c.encode()), Some(c));
        }
        assert!(at(0, 9).encode() < at(0, 10).encode());
        for bad in ["", "zz", "00000000000000000000x", "0000000000000000000G"] {
            assert_eq!(PollCursor::decode(bad), None, "{bad}");
        }
        assert_eq!(ack_decision(None, at(0, 3)), AckDecision::Advance);
        assert_eq!(ack_decision(Some(at(0, 3)), at(0, 3)), AckDecision::Same);
        assert_eq!(ack_decision(Some(at(0, 3)), at(0, 2)), AckDecision::Behind);
        assert_eq!(ack_decision(Some(at(0, 3)), at(0, 7)), AckDecision::Advance);
    }
}
