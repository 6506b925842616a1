//! Typed configuration of `wes serve`: flags with environment variables, documented defaults.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// HTTP API address.
    #[arg(long, env = "WES_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Data directory: embedded broker storage, SQLite read models.
    #[arg(long, env = "WES_DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    /// Listen address of the embedded Kafka-compatible broker.
    #[arg(long, env = "WES_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    pub kafka_listen: SocketAddr,
    /// Listen address of the embedded schema registry.
    #[arg(long, env = "WES_REGISTRY_ADDR", default_value = "127.0.0.1:8081")]
    pub registry_addr: SocketAddr,
    /// Use this Kafka cluster instead of the embedded broker.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,
    /// Use this schema registry instead of the embedded one.
    #[arg(long, env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Read-model database: `sqlite:PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Load the demo warehouses, SKUs, locations and partners (idempotent).
    #[arg(long, env = "WES_DEMO")]
    pub demo: bool,
    /// `planner_id` of releases that do not name one.
    #[arg(long, env = "WES_PLANNER_ID", default_value = "wes-planner")]
    pub planner_id: String,
    /// Largest request body in bytes (413 above).
    #[arg(long, env = "WES_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most items in one realtime array (413 above).
    #[arg(long, env = "WES_MAX_BATCH_ITEMS", default_value_t = 200)]
    pub max_batch_items: usize,
    /// Partner-API requests per second allowed per partner (sustained), per hub instance.
    #[arg(long, env = "WES_RATE_LIMIT_PER_SEC", default_value_t = 50.0)]
    pub rate_limit_per_sec: f64,
    /// Requests a partner may send at once above the sustained rate.
    #[arg(long, env = "WES_RATE_LIMIT_BURST", default_value_t = 100.0)]
    pub rate_limit_burst: f64,
    /// Records the hub may hold unconfirmed by the broker; beyond it requests get 503 at once.
    #[arg(long, env = "WES_PRODUCER_QUEUE_MAX", default_value_t = wes_kafka::producer::DEFAULT_QUEUE_MESSAGES)]
    pub producer_queue_max: usize,
    /// Largest per-line difference (in base units) the reconciler still counts as a match.
    #[arg(long, env = "WES_RECONCILE_TOLERANCE", default_value_t = 0)]
    pub reconcile_tolerance: i64,
    /// Address of the mTLS listener (the same API; partners authenticate with client
    /// certificates). Off unless set; needs `WES_TLS_CERT` and `WES_TLS_KEY`.
    #[arg(long, env = "WES_TLS_ADDR", requires_all = ["tls_cert", "tls_key"])]
    pub tls_addr: Option<SocketAddr>,
    /// PEM certificate chain of the mTLS listener.
    #[arg(long, env = "WES_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the mTLS listener.
    #[arg(long, env = "WES_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs whose client certificates pass the handshake. Without it only
    /// certificates enrolled in the partner registry (by thumbprint) are accepted.
    #[arg(long, env = "WES_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// The `wes-broker` executable (default: next to this one).
    #[arg(long, env = "WES_BROKER_BIN")]
    pub broker_bin: Option<PathBuf>,
    /// API key of the `planner-admin` partner (planner APIs). Without it, and when the partner has
    /// no key yet, one is generated and printed once.
    #[arg(long, env = "WES_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Key that seals webhook secrets (64 hex digits, AES-256). Without it the hub keeps one in
    /// `secrets.key` in the data directory, created at first start; every hub of a cluster
    /// needs the same key.
    #[arg(long, env = "WES_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,
    /// Webhook retry delays: the first attempt's, then each retry's; the last repeats.
    #[arg(
        long,
        env = "WES_WEBHOOK_RETRY_SCHEDULE",
        default_value = "0s,5s,30s,2m,10m,1h"
    )]
    pub webhook_retry_schedule: String,
    /// How long after its first attempt a webhook delivery is given up (dead-lettered).
    #[arg(long, env = "WES_WEBHOOK_GIVE_UP_AFTER", default_value = "24h")]
    pub webhook_give_up_after: String,
    /// Per webhook attempt.
    #[arg(long, env = "WES_WEBHOOK_TIMEOUT", default_value = "10s")]
    pub webhook_timeout: String,
    /// How long after a secret rotation deliveries also carry the previous secret's signature.
    #[arg(long, env = "WES_WEBHOOK_ROTATION_OVERLAP", default_value = "24h")]
    pub webhook_rotation_overlap: String,
    /// With `--demo`: API key of the demo executor `WH-Tokyo-01/AcmeWES` (generated when unset).
    #[arg(long, env = "WES_DEMO_KEY_ACME", hide_env_values = true)]
    pub demo_key_acme: Option<String>,
    /// With `--demo`: API key of the demo executor `WH-Osaka-02/BetaWES` (generated when unset).
    #[arg(long, env = "WES_DEMO_KEY_BETA", hide_env_values = true)]
    pub demo_key_beta: Option<String>,
    /// With `--demo`: API key of the demo supervisor `WH-Tokyo-01/supervisors` (generated when unset).
    #[arg(long, env = "WES_DEMO_KEY_SUPERVISOR", hide_env_values = true)]
    pub demo_key_supervisor: Option<String>,
}

/// A secrets key written as 64 hex digits.
pub fn parse_secrets_key(text: &str) -> Option<[u8; wes_app::secrets::KEY_LEN]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// A setting refused before anything starts: the setting's name and why.
fn refuse(setting: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{setting}: {why}")
}

