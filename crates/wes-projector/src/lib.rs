//! Projection runners. Each projection consumes its topics from the offsets stored in SQL, decodes
//! records by schema id and applies them in batches through `wes_store` (offsets in the same
//! transaction). A runner that fails retries with back-off and reports the error; it never skips a
//! record, so a projection can lag but never silently diverge from the log.

use futures::StreamExt;
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::message::OwnedMessage;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wes_events::Event;
use wes_kafka::Codec;
use wes_kafka::consumer::{assigned_consumer, metadata_client, partitions, watermarks};
use wes_store::projection::Record;
use wes_store::{ApplyOutcome, ProjectionKind, Store, Tables};

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

async fn decode_all(
    codec: &Codec,
    messages: &[rdkafka::message::OwnedMessage],
) -> Result<Vec<Event>, wes_kafka::KafkaError> {
    let mut events = Vec::with_capacity(messages.len());
    for m in messages {
        let payload = m.payload().unwrap_or_default();
        events.push(codec.decode(payload).await?);
    }
    Ok(events)
}

type Polled<'a> = Result<rdkafka::message::BorrowedMessage<'a>, rdkafka::error::KafkaError>;

/// Owned copies of a chunk of polled messages (the first consumer error fails the chunk).
fn detach(chunk: Vec<Polled<'_>>) -> Result<Vec<OwnedMessage>, ProjectorError> {
    let messages = chunk
        .into_iter()
        .map(|m| m.map(|m| m.detach()))
        .collect::<Result<_, _>>();
    Ok(messages.map_err(wes_kafka::KafkaError::from)?)
}

/// Pairs each message with its decoded event and its position in the log.
fn records<'a>(messages: &'a [OwnedMessage], events: &'a [Event]) -> Vec<Record<'a>> {
    messages
        .iter()
        .zip(events)
        .map(|(m, e)| Record {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            event: e,
        })
        .collect()
}

/// Every `(topic, partition)` of a projection with its start offset: stored, else 0.
fn start_positions(
    bootstrap: &str,
    kind: ProjectionKind,
    stored: &[(String, i32, i64)],
) -> Result<Vec<(String, i32, i64)>, ProjectorError> {
    let client = metadata_client(bootstrap)?;
    let mut positions = vec![];
    for topic in kind.topics() {
        for partition in 0..partitions(&client, topic)? {
            let offset = stored
                .iter()
                .find(|(t, p, _)| t == topic && *p == partition)
                .map_or(0, |(_, _, o)| *o);
            positions.push((topic.to_string(), partition, offset));
        }
    }
    Ok(positions)
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
        let bootstrap = self.bootstrap.clone();
        let stored = position.offsets.clone();
        let starts =
            tokio::task::spawn_blocking(move || start_positions(&bootstrap, kind, &stored))
                .await
                .expect("metadata task")?;
        {
            let mut committed = runner.committed.lock().expect("lock");
            committed.clear();
            for (t, p, o) in &starts {
                committed.insert((t.clone(), *p), *o);
            }
        }
        let consumer = assigned_consumer(&self.bootstrap, &starts)?;
        runner
            .started
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Self::report(runner, None);
        let mut stream = consumer.stream().ready_chunks(MAX_BATCH);
        while let Some(chunk) = stream.next().await {
            let messages = detach(chunk)?;
            // Decoding and applying retry in place: a batch is never dropped.
            let events = loop {
                match decode_all(&self.codec, &messages).await {
                    Ok(events) => break events,
                    Err(e) => {
                        Self::report(runner, Some(format!("decoding: {e}")));
                        tokio::time::sleep(RETRY_BACKOFF).await;
                    }
                }
            };
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
        Ok(())
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
        let (bootstrap, topic) = (self.bootstrap.clone(), topic.to_owned());
        tokio::task::spawn_blocking(move || -> Result<Vec<(i32, i64)>, ProjectorError> {
            let client = metadata_client(&bootstrap)?;
            let mut ends = vec![];
            for partition in 0..partitions(&client, &topic)? {
                ends.push((partition, watermarks(&client, &topic, partition)?.1));
            }
            Ok(ends)
        })
        .await
        .expect("log end task")
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
            let bootstrap = self.bootstrap.clone();
            let partitions = tokio::task::spawn_blocking(
                move || -> Result<Vec<PartitionStatus>, ProjectorError> {
                    let client = metadata_client(&bootstrap)?;
                    let mut rows = vec![];
                    for (topic, partition, stored_offset) in
                        start_positions(&bootstrap, kind, &stored)?
                    {
                        let (_, high) = watermarks(&client, &topic, partition)?;
                        rows.push(PartitionStatus {
                            topic,
                            partition,
                            stored_offset,
                            log_end_offset: high,
                            lag: (high - stored_offset).max(0),
                        });
                    }
                    Ok(rows)
                },
            )
            .await
            .expect("status task")?;
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
        let bootstrap = self.bootstrap.clone();
        let targets = tokio::task::spawn_blocking(
            move || -> Result<Vec<(String, i32, i64)>, ProjectorError> {
                let client = metadata_client(&bootstrap)?;
                let mut targets = vec![];
                for (topic, partition, _) in start_positions(&bootstrap, kind, &[])? {
                    let (_, high) = watermarks(&client, &topic, partition)?;
                    targets.push((topic, partition, high));
                }
                Ok(targets)
            },
        )
        .await
        .expect("rebuild metadata task")?;
        let mut remaining: HashMap<(String, i32), i64> = targets
            .iter()
            .filter(|(_, _, high)| *high > 0)
            .map(|(t, p, h)| ((t.clone(), *p), *h))
            .collect();
        let starts: Vec<(String, i32, i64)> =
            targets.iter().map(|(t, p, _)| (t.clone(), *p, 0)).collect();
        let consumer = assigned_consumer(&self.bootstrap, &starts)?;
        let mut stream = consumer.stream().ready_chunks(MAX_BATCH);
        let mut replayed = 0;
        let mut last_progress = Instant::now();
        while !remaining.is_empty() {
            let Ok(next) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await
            else {
                // Nothing arrived: a compacted partition may end in a hole, so ask for the position.
                let positions = consumer.position().map_err(wes_kafka::KafkaError::from)?;
                remaining.retain(|(topic, partition), high| {
                    !matches!(positions.find_partition(topic, *partition).map(|e| e.offset()), Some(rdkafka::Offset::Offset(at)) if at >= *high)
                });
                if last_progress.elapsed() > Duration::from_secs(30) {
                    return Err(ProjectorError::Stalled(
                        kind.name(),
                        format!("no records for 30 s, still waiting for {remaining:?}"),
                    ));
                }
                continue;
            };
            last_progress = Instant::now();
            let chunk =
                next.ok_or_else(|| ProjectorError::Stalled(kind.name(), "consumer closed".into()))?;
            let messages = detach(chunk)?;
            // Only what was in the log when the rebuild began; the live runner takes the rest.
            let messages: Vec<_> = messages
                .into_iter()
                .filter(|m| {
                    remaining
                        .get(&(m.topic().to_owned(), m.partition()))
                        .is_some_and(|high| m.offset() < *high)
                })
                .collect();
            let events = decode_all(&self.codec, &messages).await?;
            let records = records(&messages, &events);
            self.store
                .apply_batch(kind, &Tables::SHADOW, 0, &records)
                .await?;
            replayed += records.len();
            for m in &messages {
                let key = (m.topic().to_owned(), m.partition());
                if remaining
                    .get(&key)
                    .is_some_and(|high| m.offset() + 1 >= *high)
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
