//! The idempotent producer: `acks=all`, `enable.idempotence=true`, a bounded delivery timeout so a
//! request never hangs on a dead broker.

use crate::{Codec, KafkaError, client_config};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::time::Duration;
use wes_events::{Event, Routed};

/// How long a produce may take before the caller gets an error (and the client a 503).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// librdkafka's own message timeout, deliberately much longer than `DELIVERY_TIMEOUT`: when an
/// idempotent producer times a message out locally it bumps its epoch on the next request, and tansu
/// 0.6 panics on that request. So the caller stops waiting after `DELIVERY_TIMEOUT` while the message
/// stays queued; if it lands later it carries the same event id and projections apply it once.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(300);

/// Unconfirmed records the producer holds by default before refusing more.
pub const DEFAULT_QUEUE_MESSAGES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// An idempotent producer of bytes: what `EventProducer` and the schema registry write through.
#[derive(Clone)]
pub struct RawProducer {
    producer: FutureProducer,
}

impl RawProducer {
    /// A producer holding at most `queue_messages` unconfirmed records; beyond that a send fails
    /// at once with a queue-full error (the HTTP edge answers 503) instead of waiting.
    pub fn new(bootstrap: &str, queue_messages: usize) -> Result<RawProducer, KafkaError> {
        let producer = client_config(bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.max.bytes", "4194304")
            .set("queue.buffering.max.messages", queue_messages.to_string())
            .set("message.timeout.ms", QUEUE_TIMEOUT.as_millis().to_string())
            .create()?;
        Ok(RawProducer { producer })
    }

    /// Appends bytes; returns once the broker acknowledged them (acks=all), or an error after
    /// `DELIVERY_TIMEOUT`.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Delivery, KafkaError> {
        self.deliver(FutureRecord::to(topic).key(key).payload(payload))
            .await
    }

    /// Appends a tombstone (a key without a value): compaction then forgets the key.
    pub async fn tombstone(&self, topic: &str, key: &[u8]) -> Result<Delivery, KafkaError> {
        self.deliver(FutureRecord::<[u8], [u8]>::to(topic).key(key))
            .await
    }

    async fn deliver(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<Delivery, KafkaError> {
        let delivery = tokio::time::timeout(
            DELIVERY_TIMEOUT,
            self.producer.send(record, Duration::from_secs(0)),
        )
        .await;
        match delivery {
            Ok(Ok(delivery)) => Ok(Delivery {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((e, _))) => Err(KafkaError::Kafka(e)),
            Err(_) => Err(KafkaError::Timeout(DELIVERY_TIMEOUT)),
        }
    }

    /// Waits (bounded) until everything queued has been delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout).map_err(KafkaError::Kafka)
    }
}

/// Appends Avro records in the Confluent wire format.
#[derive(Clone)]
pub struct EventProducer {
    raw: RawProducer,
    codec: Arc<Codec>,
}

impl EventProducer {
    pub fn new(bootstrap: &str, codec: Arc<Codec>) -> Result<EventProducer, KafkaError> {
        Self::with_queue_limit(bootstrap, codec, DEFAULT_QUEUE_MESSAGES)
    }

    /// See `RawProducer::new` for the queue limit.
    pub fn with_queue_limit(
        bootstrap: &str,
        codec: Arc<Codec>,
        queue_messages: usize,
    ) -> Result<EventProducer, KafkaError> {
        Ok(EventProducer {
            raw: RawProducer::new(bootstrap, queue_messages)?,
            codec,
        })
    }

    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// Encodes and appends one record; returns once the broker has acknowledged it (acks=all).
    pub async fn send<T: Routed>(&self, record: &T) -> Result<Delivery, KafkaError> {
        let payload = self.codec.encode(record).await?;
        self.send_raw(T::TOPIC, &record.key(), &payload).await
    }

    /// Appends records of any types, enqueued in the given order (so records with one key keep
    /// their order in the partition), and waits for every acknowledgement. One result per record.
    pub async fn append(&self, events: &[Event]) -> Vec<Result<Delivery, KafkaError>> {
        let mut encoded = Vec::with_capacity(events.len());
        for event in events {
            encoded.push(
                self.codec
                    .encode_event(event)
                    .await
                    .map(|payload| (event.topic(), event.key(), payload)),
            );
        }
        // join_all polls in order, and the first poll of each send enqueues it.
        futures::future::join_all(encoded.into_iter().map(|e| async move {
            let (topic, key, payload) = e?;
            self.send_raw(topic, &key, &payload).await
        }))
        .await
    }

    /// Appends already-encoded bytes (also used by the benchmark's raw produce baseline).
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<Delivery, KafkaError> {
        self.raw.send(topic, key.as_bytes(), payload).await
    }

    /// Waits (bounded) until everything queued has been delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.raw.flush(timeout)
    }
}
