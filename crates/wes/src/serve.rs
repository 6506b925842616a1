//! `wes serve`: wires the adapters together. Start order: broker, registry, topics and schemas,
//! database, projections, credentials and demo data, then the HTTP API.

use crate::config::ServeConfig;
use crate::demo;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wes_app::live::{HttpPoster, KafkaLog, SqlStore};
use wes_app::ports::SystemClock;
use wes_app::secrets::SecretBox;
use wes_app::watcher::{PENDING_GRACE, WindowWatcher};
use wes_app::webhooks::{WebhookDispatch, run_deliveries};
use wes_app::{App, AppSettings};
use wes_domain::{PlannerId, UtcMillis};
use wes_events::Catalog;
use wes_http::{AppState, HttpSettings};
use wes_kafka::{Codec, EventProducer};
use wes_projector::Projector;
use wes_store::{ProjectionKind, Store};

/// The compatibility rule every wes subject is registered under (architecture invariant 4).
const SUBJECT_COMPATIBILITY: &str = "BACKWARD_TRANSITIVE";

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let data_dir = config.data_dir.canonicalize()?;
    let bootstrap = config.bootstrap();
    let registry_url = config.registry_url();

    if config.embedded_broker() {
        #[cfg(feature = "embedded-broker")]
        {
            let binary = crate::broker::broker_binary(config.broker_bin.as_deref())?;
            crate::broker::start(
                binary,
                config.kafka_listen.to_string(),
                data_dir.join("broker"),
            )
            .await?;
        }
        #[cfg(not(feature = "embedded-broker"))]
        anyhow::bail!(
            "this build has no embedded broker (feature `embedded-broker`): set KAFKA_BOOTSTRAP_SERVERS"
        );
    }

    if config.schema_registry_url.is_none() {
        let registry = wes_registry::Registry::open(&bootstrap)
            .await
            .context("opening the embedded schema registry")?;
        let listener = tokio::net::TcpListener::bind(config.registry_addr)
            .await
            .with_context(|| format!("binding the schema registry to {}", config.registry_addr))?;
        tokio::spawn(async move { axum::serve(listener, wes_registry::router(registry)).await });
        tracing::info!(addr = %config.registry_addr, "embedded schema registry ready");
    }

    let catalog = Catalog::embedded();
    let created = wes_kafka::admin::ensure_topics(&bootstrap, &catalog)
        .await
        .context("creating topics")?;
    for change in &created {
        tracing::info!(%change, "topic");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let codec = Codec::new(&registry_url, &catalog)?;
    for topic in &catalog.topics {
        let url = format!(
            "{}/config/{}",
            registry_url.trim_end_matches('/'),
            topic.value_subject()
        );
        let response = http
            .put(&url)
            .json(&serde_json::json!({"compatibility": SUBJECT_COMPATIBILITY}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "setting compatibility of {}: HTTP {}",
            topic.value_subject(),
            response.status()
        );
        let id = codec
            .register(&topic.name)
            .await
            .with_context(|| format!("registering the schema of {}", topic.name))?;
        tracing::debug!(topic = %topic.name, schema_id = id, "schema registered");
    }

    let store = Store::connect(&config.database_url())
        .await
        .context("connecting to the database")?;
    let instance_id = instance_id(&data_dir)?;
    let expired = store.expire_claims_of(&instance_id).await?;
    if expired > 0 {
        tracing::warn!(
            expired,
            "requests in flight when this instance stopped were cut off; their retries will be accepted"
        );
    }
    let (md_tx, md_rx) = watch::channel(Arc::new(store.load_master_data().await?));
    let md_tx = Arc::new(md_tx);
    let reload_store = store.clone();
    let after_batch: wes_projector::AfterBatch = Arc::new(move |kind| {
        let (store, md_tx) = (reload_store.clone(), md_tx.clone());
        Box::pin(async move {
            if kind == ProjectionKind::MASTER_DATA {
                match store.load_master_data().await {
                    Ok(md) => {
                        md_tx.send_replace(Arc::new(md));
                    }
                    Err(e) => tracing::error!(error = %e, "reloading master data"),
                }
            }
        })
    });
    let projector = Projector::start(store.clone(), &bootstrap, codec.clone(), after_batch);
    let codec_for_reactors = codec.clone();
    let producer = EventProducer::with_queue_limit(&bootstrap, codec, config.producer_queue_max)?;
    let rate_limit = wes_http::ratelimit::RateLimit {
        per_second: config.rate_limit_per_sec,
        burst: config.rate_limit_burst,
    };
    let planner_id = PlannerId::parse(&config.planner_id).context("WES_PLANNER_ID")?;
    let sql = Arc::new(SqlStore {
        store: store.clone(),
        masterdata: md_rx.clone(),
        instance_id: instance_id.clone(),
    });
    let app = Arc::new(App {
        log: Arc::new(KafkaLog {
            producer,
            projector: projector.clone(),
        }),
        keys: sql.clone(),
        reads: sql.clone(),
        watch: sql.clone(),
        clock: Arc::new(SystemClock),
        settings: AppSettings {
            planner_id,
            reconcile_tolerance: config.reconcile_tolerance,
            webhook: config.webhook_settings()?,
        },
        dispatch_turn: Default::default(),
        poll_turn: Default::default(),
        secrets: SecretBox::new(&secrets_key(&data_dir, config.secrets_key.as_deref())?),
        deliveries: sql.clone(),
        poster: Arc::new(HttpPoster(
            reqwest::Client::builder()
                .user_agent(concat!("wes/", env!("CARGO_PKG_VERSION")))
                // A redirect would turn the POST into a body-less GET: it is an answer, not a 2xx.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("the webhook HTTP client")?,
        )),
    });
    let state = Arc::new(AppState {
        app: app.clone(),
        store: store.clone(),
        projector: projector.clone(),
        masterdata: md_rx,
        settings: HttpSettings {
            max_body_bytes: config.max_body_bytes,
            max_batch_items: config.max_batch_items,
            bootstrap: bootstrap.clone(),
            registry_url: registry_url.clone(),
            rate_limit,
        },
        http,
        rate_limiter: wes_http::ratelimit::RateLimiter::new(rate_limit),
    });

    wait_for_masterdata(&projector).await?;
    if store.has_key_text_window_ids().await? {
        tracing::info!("window ids became URL-safe: rebuilding the windows projection");
        projector.rebuild(ProjectionKind::WINDOWS).await?;
    }
    if store.dispatch_needs_rebuild().await? {
        tracing::info!("releases are kept as sent: rebuilding the dispatch projection");
        projector.rebuild(ProjectionKind::DISPATCH).await?;
    }
    demo::ensure_admin_key(&app, config.admin_key.as_deref()).await?;
    if config.demo {
        demo::load(&app, &config).await?;
    }

    tokio::spawn(purge_expired_keys(store.clone()));
    // Reactors: side-effecting consumers with their own positions (never run by a rebuild).
    wes_projector::reactor::spawn(
        store.clone(),
        &bootstrap,
        codec_for_reactors.clone(),
        Arc::new(WindowWatcher(app.clone())),
        wes_projector::reactor::Ticks {
            every: PENDING_GRACE,
            min_interval: Duration::from_secs(1),
            wake: vec![projector.changes(ProjectionKind::LEDGER)],
        },
    );
    // Webhook dispatch: the reactor queues deliveries, the loop (one instance at a time) makes them.
    let wake_deliveries = Arc::new(tokio::sync::Notify::new());
    wes_projector::reactor::spawn(
        store,
        &bootstrap,
        codec_for_reactors,
        Arc::new(WebhookDispatch {
            app: app.clone(),
            wake: wake_deliveries.clone(),
        }),
        wes_projector::reactor::Ticks {
            every: Duration::from_secs(3600),
            min_interval: Duration::from_secs(1),
            wake: vec![],
        },
    );
    // The lease holder is this process: a copy of the data directory is another holder.
    let holder = format!("{instance_id}/{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(run_deliveries(app, holder, wake_deliveries));
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.http_addr))?;
    println!(
        "wes: HTTP API on http://{}  (Kafka {bootstrap}, schema registry {registry_url})",
        config.http_addr
    );
    if let Some(addr) = config.tls_addr {
        let (cert, key) = (
            config
                .tls_cert
                .as_deref()
                .context("WES_TLS_CERT is required")?,
            config
                .tls_key
                .as_deref()
                .context("WES_TLS_KEY is required")?,
        );
        let tls = wes_http::tls::server_config(
            cert,
            key,
            config.tls_client_ca.as_deref(),
            state.masterdata.clone(),
        )?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the mTLS listener to {addr}"))?;
        println!("wes: mTLS API on https://{addr}");
        tokio::spawn(wes_http::tls::serve(
            listener,
            tls,
            wes_http::router(state.clone()),
        ));
    }
    axum::serve(listener, wes_http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// The key that seals webhook secrets: `WES_SECRETS_KEY`, or `secrets.key` in the data directory
/// (created at first start, readable by its owner only).
fn secrets_key(
    data_dir: &std::path::Path,
    configured: Option<&str>,
) -> anyhow::Result<[u8; wes_app::secrets::KEY_LEN]> {
    if let Some(text) = configured.filter(|k| !k.is_empty()) {
        return crate::config::parse_secrets_key(text).context("WES_SECRETS_KEY");
    }
    let path = data_dir.join("secrets.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => crate::config::parse_secrets_key(&text)
            .with_context(|| format!("{} does not hold 64 hex digits", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key()?;
            let mut file = std::fs::OpenOptions::new();
            file.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
            std::io::Write::write_all(
                &mut file
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?,
                hex::encode(key).as_bytes(),
            )?;
            tracing::info!(path = %path.display(), "created the key that seals webhook secrets");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The instance id, created once per data directory.
fn instance_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = format!("wes-{}", uuid::Uuid::new_v4().simple());
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
    }
}

/// Validation reads the master-data projection: let it catch up with the log before serving.
async fn wait_for_masterdata(projector: &Projector) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = projector.status().await?;
        if status
            .iter()
            .find(|s| s.name == ProjectionKind::MASTER_DATA.name())
            .is_some_and(|s| s.caught_up && s.running)
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the master-data projection did not catch up within 60 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn purge_expired_keys(store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match store
            .purge_expired_keys(UtcMillis(chrono::Utc::now().timestamp_millis()))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired idempotency keys purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging idempotency keys"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    crate::logging::quiet_kafka_clients();
}
