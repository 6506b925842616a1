//! The admin credential and the demo data set, both loaded idempotently through the same path as the
//! master-data API.

use crate::config::ServeConfig;
use std::collections::BTreeSet;
use wes_app::App;
use wes_app::masterdata::{Bundle, LocationIn, PartnerIn, SkuIn, WarehouseIn, generate_api_key};
use wes_domain::PartnerId;
use wes_domain::masterdata::{PartnerRole, api_key_digest};

pub const ADMIN_PARTNER: &str = "planner-admin";
/// The demo's floor supervisor for WH-Tokyo-01 (works the supervisor queue).
pub const DEMO_SUPERVISOR: &str = "WH-Tokyo-01/supervisors";

/// The configured key (`setting`) when given (added if the partner lacks it); otherwise, when the
/// partner has no key at all, a generated one that is printed once.
fn key_for(app: &App, partner: &str, configured: Option<&str>, setting: &str) -> Option<String> {
    let existing: BTreeSet<String> = app
        .reads
        .master_data()
        .partners
        .get(&PartnerId::from_trusted(partner))
        .map(|p| p.api_key_sha256.clone())
        .unwrap_or_default();
    match configured.filter(|k| !k.is_empty()).map(str::to_owned) {
        Some(key) if existing.contains(&api_key_digest(&key)) => None,
        Some(key) => Some(key),
        None if existing.is_empty() => {
            let key = generate_api_key();
            println!(
                "wes: generated API key for {partner} (shown once; set {setting} to choose your own): {key}"
            );
            Some(key)
        }
        None => None,
    }
}

/// Makes sure planner-internal APIs have a credential (`WES_ADMIN_KEY`, or a generated one).
pub async fn ensure_admin_key(app: &App, configured: Option<&str>) -> anyhow::Result<()> {
    let Some(key) = key_for(app, ADMIN_PARTNER, configured, "WES_ADMIN_KEY") else {
        return Ok(());
    };
    let admin = PartnerIn {
        partner_id: ADMIN_PARTNER.into(),
        role: Some(PartnerRole::Admin.as_str().into()),
        allowed_warehouses: vec![],
        api_keys: vec![key],
        ..PartnerIn::default()
    };
    app.apply_bundle(&Bundle {
        partners: vec![admin],
        ..Bundle::default()
    })
    .await?;
    Ok(())
}

pub fn demo_bundle(
    acme_key: Option<String>,
    beta_key: Option<String>,
    supervisor_key: Option<String>,
) -> Bundle {
    let warehouse = |id: &str, name: &str| WarehouseIn {
        warehouse_id: id.into(),
        name: name.into(),
    };
    let sku = |sku: &str, uom: &str, tracking: &str, description: &str| SkuIn {
        sku: sku.into(),
        base_uom: uom.into(),
        tracking: Some(tracking.into()),
        description: description.into(),
    };
    let location = |w: &str, l: &str| LocationIn {
        warehouse_id: w.into(),
        location: l.into(),
    };
    let partner = |id: &str, warehouse: &str, key: Option<String>| PartnerIn {
        partner_id: id.into(),
        role: Some("EXECUTOR".into()),
        allowed_warehouses: vec![warehouse.into()],
        api_keys: key.into_iter().collect(),
        ..PartnerIn::default()
    };
    Bundle {
        warehouses: vec![
            warehouse("WH-Tokyo-01", "Tokyo DC 1"),
            warehouse("WH-Osaka-02", "Osaka DC 2"),
        ],
        skus: vec![
            sku("SKU-WIDGET-RED-LG", "EA", "NONE", "Widget, red, large"),
            sku("SKU-GADGET-BLU", "EA", "LOT", "Gadget, blue (lot-tracked)"),
            sku("SKU-PHONE-X", "EA", "SERIAL", "Phone X (serial-tracked)"),
            sku("SKU-CABLE-USB", "CS", "NONE", "USB cable, case"),
        ],
        locations: [
            "A.12.3.1",
            "A.12.3.2",
            "B.01.1.1",
            "STAGING-OUT-3",
            "DOCK-3",
            "RECV-1",
        ]
        .iter()
        .map(|l| location("WH-Tokyo-01", l))
        .chain(
            ["C.01.1.1", "DOCK-1"]
                .iter()
                .map(|l| location("WH-Osaka-02", l)),
        )
        .collect(),
        partners: vec![
            partner("WH-Tokyo-01/AcmeWES", "WH-Tokyo-01", acme_key),
            partner("WH-Osaka-02/BetaWES", "WH-Osaka-02", beta_key),
            PartnerIn {
                role: Some("SUPERVISOR".into()),
                ..partner(DEMO_SUPERVISOR, "WH-Tokyo-01", supervisor_key)
            },
        ],
    }
}

pub async fn load(app: &App, config: &ServeConfig) -> anyhow::Result<()> {
    let key = |partner, configured: &Option<String>, setting| {
        key_for(app, partner, configured.as_deref(), setting)
    };
    let acme = key(
        "WH-Tokyo-01/AcmeWES",
        &config.demo_key_acme,
        "WES_DEMO_KEY_ACME",
    );
    let beta = key(
        "WH-Osaka-02/BetaWES",
        &config.demo_key_beta,
        "WES_DEMO_KEY_BETA",
    );
    let supervisor = key(
        DEMO_SUPERVISOR,
        &config.demo_key_supervisor,
        "WES_DEMO_KEY_SUPERVISOR",
    );
    let report = app
        .apply_bundle(&demo_bundle(acme, beta, supervisor))
        .await?;
    println!(
        "wes: demo data loaded ({} written, {} unchanged)",
        report.written, report.unchanged
    );
    // Each demo warehouse gets a transport unless one was configured (kept as the admin left it).
    for (warehouse, transport, executor) in [
        ("WH-Tokyo-01", "KAFKA", "WH-Tokyo-01/AcmeWES"),
        ("WH-Osaka-02", "POLLING", "WH-Osaka-02/BetaWES"),
    ] {
        if app.dispatch_transport(warehouse).is_err() {
            let body = serde_json::json!({"transport": transport, "partner_id": executor});
            app.set_dispatch_transport(warehouse, &body).await?;
        }
        let current = app.dispatch_transport(warehouse)?;
        println!(
            "wes: {warehouse} dispatches over {} to {}",
            current.transport, current.partner_id
        );
    }
    println!(
        "wes: to dispatch WH-Tokyo-01 by webhook instead, run `wes executor webhook --listen 127.0.0.1:8090 --secret <16+ characters>`, \
         then DELETE and PUT /planner/v1/warehouses/WH-Tokyo-01/dispatch-transport with {{\"transport\": \"WEBHOOK\", \"partner_id\": \"WH-Tokyo-01/AcmeWES\", \"url\": \"http://127.0.0.1:8090/\", \"secret\": …}} (docs/executors.md)"
    );
    Ok(())
}
