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
}

impl ServeConfig {
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

/// Where a CLI client finds a running hub and its infrastructure.
#[derive(Debug, Clone, Args)]
pub struct ClientConfig {
    /// Base URL of a running hub.
    #[arg(long, env = "WES_HUB_URL", default_value = "http://127.0.0.1:8080")]
    pub hub_url: String,
    /// Admin API key for planner-internal APIs.
    #[arg(long, env = "WES_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct KafkaClientConfig {
    /// Kafka bootstrap servers (default: the embedded broker of a local hub).
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
    /// Schema registry URL (default: the embedded registry of a local hub).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry_url: String,
}