impl ServeConfig {
    /// The webhook settings, or the one that is wrong.
    pub fn webhook_settings(&self) -> anyhow::Result<wes_app::webhooks::WebhookSettings> {
        use wes_domain::webhook::{RetrySchedule, parse_duration_ms};
        let duration = |setting: &str, text: &str| {
            parse_duration_ms(text).filter(|ms| *ms > 0).ok_or_else(|| {
                refuse(
                    setting,
                    format!("{text:?} is not a duration like 10s, 2m or 24h"),
                )
            })
        };
        let schedule =
            RetrySchedule::parse(&self.webhook_retry_schedule, &self.webhook_give_up_after)
                .map_err(|why| {
                    refuse(
                        "WES_WEBHOOK_RETRY_SCHEDULE / WES_WEBHOOK_GIVE_UP_AFTER",
                        why,
                    )
                })?;
        Ok(wes_app::webhooks::WebhookSettings {
            schedule,
            timeout: std::time::Duration::from_millis(duration(
                "WES_WEBHOOK_TIMEOUT",
                &self.webhook_timeout,
            )? as u64),
            rotation_overlap_ms: duration(
                "WES_WEBHOOK_ROTATION_OVERLAP",
                &self.webhook_rotation_overlap,
            )?,
        })
    }

    /// Checks every setting before anything starts (no broker, no topic, no file), naming the
    /// setting that is wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        use wes_domain::masterdata::{API_KEY_RULE, is_valid_api_key};
        for (setting, key) in [
            ("WES_ADMIN_KEY", &self.admin_key),
            ("WES_DEMO_KEY_ACME", &self.demo_key_acme),
            ("WES_DEMO_KEY_BETA", &self.demo_key_beta),
            ("WES_DEMO_KEY_SUPERVISOR", &self.demo_key_supervisor),
        ] {
            if let Some(key) = key.as_deref().filter(|k| !k.is_empty())
                && !is_valid_api_key(key)
            {
                return Err(refuse(setting, API_KEY_RULE));
            }
        }
        if let Some(key) = self.secrets_key.as_deref().filter(|k| !k.is_empty())
            && parse_secrets_key(key).is_none()
        {
            return Err(refuse(
                "WES_SECRETS_KEY",
                "must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`",
            ));
        }
        self.webhook_settings()?;
        if wes_domain::PlannerId::parse(&self.planner_id).is_none() {
            return Err(refuse(
                "WES_PLANNER_ID",
                "an identifier: 1-128 printable ASCII characters, no spaces",
            ));
        }
        let positive = [
            ("WES_MAX_BODY_BYTES", self.max_body_bytes as f64),
            ("WES_MAX_BATCH_ITEMS", self.max_batch_items as f64),
            ("WES_PRODUCER_QUEUE_MAX", self.producer_queue_max as f64),
            ("WES_RATE_LIMIT_PER_SEC", self.rate_limit_per_sec),
        ];
        let above = |v: f64, floor: f64| v.partial_cmp(&floor) == Some(std::cmp::Ordering::Greater);
        if let Some((setting, _)) = positive.iter().find(|(_, v)| !above(*v, 0.0)) {
            return Err(refuse(setting, "must be more than 0"));
        }
        if !above(self.rate_limit_burst, 1.0) && self.rate_limit_burst != 1.0 {
            return Err(refuse("WES_RATE_LIMIT_BURST", "must be at least 1"));
        }
        if self.reconcile_tolerance < 0 {
            return Err(refuse("WES_RECONCILE_TOLERANCE", "must be 0 or more"));
        }
        if let Some(url) = &self.database_url
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            return Err(refuse("DATABASE_URL", "use sqlite:PATH or postgres://…"));
        }
        if let Some(url) = &self.schema_registry_url
            && url::Url::parse(url).is_err()
        {
            return Err(refuse("SCHEMA_REGISTRY_URL", "not a URL"));
        }
        if self.kafka_bootstrap_servers.as_deref() == Some("") {
            return Err(refuse("KAFKA_BOOTSTRAP_SERVERS", "empty"));
        }
        for (setting, file) in [
            ("WES_TLS_CERT", &self.tls_cert),
            ("WES_TLS_KEY", &self.tls_key),
            ("WES_TLS_CLIENT_CA", &self.tls_client_ca),
        ] {
            if let Some(path) = file
                && let Err(e) = std::fs::metadata(path)
            {
                return Err(refuse(setting, format!("{}: {e}", path.display())));
            }
        }
        Ok(())
    }

    pub fn embedded_broker(&self) -> bool {
        self.kafka_bootstrap_servers.is_none()
    }
    pub fn bootstrap(&self) -> String {
        self.kafka_bootstrap_servers
            .clone()
            .unwrap_or_else(|| self.kafka_listen.to_string())
    }
    pub fn registry_url(&self) -> String {
        self.schema_registry_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.registry_addr))
    }
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("wes.db").display()
            )
        })
    }
}

/// Where a CLI client finds a running hub. Global: given before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientConfig {
    /// Base URL of a running hub.
    #[arg(
        long = "hub",
        env = "WES_HUB_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub hub_url: String,
    /// Admin API key for planner-internal APIs.
    #[arg(long, env = "WES_ADMIN_KEY", hide_env_values = true, global = true)]
    pub admin_key: Option<String>,
}

/// Where a CLI client finds Kafka. Global: given before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct BootstrapConfig {
    /// Kafka bootstrap servers (default: the embedded broker of a local hub).
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
}

/// Where a CLI client finds the schema registry. Global: given before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct RegistryConfig {
    /// Schema registry URL (default: the embedded registry of a local hub).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    pub registry_url: String,
}
