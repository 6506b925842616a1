//! `wes-broker`: tansu (a Kafka-API broker) with sqlite storage, as its own process. `wes serve`
//! supervises it on its embedded default. It is a separate binary because tansu's sqlite engine
//! (libsql) and sqlx's SQLite each link a full SQLite, and the two cannot share one executable.

use clap::Parser;
use std::io::Read;
use std::path::PathBuf;
use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tokio::time::Instant;
use url::Url;

#[derive(Parser, Debug)]
#[command(about = "The embedded Kafka-compatible broker of wes (tansu, sqlite storage)")]
struct Args {
    /// Address the Kafka protocol listens on (also advertised to clients).
    #[arg(long, env = "WES_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    listen: String,
    /// Directory holding the broker's sqlite database.
    #[arg(long, env = "WES_BROKER_DATA_DIR", default_value = "./var/broker")]
    data_dir: PathBuf,
    /// Exit when standard input closes: the supervising `wes serve` died.
    #[arg(long)]
    exit_with_parent: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WES_BROKER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Fail fast: a panic inside tansu kills its storage task but not the process, leaving a broker
    // that accepts connections and fails every produce (seen after a stall: "more or less than one
    // row"). Exiting lets `wes serve` restart it on the durable sqlite storage.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("wes-broker: fatal: {info}; exiting so the supervisor restarts the broker");
        std::process::exit(70);
    }));
    std::fs::create_dir_all(&args.data_dir)?;
    // tansu resolves a sqlite URL against the working directory; run inside the data directory.
    std::env::set_current_dir(&args.data_dir)?;
    if args.exit_with_parent {
        std::thread::spawn(|| {
            let mut sink = [0u8; 64];
            while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listener = Url::parse(&format!("tcp://{}", args.listen))?;
    let mut broker = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(tansu_broker::NODE_ID)
        .cluster_id("wes")
        .incarnation_id(uuid::Uuid::now_v7())
        .advertised_listener(listener.clone())
        .otlp_endpoint_url(None)
        .schema_registry(None)
        .storage(Url::parse("sqlite://tansu.db")?)
        .listener(listener)
        .authentication(false)
        .tls_server_config(None)
        .silent(true)
        .build()
        .await?;
    tracing::info!(listen = %args.listen, "wes-broker serving");
    broker.serve(Instant::now()).await?;
    Ok(())
}
