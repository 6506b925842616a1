//! Master data administration: warehouses, SKUs, locations and partners, validated as a whole
//! bundle against the current snapshot and written as events on compacted topics. A write returns
//! once the master-data projection (what validation reads) has applied it. Unchanged records are
//! not written again, so an import can be re-run safely.

use crate::{App, AppError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wes_domain::masterdata::*;
use wes_domain::*;
use wes_events::{Event, LocationUpserted, PartnerUpserted, SkuUpserted, WarehouseUpserted};
use wes_store::ProjectionKind;

/// How long a write waits for its change to become visible to validation.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseIn {
    pub warehouse_id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SkuIn {
    pub sku: String,
    pub base_uom: String,
    /// NONE (default), LOT or SERIAL.
    #[serde(default)]
    pub tracking: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationIn {
    pub warehouse_id: String,
    pub location: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerIn {
    pub partner_id: String,
    /// EXECUTOR (default), ADMIN or SUPERVISOR.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub allowed_warehouses: Vec<String>,
    /// Raw API keys to add; hashed on arrival, never stored or logged as given.
    #[serde(default, skip_serializing)]
    pub api_keys: Vec<String>,
    /// Already-hashed keys (SHA-256 hex) to add.
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    /// Expiry (RFC 3339) of the keys added by this record; without it they do not expire.
    #[serde(default)]
    pub api_key_expires_at: Option<String>,
    /// Key ids (first 16 hex digits of a digest, as listed) to revoke: they stop working at once.
    #[serde(default)]
    pub revoke_key_ids: Vec<String>,
    /// Client-certificate SHA-256 thumbprints to enroll for mTLS (hex, colons allowed).
    #[serde(default)]
    pub cert_sha256: Vec<String>,
    /// Enrolled thumbprints to remove: those certificates stop working at once.
    #[serde(default)]
    pub revoke_cert_sha256: Vec<String>,
    /// Whether bearer keys are accepted (default: unchanged, `true` for a new partner). Set
    /// `false` in production so the partner can only authenticate with its certificate.
    #[serde(default)]
    pub bearer_allowed: Option<bool>,
}

/// A master-data import: any mix of the four kinds.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub warehouses: Vec<WarehouseIn>,
    #[serde(default)]
    pub skus: Vec<SkuIn>,
    #[serde(default)]
    pub locations: Vec<LocationIn>,
    #[serde(default)]
    pub partners: Vec<PartnerIn>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BundleReport {
    pub written: usize,
    pub unchanged: usize,
    /// Whether the master-data projection applied every write before the answer.
    pub visible: bool,
}

fn id<T>(field: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T, AppError> {
    parse(text).ok_or_else(|| {
        malformed(
            field,
            format!(
                "{field}: {text:?} is not a valid identifier (1-128 printable ASCII, no spaces)"
            ),
        )
    })
}

fn malformed(field: &str, detail: impl Into<String>) -> AppError {
    Rejection::malformed(field, detail).into()
}

fn unprocessable(field: &str, detail: String) -> AppError {
    Rejection::unprocessable(field, detail).into()
}

/// A bundle that passed validation, as domain values.
struct Validated {
    warehouses: Vec<Warehouse>,
    skus: Vec<Sku>,
    locations: Vec<Location>,
    partners: Vec<Partner>,
}

/// Validates the whole bundle against the current snapshot; nothing is written unless all is valid.
fn validate(bundle: &Bundle, md: &MasterData) -> Result<Validated, AppError> {
    let warehouses: Vec<Warehouse> = bundle
        .warehouses
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Ok(Warehouse {
                warehouse_id: id(
                    &format!("/warehouses/{i}/warehouse_id"),
                    &w.warehouse_id,
                    WarehouseId::parse,
                )?,
                name: w.name.clone(),
            })
        })
        .collect::<Result<_, AppError>>()?;
    let known_warehouse = |w: &WarehouseId| {
        md.warehouses.contains_key(w) || warehouses.iter().any(|x| &x.warehouse_id == w)
    };
    let skus = bundle
        .skus
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tracking_text = s.tracking.as_deref().unwrap_or("NONE");
            let tracking = Tracking::parse(tracking_text).ok_or_else(|| {
                malformed(
                    &format!("/skus/{i}/tracking"),
                    format!("tracking {tracking_text:?} is not NONE, LOT or SERIAL"),
                )
            })?;
            if s.base_uom.trim().is_empty() || s.base_uom.len() > 16 {
                return Err(malformed(
                    &format!("/skus/{i}/base_uom"),
                    "base_uom must be 1-16 characters",
                ));
            }
            Ok(Sku {
                sku: id(&format!("/skus/{i}/sku"), &s.sku, SkuCode::parse)?,
                base_uom: s.base_uom.clone(),
                tracking,
                description: s.description.clone(),
            })
        })
        .collect::<Result<_, AppError>>()?;
    let locations = bundle
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let warehouse_id = id(
                &format!("/locations/{i}/warehouse_id"),
                &l.warehouse_id,
                WarehouseId::parse,
            )?;
            if !known_warehouse(&warehouse_id) {
                return Err(unprocessable(
                    &format!("/locations/{i}/warehouse_id"),
                    format!("unknown warehouse {warehouse_id}"),
                ));
            }
            Ok(Location {
                warehouse_id,
                location: id(
                    &format!("/locations/{i}/location"),
                    &l.location,
                    LocationCode::parse,
                )?,
            })
        })
        .collect::<Result<_, AppError>>()?;
    let partners = bundle
        .partners
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let partner_id = id(
                &format!("/partners/{i}/partner_id"),
                &p.partner_id,
                PartnerId::parse,
            )?;
            let role_text = p.role.as_deref().unwrap_or("EXECUTOR");
            let role = PartnerRole::parse(role_text).ok_or_else(|| {
                malformed(
                    &format!("/partners/{i}/role"),
                    format!("role {role_text:?} is not EXECUTOR, ADMIN or SUPERVISOR"),
                )
            })?;
            let mut allowed = BTreeSet::new();
            for (j, w) in p.allowed_warehouses.iter().enumerate() {
                let field = format!("/partners/{i}/allowed_warehouses/{j}");
                let w = id(&field, w, WarehouseId::parse)?;
                if !known_warehouse(&w) {
                    return Err(unprocessable(&field, format!("unknown warehouse {w}")));
                }
                allowed.insert(w);
            }
            let existing = md.partners.get(&partner_id);
            let mut keys: BTreeSet<String> = existing
                .map(|e| e.api_key_sha256.clone())
                .unwrap_or_default();
            let mut expiry: BTreeMap<String, UtcMillis> = existing
                .map(|e| e.api_key_expires_at.clone())
                .unwrap_or_default();
            let expires_at = match &p.api_key_expires_at {
                None => None,
                Some(text) => Some(UtcMillis::parse_rfc3339(text).ok_or_else(|| {
                    malformed(
                        &format!("/partners/{i}/api_key_expires_at"),
                        "api_key_expires_at must be an RFC 3339 timestamp",
                    )
                })?),
            };
            let mut added = vec![];
            for (j, key) in p.api_keys.iter().enumerate() {
                if !is_valid_api_key(key) {
                    return Err(malformed(
                        &format!("/partners/{i}/api_keys/{j}"),
                        API_KEY_RULE,
                    ));
                }
                added.push(api_key_digest(key));
            }
            for (j, digest) in p.api_key_sha256.iter().enumerate() {
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(malformed(
                        &format!("/partners/{i}/api_key_sha256/{j}"),
                        "api_key_sha256 entries are 64 hex digits",
                    ));
                }
                added.push(digest.to_ascii_lowercase());
            }
            for digest in added {
                match expires_at {
                    Some(at) => expiry.insert(digest.clone(), at),
                    None => expiry.remove(&digest),
                };
                keys.insert(digest);
            }
            for (j, revoked) in p.revoke_key_ids.iter().enumerate() {
                let found: Vec<String> = keys
                    .iter()
                    .filter(|d| key_id(d) == revoked.as_str())
                    .cloned()
                    .collect();
                if found.is_empty() {
                    return Err(AppError::Missing {
                        field: format!("/partners/{i}/revoke_key_ids/{j}"),
                        detail: format!("partner {partner_id} has no key {revoked}"),
                    });
                }
                for digest in found {
                    keys.remove(&digest);
                    expiry.remove(&digest);
                }
            }
            let mut certs: BTreeSet<String> =
                existing.map(|e| e.cert_sha256.clone()).unwrap_or_default();
            let thumbprint = |field: String, text: &str| {
                normalize_thumbprint(text).ok_or_else(|| {
                    malformed(
                        &field,
                        "certificate thumbprints are 64 hex digits (SHA-256)",
                    )
                })
            };
            for (j, text) in p.cert_sha256.iter().enumerate() {
                certs.insert(thumbprint(format!("/partners/{i}/cert_sha256/{j}"), text)?);
            }
            for (j, text) in p.revoke_cert_sha256.iter().enumerate() {
                let field = format!("/partners/{i}/revoke_cert_sha256/{j}");
                if !certs.remove(&thumbprint(field.clone(), text)?) {
                    return Err(AppError::Missing {
                        field,
                        detail: format!("partner {partner_id} has no certificate {text}"),
                    });
                }
            }
            Ok(Partner {
                partner_id,
                role,
                allowed_warehouses: allowed,
                api_key_sha256: keys,
                api_key_expires_at: expiry,
                cert_sha256: certs,
                bearer_allowed: p
                    .bearer_allowed
                    .unwrap_or_else(|| existing.is_none_or(|e| e.bearer_allowed)),
            })
        })
        .collect::<Result<_, AppError>>()?;
    Ok(Validated {
        warehouses,
        skus,
        locations,
        partners,
    })
}

