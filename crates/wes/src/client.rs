//! The CLI commands that talk to a running hub or to Kafka and the registry directly.

use crate::config::{BootstrapConfig, ClientConfig, RegistryConfig};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use wes_app::masterdata::{Bundle, LocationIn, PartnerIn, SkuIn, WarehouseIn};
use wes_domain::WarehouseFrn;
use wes_events::Catalog;
use wes_kafka::subscriber::Start;

/// `topics plan` found the cluster different from the catalog (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("the cluster differs from the catalog")]
pub struct Drift;

/// The catalog of `file` (schema paths relative to it), or the one built in.
fn catalog(file: Option<&Path>) -> anyhow::Result<Catalog> {
    let Some(file) = file else {
        return Ok(Catalog::embedded());
    };
    let yaml =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    Catalog::parse(&yaml, |path| std::fs::read_to_string(dir.join(path)).ok())
        .with_context(|| format!("{} is not a valid topic catalog", file.display()))
}

pub async fn topics(
    apply: bool,
    file: Option<&Path>,
    kafka: &BootstrapConfig,
) -> anyhow::Result<()> {
    let catalog = catalog(file)?;
    let changes = wes_kafka::admin::plan(&kafka.bootstrap, &catalog).await?;
    if changes.is_empty() {
        println!("topics match topics.yaml ({} topics)", catalog.topics.len());
        return Ok(());
    }
    for change in &changes {
        println!("{change}");
    }
    if !apply {
        return Err(Drift.into());
    }
    wes_kafka::admin::apply(&kafka.bootstrap, &changes).await?;
    println!("applied");
    Ok(())
}

/// Prints the catalog as Strimzi `KafkaTopic` resources.
pub fn export_strimzi(
    file: Option<&Path>,
    cluster: &str,
    namespace: Option<&str>,
) -> anyhow::Result<()> {
    print!(
        "{}",
        crate::export::strimzi(&catalog(file)?, cluster, namespace)?
    );
    Ok(())
}

pub async fn check_schemas(root: &Path, registry: &RegistryConfig) -> anyhow::Result<()> {
    let catalog = Catalog::parse(wes_events::catalog::TOPICS_YAML, |path| {
        std::fs::read_to_string(root.join(path)).ok()
    })?;
    let http = reqwest::Client::new();
    let mut incompatible = 0;
    for topic in &catalog.topics {
        let subject = topic.value_subject();
        let base = registry.registry_url.trim_end_matches('/');
        let url = format!("{base}/compatibility/subjects/{subject}/versions?verbose=true");
        // Checked against every registered version: the subjects are BACKWARD_TRANSITIVE.
        let level: Value = http
            .get(format!("{base}/config/{subject}?defaultToGlobal=true"))
            .send()
            .await?
            .json()
            .await?;
        let response = http
            .post(&url)
            .json(&json!({"schema": topic.schema}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{subject}: registry answered {status}: {body}");
        }
        let ok = body["is_compatible"].as_bool().unwrap_or(false);
        println!(
            "{subject} ({}): {}",
            level["compatibilityLevel"].as_str().unwrap_or("?"),
            if ok { "compatible" } else { "INCOMPATIBLE" }
        );
        if !ok {
            incompatible += 1;
            for message in body["messages"].as_array().into_iter().flatten() {
                println!("  {}", message.as_str().unwrap_or_default());
            }
        }
    }
    if incompatible > 0 {
        bail!("{incompatible} schema(s) incompatible with their registered versions");
    }
    Ok(())
}

fn admin_key(hub: &ClientConfig) -> anyhow::Result<&str> {
    hub.admin_key
        .as_deref()
        .context("set WES_ADMIN_KEY (or --admin-key) to the hub's admin API key")
}

async fn call(
    hub: &ClientConfig,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut request = client
        .request(
            method,
            format!("{}{path}", hub.hub_url.trim_end_matches('/')),
        )
        .bearer_auth(admin_key(hub)?);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("calling the hub at {}", hub.hub_url))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the hub answered {status}: {}",
            body["detail"].as_str().unwrap_or(&body.to_string())
        );
    }
    Ok(body)
}

