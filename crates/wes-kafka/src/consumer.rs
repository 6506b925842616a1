//! Reading the log: `LogReader`, assigned to exact positions (projections and reactors keep their
//! offsets in SQL, not in Kafka), and metadata look-ups (partitions, log ends) for lag and waits.

use crate::{KafkaError, client_config};
use futures::FutureExt;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// One record as read from the log, not yet decoded.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

/// A consumer assigned to exact `(topic, partition, next_offset)` positions, read in batches.
pub struct LogReader {
    consumer: StreamConsumer,
}

impl LogReader {
    pub fn assign(bootstrap: &str, positions: &[(String, i32, i64)]) -> Result<Self, KafkaError> {
        Ok(LogReader {
            consumer: assigned_consumer(bootstrap, positions)?,
        })
    }

    /// The records ready now (at most `max`), after waiting up to `wait` for the first one;
    /// empty when none arrived in time.
    pub async fn next_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LogRecord>, KafkaError> {
        let Ok(first) = tokio::time::timeout(wait, self.consumer.recv()).await else {
            return Ok(vec![]);
        };
        let mut batch = vec![owned(first?)];
        while batch.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(message) => batch.push(owned(message?)),
                None => break,
            }
        }
        Ok(batch)
    }

    /// The next offset this reader will return for `(topic, partition)`, once it has one.
    pub fn position(&self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        let positions = self.consumer.position()?;
        Ok(
            match positions
                .find_partition(topic, partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(at)) => Some(at),
                _ => None,
            },
        )
    }
}

fn owned(message: rdkafka::message::BorrowedMessage<'_>) -> LogRecord {
    LogRecord {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
    }
}

/// The next offset of every partition of `topic` (what the log holds now), `(partition, end)`.
pub async fn log_ends(bootstrap: &str, topic: &str) -> Result<Vec<(i32, i64)>, KafkaError> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let client = metadata_client(&bootstrap)?;
        let mut ends = vec![];
        for partition in 0..partitions(&client, &topic)? {
            ends.push((partition, watermarks(&client, &topic, partition)?.1));
        }
        Ok(ends)
    })
    .await
    .map_err(|e| KafkaError::Admin(format!("log-end task: {e}")))?
}

/// `(topic, partition, start)` for every partition of `topics`: the stored offset, else 0.
pub async fn positions_of(
    bootstrap: &str,
    topics: &[&str],
    stored: &[(String, i32, i64)],
) -> Result<Vec<(String, i32, i64)>, KafkaError> {
    let mut positions = vec![];
    for topic in topics {
        for (partition, _) in log_ends(bootstrap, topic).await? {
            let offset = stored
                .iter()
                .find(|(t, p, _)| t == topic && *p == partition)
                .map_or(0, |(_, _, o)| *o);
            positions.push((topic.to_string(), partition, offset));
        }
    }
    Ok(positions)
}

/// For every partition of `topic`, the first offset whose record was written at or after `at`
/// (Unix milliseconds), or the partition's end when none was: where a read "from `at`" starts.
///
/// The broker's time index answers this, but the embedded broker (tansu 0.6) answers 0 for an
/// instant after the last record, which would start the read over. So an answer short of the end
/// (read before the question) is checked against the last record below that end: when that is
/// older than `at`, the read starts at the end.
pub async fn offsets_at(
    bootstrap: &str,
    topic: &str,
    at: i64,
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let client = metadata_client(&bootstrap)?;
        let count = partitions(&client, &topic)?;
        // The ends first: a record appended after them (younger than `at`) cannot make an older
        // end look like the broker's answer.
        let ends = (0..count)
            .map(|partition| watermarks(&client, &topic, partition))
            .collect::<Result<Vec<_>, _>>()?;
        let mut query = TopicPartitionList::new();
        for partition in 0..count {
            query.add_partition_offset(&topic, partition, Offset::Offset(at))?;
        }
        let answers = client.offsets_for_times(query, METADATA_TIMEOUT)?;
        let mut starts = vec![];
        for (partition, (low, high)) in (0..count).zip(ends) {
            let answered = answers
                .find_partition(&topic, partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o.max(low)),
                    _ => None,
                })
                .unwrap_or(high);
            let start = if answered < high && last_timestamp(&client, &topic, partition, high)? < at
            {
                high
            } else {
                answered
            };
            starts.push((partition, start));
        }
        Ok(starts)
    })
    .await
    .map_err(|e| KafkaError::Admin(format!("offsets-for-times task: {e}")))?
}

/// The timestamp of the last record of a partition whose end is `high` (> 0), read by `consumer`
/// (which is assigned to it).
fn last_timestamp(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    high: i64,
) -> Result<i64, KafkaError> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(high - 1))?;
    consumer.assign(&list)?;
    let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
    while std::time::Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            if message.offset() == high - 1 {
                return Ok(message.timestamp().to_millis().unwrap_or(i64::MIN));
            }
        }
    }
    Err(KafkaError::Admin(format!(
        "the last record of {topic}/{partition} did not arrive within {METADATA_TIMEOUT:?}"
    )))
}

const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer assigned to exact `(topic, partition, next_offset)` positions. Kafka offset commits are
/// off: the caller stores positions itself.
fn assigned_consumer(
    bootstrap: &str,
    positions: &[(String, i32, i64)],
) -> Result<StreamConsumer, KafkaError> {
    let consumer: StreamConsumer = client_config(bootstrap)
        .set("group.id", "wes-projections-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "20")
        .set("fetch.min.bytes", "1")
        .create()?;
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in positions {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.assign(&list)?;
    Ok(consumer)
}

/// A short-lived client for metadata and watermark look-ups.
pub fn metadata_client(bootstrap: &str) -> Result<BaseConsumer, KafkaError> {
    Ok(client_config(bootstrap)
        .set("group.id", "wes-metadata")
        .create()?)
}

/// Partition count of each topic; a topic that does not exist is an error.
pub fn partitions(client: &BaseConsumer, topic: &str) -> Result<i32, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let t = metadata
        .topics()
        .first()
        .ok_or_else(|| KafkaError::Admin(format!("topic {topic} not found")))?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(KafkaError::Admin(format!("topic {topic} not found")));
    }
    Ok(t.partitions().len() as i32)
}

/// `(low, high)` watermarks of a partition; `high` is the offset the next record will get.
pub fn watermarks(
    client: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    Ok(client.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?)
}

/// Whether the broker answers a metadata request within `timeout`.
pub fn broker_reachable(client: &BaseConsumer, timeout: Duration) -> bool {
    client.fetch_metadata(None, timeout).is_ok()
}