impl App {
    /// Writes what differs from the current snapshot and waits until validation sees it.
    pub async fn apply_bundle(&self, bundle: &Bundle) -> Result<BundleReport, AppError> {
        let md = self.reads.master_data();
        let Validated {
            warehouses,
            skus,
            locations,
            partners,
        } = validate(bundle, &md)?;
        let now = self.clock.now();
        let total = warehouses.len() + skus.len() + locations.len() + partners.len();
        let mut changed: Vec<Event> = vec![];
        changed.extend(
            warehouses
                .into_iter()
                .filter(|w| md.warehouses.get(&w.warehouse_id) != Some(w))
                .map(|w| WarehouseUpserted::from_domain(&w, now).into()),
        );
        changed.extend(
            skus.into_iter()
                .filter(|s| md.skus.get(&s.sku) != Some(s))
                .map(|s| SkuUpserted::from_domain(&s, now).into()),
        );
        changed.extend(
            locations
                .into_iter()
                .filter(|l| !md.location_exists(&l.warehouse_id, &l.location))
                .map(|l| LocationUpserted::from_domain(&l, now).into()),
        );
        changed.extend(
            partners
                .into_iter()
                .filter(|p| md.partners.get(&p.partner_id) != Some(p))
                .map(|p| PartnerUpserted::from_domain(&p, now).into()),
        );
        // One at a time, in order: a location is written after its warehouse is acknowledged.
        let mut last: Vec<crate::ports::Appended> = vec![];
        for event in &changed {
            let at = self
                .log
                .append(std::slice::from_ref(event))
                .await
                .remove(0)?;
            last.retain(|a| !(a.topic == at.topic && a.partition == at.partition));
            last.push(at);
        }
        let mut visible = true;
        for at in last {
            visible &= self
                .log
                .wait_applied(ProjectionKind::MASTER_DATA, at, VISIBILITY_TIMEOUT)
                .await;
        }
        Ok(BundleReport {
            written: changed.len(),
            unchanged: total - changed.len(),
            visible,
        })
    }