/// Reads a CSV file of one kind, chosen by its header (see docs/masterdata.md).
pub fn bundle_from_csv(text: &str) -> anyhow::Result<Bundle> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let has = |c: &str| headers.iter().any(|h| h == c);
    let mut bundle = Bundle::default();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("CSV row {}", line + 2))?;
        let get = |c: &str| {
            headers
                .iter()
                .position(|h| h == c)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        let list = |c: &str| {
            get(c)
                .split(['|', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        if has("partner_id") {
            bundle.partners.push(PartnerIn {
                partner_id: get("partner_id"),
                role: Some(get("role")).filter(|r| !r.is_empty()),
                allowed_warehouses: list("allowed_warehouses"),
                api_keys: list("api_keys"),
                api_key_sha256: list("api_key_sha256"),
                ..PartnerIn::default()
            });
        } else if has("base_uom") {
            bundle.skus.push(SkuIn {
                sku: get("sku"),
                base_uom: get("base_uom"),
                tracking: Some(get("tracking")).filter(|t| !t.is_empty()),
                description: get("description"),
            });
        } else if has("location") {
            bundle.locations.push(LocationIn {
                warehouse_id: get("warehouse_id"),
                location: get("location"),
            });
        } else if has("warehouse_id") {
            bundle.warehouses.push(WarehouseIn {
                warehouse_id: get("warehouse_id"),
                name: get("name"),
            });
        } else {
            bail!(
                "unrecognised CSV header {headers:?}: see docs/masterdata.md for the four layouts"
            );
        }
    }
    Ok(bundle)
}

pub async fn import(file: &Path, hub: &ClientConfig) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: Bundle = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid master-data bundle", file.display()))?,
        Some("csv") => bundle_from_csv(&text)?,
        _ => bail!("{}: use a .json bundle or a .csv file", file.display()),
    };
    let report = call(
        hub,
        reqwest::Method::POST,
        "/planner/v1/masterdata",
        Some(serde_json::to_value(&bundle)?),
    )
    .await?;
    println!("{report}");
    Ok(())
}

