//! Projection runners. Each projection consumes its topics from the offsets stored in SQL, decodes
//! records by schema id and applies them in batches through `wes_store` (offsets in the same
//! transaction). A runner that fails retries with back-off and reports the error; it never skips a
//! record, so a projection can lag but never silently diverge from the log.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wes_events::Event;
use wes_kafka::consumer::{log_ends, positions_of};
use wes_kafka::{Codec, LogReader, LogRecord};
use wes_store::projection::Record;
use wes_store::{ApplyOutcome, ProjectionKind, Store, Tables};

pub mod reactor;

const MAX_BATCH: usize = 1000;
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Kafka(#[from] wes_kafka::KafkaError),
    #[error(transparent)]
    Store(#[from] wes_store::StoreError),
    #[error("rebuild of {0} stalled: {1}")]
    Stalled(&'static str, String),
}

/// Awaited after every committed batch, before waiters are told (the hub reloads its master-data
/// snapshot there, so a write that waited for the projection is visible to validation).
pub type AfterBatch =
    Arc<dyn Fn(ProjectionKind) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

struct Runner {
    kind: ProjectionKind,
    /// Held while a batch is applied; a rebuild holds it for its whole run.
    apply_lock: tokio::sync::Mutex<()>,
    /// `(topic, partition) -> next offset` as last committed by this runner.
    committed: Mutex<HashMap<(String, i32), i64>>,
    changed: watch::Sender<u64>,
    last_error: Mutex<Option<String>>,
    started: std::sync::atomic::AtomicBool,
}

pub struct Projector {
    store: Store,
    bootstrap: String,
    codec: Arc<Codec>,
    runners: Vec<Arc<Runner>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    pub stored_offset: i64,
    pub log_end_offset: i64,
    pub lag: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    pub name: &'static str,
    pub running: bool,
    pub caught_up: bool,
    pub lag: i64,
    pub last_error: Option<String>,
    pub partitions: Vec<PartitionStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub name: &'static str,
    pub records_replayed: usize,
    pub duration_ms: u128,
}

/// How long a reader waits for a record before its loop looks around (rebuild progress, ticks).
const POLL: Duration = Duration::from_millis(500);

pub(crate) async fn decode_all(
    codec: &Codec,
    records: &[LogRecord],
) -> Result<Vec<Event>, wes_kafka::KafkaError> {
    let mut events = Vec::with_capacity(records.len());
    for r in records {
        events.push(
            codec
                .decode(r.payload.as_deref().unwrap_or_default())
                .await?,
        );
    }
    Ok(events)
}

/// Decodes, retrying in place while the registry is unreachable: a batch is never dropped.
pub(crate) async fn decode_retrying(
    codec: &Codec,
    records: &[LogRecord],
    report: impl Fn(Option<String>),
) -> Vec<Event> {
    loop {
        match decode_all(codec, records).await {
            Ok(events) => break events,
            Err(e) => {
                report(Some(format!("decoding: {e}")));
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    }
}

/// Pairs each record with its decoded event and its position in the log.
pub(crate) fn records<'a>(raw: &'a [LogRecord], events: &'a [Event]) -> Vec<Record<'a>> {
    raw.iter()
        .zip(events)
        .map(|(m, e)| Record {
            topic: &m.topic,
            partition: m.partition,
            offset: m.offset,
            event: e,
        })
        .collect()
}

impl Projector {
    /// Starts one runner per projection.
    pub fn start(
        store: Store,
        bootstrap: &str,
        codec: Arc<Codec>,
        after_batch: AfterBatch,
    ) -> Arc<Projector> {
        let runners = ProjectionKind::ALL
            .into_iter()
            .map(|kind| {
                Arc::new(Runner {
                    kind,
                    apply_lock: tokio::sync::Mutex::new(()),
                    committed: Mutex::new(HashMap::new()),
                    changed: watch::channel(0).0,
                    last_error: Mutex::new(None),
                    started: false.into(),
                })
            })
            .collect();
        let projector = Arc::new(Projector {
            store,
            bootstrap: bootstrap.to_owned(),
            codec,
            runners,
        });
        for runner in &projector.runners {
            let (p, r, after) = (projector.clone(), runner.clone(), after_batch.clone());
            tokio::spawn(async move { p.run(r, after).await });
        }
        projector
    }

    fn runner(&self, kind: ProjectionKind) -> &Arc<Runner> {
        self.runners
            .iter()
            .find(|r| r.kind == kind)
            .expect("a runner per projection")
    }

    fn report(runner: &Runner, error: Option<String>) {
        if let Some(e) = &error {
            tracing::warn!(projection = runner.kind.name(), error = %e, "projection runner retrying");
        }
        *runner.last_error.lock().expect("lock") = error;
    }

    async fn run(self: Arc<Self>, runner: Arc<Runner>, after_batch: AfterBatch) {
        loop {
            if let Err(e) = self.follow(&runner, &after_batch).await {
                Self::report(&runner, Some(e.to_string()));
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    }

    /// Follows the log from the stored positions until the generation changes or an error occurs.
    async fn follow(
        &self,
        runner: &Runner,
        after_batch: &AfterBatch,
    ) -> Result<(), ProjectorError> {
        let kind = runner.kind;
        let position = self.store.position(kind, &Tables::LIVE).await?;
        let starts = positions_of(&self.bootstrap, kind.topics(), &position.offsets).await?;
        {
            let mut committed = runner.committed.lock().expect("lock");
            committed.clear();
            for (t, p, o) in &starts {
                committed.insert((t.clone(), *p), *o);
            }
        }
        let reader = LogReader::assign(&self.bootstrap, &starts)?;
        runner
            .started
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Self::report(runner, None);
        loop {
            let messages = reader.next_batch(MAX_BATCH, POLL).await?;
            if messages.is_empty() {
                continue;
            }
            // Decoding and applying retry in place: a batch is never dropped.
            let events = decode_retrying(&self.codec, &messages, |e| Self::report(runner, e)).await;
            let records = records(&messages, &events);
            let outcome = loop {
                let _applying = runner.apply_lock.lock().await;
                match self
                    .store
                    .apply_batch(kind, &Tables::LIVE, position.generation, &records)
                    .await
                {
                    Ok(outcome) => break outcome,
                    Err(e) => {
                        drop(_applying);
                        Self::report(runner, Some(format!("applying: {e}")));
                        tokio::time::sleep(RETRY_BACKOFF).await;
                    }
                }
            };
            if outcome == ApplyOutcome::StaleGeneration {
                return Ok(()); // tables were swapped by a rebuild: re-read positions
            }
            Self::report(runner, None);
            after_batch(kind).await;
            {
                let mut committed = runner.committed.lock().expect("lock");
                for r in &records {
                    committed.insert((r.topic.to_owned(), r.partition), r.offset + 1);
                }
            }
            runner.changed.send_modify(|n| *n += 1);
        }
    }

    /// Waits until `kind` has applied the record at `offset` of `(topic, partition)`.
    pub async fn wait_applied(
        &self,
        kind: ProjectionKind,
        topic: &str,
        partition: i32,
        offset: i64,
        timeout: Duration,
    ) -> bool {
        let runner = self.runner(kind);
        let mut changes = runner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let done = runner
                .committed
                .lock()
                .expect("lock")
                .get(&(topic.to_owned(), partition))
                .is_some_and(|next| *next > offset);
            if done {
                return true;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Notified after every batch `kind` applies.
    pub fn changes(&self, kind: ProjectionKind) -> watch::Receiver<u64> {
        self.runner(kind).changed.subscribe()
    }

    /// The log end offset of each partition of `topic`: `(partition, next offset)`.
    pub async fn log_end(&self, topic: &str) -> Result<Vec<(i32, i64)>, ProjectorError> {
        Ok(log_ends(&self.bootstrap, topic).await?)
    }

    /// Waits until `kind` has applied every record of `topic` below `ends`.
    pub async fn wait_through(
        &self,
        kind: ProjectionKind,
        topic: &str,
        ends: &[(i32, i64)],
        timeout: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        for (partition, end) in ends.iter().filter(|(_, end)| *end > 0) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !self
                .wait_applied(kind, topic, *partition, end - 1, left)
                .await
            {
                return false;
            }
        }
        true
    }

    /// Whether every runner has started and none is failing.
    pub fn healthy(&self) -> bool {
        self.runners.iter().all(|r| {
            r.started.load(std::sync::atomic::Ordering::SeqCst)
                && r.last_error.lock().expect("lock").is_none()
        })
    }

    /// Stored offsets against the log end of every partition.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectorError> {
        let mut out = vec![];
        for runner in &self.runners {
            let kind = runner.kind;
            let stored = self.store.position(kind, &Tables::LIVE).await?.offsets;
            let mut partitions = vec![];
            for topic in kind.topics() {
                for (partition, high) in log_ends(&self.bootstrap, topic).await? {
                    let stored_offset = stored
                        .iter()
                        .find(|(t, p, _)| t == topic && *p == partition)
                        .map_or(0, |(_, _, o)| *o);
                    partitions.push(PartitionStatus {
                        topic: topic.to_string(),
                        partition,
                        stored_offset,
                        log_end_offset: high,
                        lag: (high - stored_offset).max(0),
                    });
                }
            }
            let lag = partitions.iter().map(|p| p.lag).sum();
            out.push(ProjectionStatus {
                name: kind.name(),
                running: runner.started.load(std::sync::atomic::Ordering::SeqCst),
                caught_up: lag == 0,
                lag,
                last_error: runner.last_error.lock().expect("lock").clone(),
                partitions,
            });
        }
        Ok(out)
    }

    /// Replays the projection's topics from offset 0 into fresh tables and swaps them in. The live
    /// runner pauses meanwhile (reads keep being served from the old tables) and resumes from the
    /// rebuilt offsets.
    pub async fn rebuild(&self, kind: ProjectionKind) -> Result<RebuildReport, ProjectorError> {
        let started = Instant::now();
        let runner = self.runner(kind);
        let _paused = runner.apply_lock.lock().await;
        self.store.prepare_shadow(kind).await?;
        let mut targets = vec![];
        for topic in kind.topics() {
            for (partition, high) in log_ends(&self.bootstrap, topic).await? {
                targets.push((topic.to_string(), partition, high));
            }
        }
        let mut remaining: HashMap<(String, i32), i64> = targets
            .iter()
            .filter(|(_, _, high)| *high > 0)
            .map(|(t, p, h)| ((t.clone(), *p), *h))
            .collect();
        let starts: Vec<(String, i32, i64)> =
            targets.iter().map(|(t, p, _)| (t.clone(), *p, 0)).collect();
        let reader = LogReader::assign(&self.bootstrap, &starts)?;
        let mut replayed = 0;
        let mut last_progress = Instant::now();
        while !remaining.is_empty() {
            let messages = reader.next_batch(MAX_BATCH, POLL).await?;
            if messages.is_empty() {
                // Nothing arrived: a compacted partition may end in a hole, so ask for the position.
                let mut done = vec![];
                for ((topic, partition), high) in &remaining {
                    if reader
                        .position(topic, *partition)?
                        .is_some_and(|at| at >= *high)
                    {
                        done.push((topic.clone(), *partition));
                    }
                }
                for key in done {
                    remaining.remove(&key);
                }
                if last_progress.elapsed() > Duration::from_secs(30) {
                    return Err(ProjectorError::Stalled(
                        kind.name(),
                        format!("no records for 30 s, still waiting for {remaining:?}"),
                    ));
                }
                continue;
            }
            last_progress = Instant::now();
            // Only what was in the log when the rebuild began; the live runner takes the rest.
            let messages: Vec<_> = messages
                .into_iter()
                .filter(|m| {
                    remaining
                        .get(&(m.topic.clone(), m.partition))
                        .is_some_and(|high| m.offset < *high)
                })
                .collect();
            let events = decode_all(&self.codec, &messages).await?;
            let records = records(&messages, &events);
            self.store
                .apply_batch(kind, &Tables::SHADOW, 0, &records)
                .await?;
            replayed += records.len();
            for m in &messages {
                let key = (m.topic.clone(), m.partition);
                if remaining
                    .get(&key)
                    .is_some_and(|high| m.offset + 1 >= *high)
                {
                    remaining.remove(&key);
                }
            }
        }
        self.store.swap_shadow(kind).await?;
        Ok(RebuildReport {
            name: kind.name(),
            records_replayed: replayed,
            duration_ms: started.elapsed().as_millis(),
        })
    }
}
