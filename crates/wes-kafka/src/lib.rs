//! Kafka adapter. Everything that talks to a Kafka-protocol broker or the schema registry lives here:
//! the idempotent producer, the Confluent wire-format codec, consumers and topic administration.

pub mod admin;
pub mod codec;
pub mod consumer;
pub mod producer;
pub mod subscriber;

pub use codec::Codec;
pub use consumer::{LogReader, LogRecord};
pub use producer::{Delivery, EventProducer, RawProducer};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("schema registry: {0}")]
    Registry(String),
    #[error("record: {0}")]
    Events(#[from] wes_events::EventsError),
    #[error("record has no Confluent wire-format header")]
    NotConfluentFramed,
    #[error("{0}")]
    Admin(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}

impl KafkaError {
    /// Whether the failure is the broker or registry being unavailable (answer 503, try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            KafkaError::Kafka(_) | KafkaError::Registry(_) | KafkaError::Timeout(_)
        )
    }

    /// Whether the producer's local queue is full (too much is waiting for the broker).
    pub fn is_queue_full(&self) -> bool {
        matches!(
            self,
            KafkaError::Kafka(rdkafka::error::KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::QueueFull
            ))
        )
    }
}

/// rdkafka settings shared by every client the hub creates.
pub fn client_config(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.keepalive.enable", "true")
        .set("log_level", "3");
    config
}