pub async fn projections_status(hub: &ClientConfig, json: bool) -> anyhow::Result<()> {
    let status = call(hub, reqwest::Method::GET, "/planner/v1/projections", None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "{:<12} {:>8} {:>10} {:>8}  LAST ERROR",
        "PROJECTION", "RUNNING", "CAUGHT UP", "LAG"
    );
    for p in status["projections"].as_array().into_iter().flatten() {
        let yes_no = |v: &Value| {
            if v.as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
        };
        println!(
            "{:<12} {:>8} {:>10} {:>8}  {}",
            p["name"].as_str().unwrap_or("?"),
            yes_no(&p["running"]),
            yes_no(&p["caught_up"]),
            p["lag"].as_i64().unwrap_or_default(),
            p["last_error"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

pub async fn rebuild(name: &str, hub: &ClientConfig) -> anyhow::Result<()> {
    let report = call(
        hub,
        reqwest::Method::POST,
        &format!("/planner/v1/projections/{name}/rebuild"),
        None,
    )
    .await?;
    println!("{report}");
    Ok(())
}

/// How `executor subscribe` joins and when it stops.
pub struct Subscription {
    pub group: Option<String>,
    pub from_beginning: bool,
    /// An RFC 3339 instant to start at.
    pub since: Option<String>,
    pub max: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
}

/// The warehouses the cluster knows: the master-data warehouses topic, read to its end.
async fn known_warehouses(
    bootstrap: &str,
    codec: &wes_kafka::Codec,
) -> anyhow::Result<Vec<String>> {
    use wes_events::catalog::topics;
    let ends = wes_kafka::consumer::log_ends(bootstrap, topics::WAREHOUSES).await?;
    let starts: Vec<(String, i32, i64)> = ends
        .iter()
        .map(|(p, _)| (topics::WAREHOUSES.to_owned(), *p, 0))
        .collect();
    let reader = wes_kafka::LogReader::assign(bootstrap, &starts)?;
    let mut left: Vec<(i32, i64)> = ends.into_iter().filter(|(_, end)| *end > 0).collect();
    let mut known = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !left.is_empty() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "reading {} did not reach its end within 30 s",
            topics::WAREHOUSES
        );
        for record in reader.next_batch(1000, Duration::from_millis(500)).await? {
            if let Some(payload) = &record.payload
                && let wes_events::Event::Warehouse(w) = codec.decode(payload).await?
            {
                known.push(w.warehouse_id);
            }
            left.retain(|(p, end)| !(*p == record.partition && record.offset + 1 >= *end));
        }
    }
    Ok(known)
}

/// An event as an executor reads it on every transport: the contract's envelope.
fn printable(event: &wes_events::DispatchEvent) -> anyhow::Result<Value> {
    Ok(Value::Object(event.to_domain()?.envelope))
}

pub async fn subscribe(
    warehouse: &str,
    options: Subscription,
    kafka: &BootstrapConfig,
    registry: &RegistryConfig,
) -> anyhow::Result<()> {
    let warehouse_id =
        wes_domain::WarehouseId::parse(warehouse).context("--warehouse must be a warehouse id")?;
    let start = match (&options.since, options.from_beginning) {
        (Some(since), _) => Start::At(
            wes_domain::UtcMillis::parse_rfc3339(since)
                .with_context(|| {
                    format!(
                        "--since {since:?} is not an RFC 3339 instant (e.g. 2026-12-01T06:00:00Z)"
                    )
                })?
                .0,
        ),
        (None, true) => Start::CommittedOrEarliest,
        (None, false) => Start::Committed,
    };
    let codec = wes_kafka::Codec::new(&registry.registry_url, &Catalog::embedded())?;
    let known = known_warehouses(&kafka.bootstrap, &codec).await?;
    if !known.iter().any(|w| w == warehouse) {
        bail!(
            "unknown warehouse {warehouse}; the cluster knows {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let group = options
        .group
        .unwrap_or_else(|| format!("wes-cli-{}", uuid::Uuid::new_v4().simple()));
    let frn = WarehouseFrn::for_warehouse(&warehouse_id).to_string();
    let mut subscriber = wes_kafka::subscriber::DispatchSubscriber::new(
        &kafka.bootstrap,
        &group,
        codec,
        Some(frn),
        start,
    )
    .await?;
    let mut seen = 0;
    while options.max.is_none_or(|m| seen < m) {
        let next = match options.idle_timeout_secs {
            Some(secs) => {
                match tokio::time::timeout(Duration::from_secs(secs), subscriber.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                }
            }
            None => subscriber.next().await,
        }?;
        let line = json!({"partition": next.partition, "offset": next.offset, "event": printable(&next.event)?});
        println!("{line}");
        subscriber.commit()?;
        seen += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_kind_follows_the_header() {
        let skus =
            bundle_from_csv("sku,base_uom,tracking,description\nSKU-1,EA,LOT,one\nSKU-2,CS,,two\n")
                .unwrap();
        assert_eq!(skus.skus.len(), 2);
        assert_eq!(skus.skus[0].tracking.as_deref(), Some("LOT"));
        assert_eq!(skus.skus[1].tracking, None);
        let partners = bundle_from_csv("partner_id,role,allowed_warehouses,api_keys\nWH-1/X,EXECUTOR,WH-1|WH-2,k1234567890123456\n").unwrap();
        assert_eq!(
            partners.partners[0].allowed_warehouses,
            vec!["WH-1", "WH-2"]
        );
        let locations = bundle_from_csv("warehouse_id,location\nWH-1,A.1\n").unwrap();
        assert_eq!(locations.locations.len(), 1);
        assert!(bundle_from_csv("foo,bar\n1,2\n").is_err());
    }
}
