//! Consumers the hub uses: manually assigned ones for projections (their offsets live in SQL, not in
//! Kafka) and watermark look-ups for lag.

use crate::{KafkaError, client_config};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer assigned to exact `(topic, partition, next_offset)` positions. Kafka offset commits are
/// off: the caller stores positions itself.
pub fn assigned_consumer(
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
