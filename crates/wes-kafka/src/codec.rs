//! Confluent wire format (magic byte 0, 4-byte schema id, Avro body) through the schema registry.
//! Encoding uses the schema compiled into the binary (registered idempotently); decoding always looks
//! the writer's schema up by the id in the record, never by "latest".

use crate::KafkaError;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wes_events::{Catalog, Event, Routed};

pub struct Codec {
    encoder: AvroEncoder,
    decoder: AvroDecoder,
    strategies: HashMap<String, SubjectNameStrategy>,
    /// Parsed writer schemas: records are resolved against them (strings to enums, options to
    /// unions) before the registry-aware writer encodes them.
    schemas: HashMap<String, apache_avro::Schema>,
}

impl Codec {
    pub fn new(registry_url: &str, catalog: &Catalog) -> Result<Arc<Codec>, KafkaError> {
        let settings = || {
            SrSettings::new_builder(registry_url.trim_end_matches('/').to_owned())
                .set_timeout(Duration::from_secs(5))
                .no_proxy()
                .build()
                .map_err(|e| KafkaError::Registry(e.to_string()))
        };
        let strategies = catalog
            .topics
            .iter()
            .map(|t| {
                let supplied = SuppliedSchema::new(None, SchemaType::Avro, t.schema.clone());
                (
                    t.name.clone(),
                    SubjectNameStrategy::TopicNameStrategyWithSchema(
                        t.name.clone(),
                        false,
                        supplied,
                    ),
                )
            })
            .collect();
        let schemas = catalog
            .topics
            .iter()
            .map(|t| {
                apache_avro::Schema::parse_str(&t.schema)
                    .map(|schema| (t.name.clone(), schema))
                    .map_err(|e| KafkaError::Registry(format!("schema of {}: {e}", t.name)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(Codec {
            encoder: AvroEncoder::new(settings()?),
            decoder: AvroDecoder::new(settings()?),
            strategies,
            schemas,
        }))
    }

    fn strategy(&self, topic: &str) -> Result<&SubjectNameStrategy, KafkaError> {
        self.strategies
            .get(topic)
            .ok_or_else(|| KafkaError::Registry(format!("topic {topic} is not in the catalog")))
    }

    /// Registers the value schema of `topic` (idempotent) and returns its id.
    pub async fn register(&self, topic: &str) -> Result<u32, KafkaError> {
        let strategy = self.strategy(topic)?;
        let subject = strategy
            .get_subject()
            .map_err(|e| KafkaError::Registry(e.to_string()))?;
        let schema = self
            .encoder
            .get_schema_and_id(&subject, strategy.clone())
            .await
            .map_err(|e| {
                self.encoder.remove_errors_from_cache();
                KafkaError::Registry(e.to_string())
            })?;
        Ok(schema.id)
    }

    pub async fn encode<T: Routed>(&self, record: &T) -> Result<Vec<u8>, KafkaError> {
        self.encode_as(T::TOPIC, record).await
    }

    /// Encodes any record with the schema of the topic it is written to.
    pub async fn encode_event(&self, event: &Event) -> Result<Vec<u8>, KafkaError> {
        self.encode_as(event.topic(), event).await
    }

    async fn encode_as<T: serde::Serialize>(
        &self,
        topic: &str,
        record: &T,
    ) -> Result<Vec<u8>, KafkaError> {
        let schema = self
            .schemas
            .get(topic)
            .ok_or_else(|| KafkaError::Registry(format!("topic {topic} is not in the catalog")))?;
        let value = apache_avro::to_value(record)
            .and_then(|v| v.resolve(schema))
            .map_err(|e| KafkaError::Events(wes_events::EventsError::Avro(e)))?;
        self.encoder
            .encode_value(value, self.strategy(topic)?)
            .await
            .map_err(|e| {
                self.encoder.remove_errors_from_cache();
                KafkaError::Registry(e.to_string())
            })
    }

    /// Decodes a framed record with the writer's schema, found by the id in its header.
    pub async fn decode(&self, bytes: &[u8]) -> Result<Event, KafkaError> {
        if bytes.len() < 5 || bytes[0] != 0 {
            return Err(KafkaError::NotConfluentFramed);
        }
        let decoded = self.decoder.decode(Some(bytes)).await.map_err(|e| {
            self.decoder.remove_errors_from_cache();
            KafkaError::Registry(e.to_string())
        })?;
        let name = decoded
            .name
            .map(|n| n.fullname(None))
            .ok_or_else(|| KafkaError::Registry("decoded value is not a named record".into()))?;
        Ok(Event::from_avro(&name, &decoded.value)?)
    }
}

/// The schema id in a Confluent-framed record.
pub fn schema_id(bytes: &[u8]) -> Option<u32> {
    (bytes.len() >= 5 && bytes[0] == 0)
        .then(|| u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
}
