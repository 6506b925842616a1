//! Master data: warehouses, SKUs, locations and the partner registry, plus the in-memory snapshot
//! that validation reads (built by the adapters from the master-data projection).

use crate::UtcMillis;
use crate::ids::*;
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

word_enum!(
    /// How a SKU is tracked: decides whether movements must carry a lot or a serial.
    Tracking {
        None = "NONE",
        Lot = "LOT",
        Serial = "SERIAL",
    }

    /// Who a partner is: decides which APIs its credential opens.
    PartnerRole {
        /// An executor (WES) posting realtime and confirmation events for its warehouses.
        Executor = "EXECUTOR",
        /// Planner-internal administration: master data, releases, projections.
        Admin = "ADMIN",
        /// A floor supervisor: works the supervisor queue (and, later, reconciliation windows).
        Supervisor = "SUPERVISOR",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    pub warehouse_id: WarehouseId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub sku: SkuCode,
    /// Base unit of measure (`EA`, `CS`, …). Movements must use it; the hub never converts.
    pub base_uom: String,
    pub tracking: Tracking,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub warehouse_id: WarehouseId,
    pub location: LocationCode,
}

/// A partner of the registry. API keys are kept only as SHA-256 hex digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub partner_id: PartnerId,
    pub role: PartnerRole,
    pub allowed_warehouses: BTreeSet<WarehouseId>,
    pub api_key_sha256: BTreeSet<String>,
    /// Expiry of keys that have one (digest -> instant); a key is refused from that instant on.
    pub api_key_expires_at: BTreeMap<String, UtcMillis>,
    /// SHA-256 thumbprints (lowercase hex of the DER) of the client certificates enrolled for mTLS.
    pub cert_sha256: BTreeSet<String>,
    /// Whether bearer API keys are accepted; production partners turn it off and use mTLS only.
    pub bearer_allowed: bool,
}

/// The public handle of a key: the first 16 hex digits of its digest (used to list and revoke it).
pub fn key_id(digest: &str) -> &str {
    &digest[..digest.len().min(16)]
}

impl Partner {
    pub fn may_act_for(&self, warehouse: &WarehouseId) -> bool {
        self.allowed_warehouses.contains(warehouse)
    }
}

/// Normalizes a certificate thumbprint as operators paste it (`AB:CD:…` or hex): lowercase hex
/// without separators; `None` unless it is 64 hex digits.
pub fn normalize_thumbprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Whether `key` may be an API key: 16-256 printable ASCII characters.
pub fn is_valid_api_key(key: &str) -> bool {
    (16..=256).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What `is_valid_api_key` asks for, for messages.
pub const API_KEY_RULE: &str = "API keys must be 16-256 printable ASCII characters";

/// SHA-256 hex digest of an API key: what the registry stores and compares.
pub fn api_key_digest(raw_key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(raw_key.as_bytes()))
}

/// Everything validation needs, indexed for lookups on the request path.
#[derive(Debug, Clone, Default)]
pub struct MasterData {
    pub warehouses: HashMap<WarehouseId, Warehouse>,
    pub skus: HashMap<SkuCode, Sku>,
    pub locations: HashMap<WarehouseId, BTreeSet<LocationCode>>,
    pub partners: HashMap<PartnerId, Partner>,
    /// How each warehouse's releases reach its executor (none: not configured).
    pub transports: HashMap<WarehouseId, crate::dispatch_transport::DispatchTransport>,
    /// (key digest, partner), scanned in full on every look-up (see `partner_for_key`).
    partner_keys: Vec<(String, PartnerId)>,
    partner_by_cert: HashMap<String, PartnerId>,
}

