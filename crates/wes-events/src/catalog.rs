//! The topic catalog: `topics.yaml` with the schema files it names, both compiled into the binary
//! (a file given at run time overrides the catalog).

use crate::EventsError;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const TOPICS_YAML: &str = include_str!("../../../topics.yaml");

/// The schema files the catalog may name, embedded at build time.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    (
        "schemas/movement_recorded.avsc",
        include_str!("../../../schemas/movement_recorded.avsc"),
    ),
    (
        "schemas/dispatch_event.avsc",
        include_str!("../../../schemas/dispatch_event.avsc"),
    ),
    (
        "schemas/dispatch_transport_set.avsc",
        include_str!("../../../schemas/dispatch_transport_set.avsc"),
    ),
    (
        "schemas/dispatch_dead_lettered.avsc",
        include_str!("../../../schemas/dispatch_dead_lettered.avsc"),
    ),
    (
        "schemas/dispatch_poll_acked.avsc",
        include_str!("../../../schemas/dispatch_poll_acked.avsc"),
    ),
    (
        "schemas/warehouse_upserted.avsc",
        include_str!("../../../schemas/warehouse_upserted.avsc"),
    ),
    (
        "schemas/sku_upserted.avsc",
        include_str!("../../../schemas/sku_upserted.avsc"),
    ),
    (
        "schemas/location_upserted.avsc",
        include_str!("../../../schemas/location_upserted.avsc"),
    ),
    (
        "schemas/partner_upserted.avsc",
        include_str!("../../../schemas/partner_upserted.avsc"),
    ),
    (
        "schemas/work_status_recorded.avsc",
        include_str!("../../../schemas/work_status_recorded.avsc"),
    ),
    (
        "schemas/capacity_reported.avsc",
        include_str!("../../../schemas/capacity_reported.avsc"),
    ),
    (
        "schemas/exception_recorded.avsc",
        include_str!("../../../schemas/exception_recorded.avsc"),
    ),
    (
        "schemas/notification_raised.avsc",
        include_str!("../../../schemas/notification_raised.avsc"),
    ),
    (
        "schemas/supervisor_action_recorded.avsc",
        include_str!("../../../schemas/supervisor_action_recorded.avsc"),
    ),
    (
        "schemas/confirmation_recorded.avsc",
        include_str!("../../../schemas/confirmation_recorded.avsc"),
    ),
    (
        "schemas/window_reconciled.avsc",
        include_str!("../../../schemas/window_reconciled.avsc"),
    ),
    (
        "schemas/window_discrepancy.avsc",
        include_str!("../../../schemas/window_discrepancy.avsc"),
    ),
    (
        "schemas/late_movement_flagged.avsc",
        include_str!("../../../schemas/late_movement_flagged.avsc"),
    ),
];

/// Topic names the code refers to. They must be declared in the catalog (checked by a test).
pub mod topics {
    pub const WAREHOUSES: &str = "wes.masterdata.warehouses.v1";
    pub const SKUS: &str = "wes.masterdata.skus.v1";
    pub const LOCATIONS: &str = "wes.masterdata.locations.v1";
    pub const PARTNERS: &str = "wes.masterdata.partners.v1";
    pub const MOVEMENTS: &str = "wes.realtime.movements.v1";
    pub const WORK_STATUS: &str = "wes.realtime.work-status.v1";
    pub const CAPACITY: &str = "wes.realtime.capacity.v1";
    pub const DISPATCH: &str = "wms-wes.dispatch.events.v1";
    pub const DISPATCH_DLQ: &str = "wms-wes.dispatch.dlq.v1";
    pub const DISPATCH_TRANSPORTS: &str = "wes.masterdata.dispatch-transports.v1";
    pub const DISPATCH_POLL_ACKS: &str = "wes.dispatch.poll-acks.v1";
    pub const EXCEPTIONS: &str = "wes.realtime.exceptions.v1";
    pub const SUPERVISOR_ACTIONS: &str = "wes.supervisor.actions.v1";
    pub const NOTIFICATIONS: &str = "wes.notifications.v1";
    pub const CONFIRMATIONS: &str = "wes.confirmations.v1";
    pub const WINDOW_RECONCILED: &str = "wes.window.reconciled.v1";
    pub const WINDOW_DISCREPANCY: &str = "wes.window.discrepancy.v1";
    pub const LATE_MOVEMENTS: &str = "wes.window.late-movements.v1";
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    pub key: String,
    pub value_schema: String,
    pub subject_strategy: String,
    /// The schema text, filled from `value_schema` when the catalog is loaded.
    #[serde(skip)]
    pub schema: String,
}

