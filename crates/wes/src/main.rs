//! `wes`: the hub (`wes serve`) and the commands around it.

#[cfg(feature = "embedded-broker")]
mod broker;
mod client;
mod config;
mod demo;
mod executors;
mod export;
mod logging;
mod serve;

use clap::{Parser, Subcommand};
use config::{BootstrapConfig, ClientConfig, RegistryConfig, ServeConfig};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "wes",
    version,
    about = "Event-sourced warehouse-execution hub on Kafka"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub (embedded broker, registry and SQLite unless configured otherwise).
    Serve(Box<ServeConfig>),
    /// Topics as code: compare topics.yaml with the cluster, or apply it.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
        #[command(flatten)]
        kafka: BootstrapConfig,
    },
    /// Schemas: check schemas/*.avsc against the registry (BACKWARD_TRANSITIVE).
    Schemas {
        #[command(subcommand)]
        action: SchemasAction,
        #[command(flatten)]
        registry: RegistryConfig,
    },
    /// Master data: import a CSV or JSON file through a running hub.
    Masterdata {
        #[command(subcommand)]
        action: MasterdataAction,
        #[command(flatten)]
        hub: ClientConfig,
    },
    /// Projections of a running hub: status, or rebuild one from offset 0.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
        #[command(flatten)]
        hub: ClientConfig,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what `/openapi.json` serves).
    Openapi,
    /// Reference executors: dispatch over Kafka (`subscribe`), webhooks (`webhook`) or polling (`poll`).
    Executor {
        #[command(subcommand)]
        action: ExecutorAction,
        #[command(flatten)]
        kafka: BootstrapConfig,
        #[command(flatten)]
        registry: RegistryConfig,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Show what differs between the catalog and the cluster; exit 2 when something differs
    /// (like `terraform plan -detailed-exitcode`), 0 when nothing does.
    Plan {
        /// The catalog file (its schema paths are relative to it); default: the one built in.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Create missing topics, add partitions, set configs.
    Apply {
        /// The catalog file (its schema paths are relative to it); default: the one built in.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print the catalog in another tool's format, e.g. Strimzi `KafkaTopic` resources for
    /// Kubernetes (`wes topics export --format strimzi --cluster my-cluster | kubectl apply -f -`).
    Export {
        #[arg(long, value_enum)]
        format: export::Format,
        /// The Strimzi Kafka cluster the topics belong to (the `strimzi.io/cluster` label).
        #[arg(long)]
        cluster: String,
        /// The Kubernetes namespace of the resources (default: none, so kubectl's current one).
        #[arg(long)]
        namespace: Option<String>,
        /// The catalog file; default: the one built in.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SchemasAction {
    /// Exit 0 when every schema file is compatible with all registered versions of its subject.
    Check {
        /// Directory holding the catalog's schema files.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
enum MasterdataAction {
    /// Import a `.json` bundle or a `.csv` file (kind from the header, see docs/masterdata.md).
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum ProjectionsAction {
    /// Stored offsets and lag of every projection, as a table.
    Status {
        /// The hub's whole answer as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Replay NAME from offset 0 into fresh tables and swap them in.
    Rebuild { name: String },
}

#[derive(Subcommand)]
enum ExecutorAction {
    /// Join a consumer group on the dispatch topic and print one JSON line per new event.
    Subscribe {
        /// Only this warehouse's events.
        #[arg(long)]
        warehouse: String,
        /// Consumer group (default: a new throwaway group, so a real executor's group and its
        /// position are never touched).
        #[arg(long)]
        group: Option<String>,
        /// Start at the earliest event when the group has no position yet (default: only new
        /// events, as `kafka-console-consumer` does).
        #[arg(long)]
        from_beginning: bool,
        /// Start at the first event released at or after this RFC 3339 instant, on every
        /// partition, whatever the group committed (e.g. 2026-12-01T06:00:00Z).
        #[arg(long, conflicts_with = "from_beginning")]
        since: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        max: Option<usize>,
        /// Stop when no new event came for this many seconds.
        #[arg(long)]
        idle_timeout_secs: Option<u64>,
    },
    /// Receive webhook dispatch: verify each signature over the raw body (401 when it does not
    /// verify), dedup on (planner_id, correlation_id) for 24 h, print one JSON line per event.
    Webhook {
        /// Address to listen on (the transport's `url` points here).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// The signing secret; give it twice (new and previous) while rotating.
        #[arg(long = "secret", env = "WES_WEBHOOK_SECRET", hide_env_values = true)]
        secrets: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        max: Option<usize>,
    },
    /// Poll-mode dispatch: append each page to a store file (fsync), then acknowledge it; resume
    /// from the file after a crash. Prints one JSON line per event.
    Poll {
        /// Required when the key acts for more than one warehouse.
        #[arg(long)]
        warehouse: Option<String>,
        /// The store file (JSON lines: events, and the cursor after each page).
        #[arg(long)]
        store: std::path::PathBuf,
        /// The executor's API key.
        #[arg(long, env = "WES_EXECUTOR_KEY", hide_env_values = true)]
        key: String,
        /// Base URL of the hub.
        #[arg(
            long = "hub",
            env = "WES_HUB_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        hub_url: String,
        /// Milliseconds between polls when there is nothing new.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Stop after this many events.
        #[arg(long)]
        max: Option<usize>,
    },
}

fn main() -> std::process::ExitCode {
    logging::init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // A command's output may go to a pipe that closes early (`wes openapi | head`): end
        // quietly, as Unix tools do, instead of panicking on the broken pipe. The hub keeps
        // SIGPIPE ignored: a client closing its connection must never stop it.
        // SAFETY: called before any thread starts; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(config) => serve::run(*config).await,
            Command::Openapi => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&wes_http::openapi::document())?
                );
                Ok(())
            }
            Command::Topics { action, kafka } => match action {
                TopicsAction::Plan { file } => client::topics(false, file.as_deref(), &kafka).await,
                TopicsAction::Apply { file } => client::topics(true, file.as_deref(), &kafka).await,
                TopicsAction::Export {
                    format: export::Format::Strimzi,
                    cluster,
                    namespace,
                    file,
                } => client::export_strimzi(file.as_deref(), &cluster, namespace.as_deref()),
            },
            Command::Schemas {
                action: SchemasAction::Check { root },
                registry,
            } => client::check_schemas(&root, &registry).await,
            Command::Masterdata {
                action: MasterdataAction::Import { file },
                hub,
            } => client::import(&file, &hub).await,
            Command::Projections { action, hub } => match action {
                ProjectionsAction::Status { json } => client::projections_status(&hub, json).await,
                ProjectionsAction::Rebuild { name } => client::rebuild(&name, &hub).await,
            },
            Command::Executor {
                action:
                    ExecutorAction::Subscribe {
                        warehouse,
                        group,
                        from_beginning,
                        since,
                        max,
                        idle_timeout_secs,
                    },
                kafka,
                registry,
            } => {
                let options = client::Subscription {
                    group,
                    from_beginning,
                    since,
                    max,
                    idle_timeout_secs,
                };
                client::subscribe(&warehouse, options, &kafka, &registry).await
            }
            Command::Executor {
                action:
                    ExecutorAction::Webhook {
                        listen,
                        secrets,
                        max,
                    },
                ..
            } => executors::receive_webhooks(&listen, secrets, max).await,
            Command::Executor {
                action:
                    ExecutorAction::Poll {
                        warehouse,
                        store,
                        key,
                        hub_url,
                        interval_ms,
                        max,
                    },
                ..
            } => {
                let options = executors::PollOptions {
                    hub: hub_url.trim_end_matches('/'),
                    key: &key,
                    warehouse: warehouse.as_deref(),
                    interval: std::time::Duration::from_millis(interval_ms),
                    max,
                };
                executors::poll(&store, options).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `topics plan` found differences: printed already, told by the exit status.
        Err(e) if e.is::<client::Drift>() => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("wes: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
