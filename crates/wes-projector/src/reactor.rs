//! Reactors: side-effecting consumers, distinct from projections. A reactor consumes its topics
//! from its own positions (`reactor_offsets`, never touched by a projection rebuild), performs the
//! effects of each batch (appends of derived events, HTTP calls: idempotent or keyed), then commits
//! its position. So an effect happens at least once per record, never for a record a rebuild or
//! replay reads again, and a crash between the effect and the commit repeats the effect: that is
//! why effects must be idempotent or keyed. Time-driven work (timeouts, sweeps) runs in `tick`,
//! woken by a timer or by the projections the reactor names.

use crate::{MAX_BATCH, ProjectorError, RETRY_BACKOFF, decode_retrying, records};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wes_kafka::consumer::positions_of;
use wes_kafka::{Codec, LogReader};
use wes_store::Store;
use wes_store::projection::Record;

/// How long the runner waits for records before it looks at its wake-ups and timer.
const POLL: Duration = Duration::from_millis(200);

#[async_trait::async_trait]
pub trait Reactor: Send + Sync + 'static {
    /// The name its positions are stored under.
    fn name(&self) -> &'static str;
    fn topics(&self) -> &'static [&'static str];
    /// Performs the effects of a batch (log order per partition). An error retries the same batch.
    async fn react(&self, records: &[Record<'_>]) -> Result<(), String>;
    /// Time- or wake-driven work; an error retries at the next wake-up.
    async fn tick(&self) -> Result<(), String> {
        Ok(())
    }
}

/// When a reactor's `tick` runs: every `every`, and after any change on `wake` (a projection's
/// batch notifications), but never twice within `min_interval`.
pub struct Ticks {
    pub every: Duration,
    pub min_interval: Duration,
    pub wake: Vec<watch::Receiver<u64>>,
}

/// What the runner last saw, for status and readiness.
#[derive(Debug, Default)]
pub struct ReactorHealth {
    pub last_error: Mutex<Option<String>>,
}

/// Runs `reactor` until the process ends: consume, react, commit; tick when due.
pub fn spawn(
    store: Store,
    bootstrap: &str,
    codec: Arc<Codec>,
    reactor: Arc<dyn Reactor>,
    mut ticks: Ticks,
) -> Arc<ReactorHealth> {
    let health = Arc::new(ReactorHealth::default());
    let (bootstrap, reported) = (bootstrap.to_owned(), health.clone());
    tokio::spawn(async move {
        let report = |error: Option<String>| {
            if let Some(e) = &error {
                tracing::warn!(reactor = reactor.name(), error = %e, "reactor retrying");
            }
            *reported.last_error.lock().expect("lock") = error;
        };
        loop {
            if let Err(e) = run(&store, &bootstrap, &codec, &*reactor, &mut ticks, &report).await {
                report(Some(e.to_string()));
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    });
    health
}

async fn run(
    store: &Store,
    bootstrap: &str,
    codec: &Codec,
    reactor: &dyn Reactor,
    ticks: &mut Ticks,
    report: &impl Fn(Option<String>),
) -> Result<(), ProjectorError> {
    let stored = store.reactor_position(reactor.name()).await?;
    let starts = positions_of(bootstrap, reactor.topics(), &stored).await?;
    let reader = LogReader::assign(bootstrap, &starts)?;
    let mut last_tick: Option<Instant> = None;
    let mut tick_due = true;
    loop {
        let batch = reader.next_batch(MAX_BATCH, POLL).await?;
        if !batch.is_empty() {
            let events = decode_retrying(codec, &batch, report).await;
            let records = records(&batch, &events);
            while let Err(e) = reactor.react(&records).await {
                report(Some(format!("reacting: {e}")));
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            let mut next: Vec<(String, i32, i64)> = vec![];
            for r in &records {
                next.retain(|(t, p, _)| !(t == r.topic && *p == r.partition));
                next.push((r.topic.to_owned(), r.partition, r.offset + 1));
            }
            store.save_reactor_position(reactor.name(), &next).await?;
            report(None);
            tick_due = true;
        }
        for wake in &mut ticks.wake {
            if wake.has_changed().unwrap_or(false) {
                wake.mark_unchanged();
                tick_due = true;
            }
        }
        let since = last_tick.map(|t| t.elapsed());
        tick_due |= since.is_none_or(|s| s >= ticks.every);
        if tick_due && since.is_none_or(|s| s >= ticks.min_interval) {
            last_tick = Some(Instant::now());
            match reactor.tick().await {
                Ok(()) => tick_due = false,
                Err(e) => report(Some(format!("tick: {e}"))),
            }
        }
    }
}