impl MasterData {
    pub fn new(
        warehouses: Vec<Warehouse>,
        skus: Vec<Sku>,
        locations: Vec<Location>,
        partners: Vec<Partner>,
    ) -> Self {
        let mut md = MasterData::default();
        for w in warehouses {
            md.warehouses.insert(w.warehouse_id.clone(), w);
        }
        for s in skus {
            md.skus.insert(s.sku.clone(), s);
        }
        for l in locations {
            md.locations
                .entry(l.warehouse_id)
                .or_default()
                .insert(l.location);
        }
        for p in partners {
            for digest in &p.api_key_sha256 {
                md.partner_keys.push((digest.clone(), p.partner_id.clone()));
            }
            for thumbprint in &p.cert_sha256 {
                md.partner_by_cert
                    .insert(thumbprint.clone(), p.partner_id.clone());
            }
            md.partners.insert(p.partner_id.clone(), p);
        }
        md
    }

    /// The partner holding this raw API key at `now`: none when the key is unknown, revoked
    /// (removed) or expired. Keys are compared by their SHA-256 digest, never raw, and in constant
    /// time against every stored digest, so the answer time says nothing about near misses.
    pub fn partner_for_key(&self, raw_key: &str, now: UtcMillis) -> Option<&Partner> {
        use subtle::ConstantTimeEq;
        let digest = api_key_digest(raw_key);
        let mut found = None;
        for (stored, partner) in &self.partner_keys {
            if bool::from(stored.as_bytes().ct_eq(digest.as_bytes())) {
                found = Some(partner);
            }
        }
        let partner = found.and_then(|id| self.partners.get(id))?;
        match partner.api_key_expires_at.get(&digest) {
            Some(expiry) if *expiry <= now => None,
            _ => Some(partner),
        }
    }

    /// The partner a client certificate (by SHA-256 thumbprint) is enrolled for.
    pub fn partner_for_certificate(&self, thumbprint: &str) -> Option<&Partner> {
        self.partner_by_cert
            .get(thumbprint)
            .and_then(|id| self.partners.get(id))
    }

    pub fn location_exists(&self, warehouse: &WarehouseId, location: &LocationCode) -> bool {
        self.locations
            .get(warehouse)
            .is_some_and(|set| set.contains(location))
    }

    pub fn require_location(
        &self,
        field: &str,
        warehouse: &WarehouseId,
        location: &LocationCode,
    ) -> Result<(), Rejection> {
        if self.location_exists(warehouse, location) {
            Ok(())
        } else {
            Err(Rejection::unprocessable(
                field,
                format!("unknown location {location} in warehouse {warehouse}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_is_found_by_raw_key_through_its_digest() {
        let partner = Partner {
            partner_id: PartnerId::parse("WH-1/Acme").unwrap(),
            role: PartnerRole::Executor,
            allowed_warehouses: [WarehouseId::parse("WH-1").unwrap()].into(),
            api_key_sha256: [api_key_digest("secret-key"), api_key_digest("rotating-key")].into(),
            api_key_expires_at: [(api_key_digest("rotating-key"), UtcMillis(1_000))].into(),
            cert_sha256: ["ab".repeat(32)].into(),
            bearer_allowed: true,
        };
        let md = MasterData::new(vec![], vec![], vec![], vec![partner.clone()]);
        assert_eq!(
            md.partner_for_key("secret-key", UtcMillis(5_000)),
            Some(&partner)
        );
        assert_eq!(md.partner_for_key("other-key", UtcMillis(0)), None);
        assert_eq!(
            md.partner_for_key("rotating-key", UtcMillis(999)),
            Some(&partner),
            "valid until its expiry"
        );
        assert_eq!(
            md.partner_for_key("rotating-key", UtcMillis(1_000)),
            None,
            "refused from its expiry on"
        );
        assert_eq!(
            md.partner_for_certificate(&normalize_thumbprint(&"AB:".repeat(32)).unwrap()),
            Some(&partner)
        );
        assert_eq!(md.partner_for_certificate(&"cd".repeat(32)), None);
        assert_eq!(normalize_thumbprint("abc"), None);
    }
}
