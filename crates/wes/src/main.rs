//! `wes`: the hub (`wes serve`) and the commands around it.

#[cfg(feature = "embedded-broker")]
mod broker;
mod client;
mod config;
mod demo;
mod logging;
mod serve;

use clap::{Parser, Subcommand};
use config::{ClientConfig, KafkaClientConfig, ServeConfig};
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
        kafka: KafkaClientConfig,
    },
    /// Schemas: check schemas/*.avsc against the registry (BACKWARD_TRANSITIVE).
    Schemas {
        #[command(subcommand)]
        action: SchemasAction,
        #[command(flatten)]
        kafka: KafkaClientConfig,
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
    /// The executor side of Kafka dispatch.
    Executor {
        #[command(subcommand)]
        action: ExecutorAction,
        #[command(flatten)]
        kafka: KafkaClientConfig,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Show what differs between topics.yaml and the cluster.
    Plan,
    /// Create missing topics, add partitions, set configs.
    Apply,
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
    /// Stored offsets and lag of every projection.
    Status,
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
        /// Consumer group (default: executor-<warehouse>).
        #[arg(long)]
        group: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        max: Option<usize>,
        /// Stop when no new event came for this many seconds.
        #[arg(long)]
        idle_timeout_secs: Option<u64>,
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
            Command::Topics { action, kafka } => {
                client::topics(matches!(action, TopicsAction::Apply), &kafka).await
            }
            Command::Schemas {
                action: SchemasAction::Check { root },
                kafka,
            } => client::check_schemas(&root, &kafka).await,
            Command::Masterdata {
                action: MasterdataAction::Import { file },
                hub,
            } => client::import(&file, &hub).await,
            Command::Projections { action, hub } => match action {
                ProjectionsAction::Status => client::projections_status(&hub).await,
                ProjectionsAction::Rebuild { name } => client::rebuild(&name, &hub).await,
            },
            Command::Executor {
                action:
                    ExecutorAction::Subscribe {
                        warehouse,
                        group,
                        max,
                        idle_timeout_secs,
                    },
                kafka,
            } => client::subscribe(&warehouse, group, max, idle_timeout_secs, &kafka).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wes: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