    /// The partner `partner_id` as it stands.
    pub fn existing_partner(&self, partner_id: &str) -> Result<Partner, AppError> {
        let id = PartnerId::parse(partner_id)
            .ok_or_else(|| AppError::from(Rejection::malformed("", "invalid partner id")))?;
        self.reads
            .master_data()
            .partners
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("no partner {partner_id}")))
    }

    /// Adds a fresh key to a partner (expiring at `expires_at` if given); returns the key, once.
    pub async fn issue_key(
        &self,
        partner_id: &str,
        expires_at: Option<String>,
    ) -> Result<(String, BundleReport), AppError> {
        let existing = self.existing_partner(partner_id)?;
        if let Some(text) = &expires_at {
            let at = UtcMillis::parse_rfc3339(text).ok_or_else(|| {
                malformed("/expires_at", "expires_at must be an RFC 3339 timestamp")
            })?;
            if at <= self.clock.now() {
                return Err(malformed("/expires_at", "expires_at must be in the future"));
            }
        }
        let key = generate_api_key();
        let partner = PartnerIn {
            api_keys: vec![key.clone()],
            api_key_expires_at: expires_at,
            ..PartnerIn::from(&existing)
        };
        let report = self
            .apply_bundle(&Bundle {
                partners: vec![partner],
                ..Bundle::default()
            })
            .await?;
        Ok((key, report))
    }

    /// Revokes a key by its id; it is refused as soon as this returns.
    pub async fn revoke_key(
        &self,
        partner_id: &str,
        key_id: &str,
    ) -> Result<BundleReport, AppError> {
        let existing = self.existing_partner(partner_id)?;
        let partner = PartnerIn {
            revoke_key_ids: vec![key_id.to_owned()],
            ..PartnerIn::from(&existing)
        };
        self.apply_bundle(&Bundle {
            partners: vec![partner],
            ..Bundle::default()
        })
        .await
    }
}

/// The partner as it stands, ready to be written back with a key change.
impl From<&Partner> for PartnerIn {
    fn from(existing: &Partner) -> Self {
        PartnerIn {
            partner_id: existing.partner_id.to_string(),
            role: Some(existing.role.as_str().into()),
            allowed_warehouses: existing
                .allowed_warehouses
                .iter()
                .map(ToString::to_string)
                .collect(),
            ..PartnerIn::default()
        }
    }
}

/// A fresh random API key (256 bits from the OS generator).
pub fn generate_api_key() -> String {
    format!(
        "wes_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