impl TopicSpec {
    /// The registry subject of the value schema.
    pub fn value_subject(&self) -> String {
        format!("{}-value", self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub topics: Vec<TopicSpec>,
}

#[derive(Deserialize)]
struct CatalogFile {
    topics: Vec<TopicSpec>,
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn embedded() -> Catalog {
        Self::parse(TOPICS_YAML, |path| {
            SCHEMA_FILES
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, s)| s.to_string())
        })
        .expect("the embedded topics.yaml is valid (checked by a unit test)")
    }

    /// Parses a catalog; `read_schema` resolves a `value_schema` path to its text.
    pub fn parse(
        yaml: &str,
        read_schema: impl Fn(&str) -> Option<String>,
    ) -> Result<Catalog, EventsError> {
        let file: CatalogFile =
            serde_yaml::from_str(yaml).map_err(|e| EventsError::Catalog(e.to_string()))?;
        let mut topics = file.topics;
        for topic in &mut topics {
            if topic.subject_strategy != "TopicNameStrategy" {
                return Err(EventsError::Catalog(format!(
                    "{}: only TopicNameStrategy is supported, got {}",
                    topic.name, topic.subject_strategy
                )));
            }
            if topic.partitions < 1 || topic.replication_factor < 1 {
                return Err(EventsError::Catalog(format!(
                    "{}: partitions and replication_factor must be >= 1",
                    topic.name
                )));
            }
            topic.schema = read_schema(&topic.value_schema).ok_or_else(|| {
                EventsError::Catalog(format!(
                    "{}: schema file {} not found",
                    topic.name, topic.value_schema
                ))
            })?;
            apache_avro::Schema::parse_str(&topic.schema).map_err(|e| {
                EventsError::Catalog(format!(
                    "{}: {} is not a valid Avro schema: {e}",
                    topic.name, topic.value_schema
                ))
            })?;
        }
        Ok(Catalog { topics })
    }

    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_declares_every_topic_the_code_uses() {
        let catalog = Catalog::embedded();
        for name in [
            topics::WAREHOUSES,
            topics::SKUS,
            topics::LOCATIONS,
            topics::PARTNERS,
            topics::MOVEMENTS,
            topics::WORK_STATUS,
            topics::CAPACITY,
            topics::DISPATCH,
            topics::EXCEPTIONS,
            topics::SUPERVISOR_ACTIONS,
            topics::NOTIFICATIONS,
            topics::CONFIRMATIONS,
            topics::WINDOW_RECONCILED,
            topics::WINDOW_DISCREPANCY,
            topics::LATE_MOVEMENTS,
        ] {
            let spec = catalog
                .topic(name)
                .unwrap_or_else(|| panic!("{name} missing from topics.yaml"));
            assert!(!spec.schema.is_empty());
        }
    }

    #[test]
    fn a_catalog_naming_a_missing_schema_is_refused() {
        let yaml = "topics:\n  - {name: t, partitions: 1, replication_factor: 1, key: k, value_schema: nope.avsc, subject_strategy: TopicNameStrategy}\n";
        assert!(Catalog::parse(yaml, |_| None).is_err());
    }
}
