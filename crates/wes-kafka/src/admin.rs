//! Topics as code: compare the catalog with a cluster (`plan`) and make the cluster match (`apply`).

use crate::{KafkaError, client_config};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::fmt;
use std::time::Duration;
use wes_events::{Catalog, TopicSpec};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq)]
pub enum TopicChange {
    Create(TopicSpec),
    AddPartitions {
        topic: String,
        from: i32,
        to: i32,
    },
    SetConfig {
        topic: String,
        key: String,
        from: Option<String>,
        to: String,
    },
    /// A difference `apply` cannot fix (fewer partitions, another replication factor).
    Manual {
        topic: String,
        detail: String,
    },
}

impl fmt::Display for TopicChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicChange::Create(t) => write!(
                f,
                "+ create {} (partitions {}, replication {}, configs {:?})",
                t.name, t.partitions, t.replication_factor, t.configs
            ),
            TopicChange::AddPartitions { topic, from, to } => {
                write!(f, "~ {topic}: partitions {from} -> {to}")
            }
            TopicChange::SetConfig {
                topic,
                key,
                from,
                to,
            } => {
                write!(
                    f,
                    "~ {topic}: {key} {} -> {to}",
                    from.as_deref().unwrap_or("(unset)")
                )
            }
            TopicChange::Manual { topic, detail } => {
                write!(f, "! {topic}: {detail} (not changed by apply)")
            }
        }
    }
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    Ok(client_config(bootstrap).create()?)
}

/// The changes that would make the cluster match the catalog.
pub async fn plan(bootstrap: &str, catalog: &Catalog) -> Result<Vec<TopicChange>, KafkaError> {
    let metadata_client: BaseConsumer = client_config(bootstrap).create()?;
    let metadata =
        tokio::task::block_in_place(|| metadata_client.fetch_metadata(None, ADMIN_TIMEOUT))?;
    let admin = admin(bootstrap)?;
    let mut changes = vec![];
    for spec in &catalog.topics {
        let Some(existing) = metadata
            .topics()
            .iter()
            .find(|t| t.name() == spec.name && !t.partitions().is_empty())
        else {
            changes.push(TopicChange::Create(spec.clone()));
            continue;
        };
        let partitions = existing.partitions().len() as i32;
        if partitions < spec.partitions {
            changes.push(TopicChange::AddPartitions {
                topic: spec.name.clone(),
                from: partitions,
                to: spec.partitions,
            });
        } else if partitions > spec.partitions {
            changes.push(TopicChange::Manual {
                topic: spec.name.clone(),
                detail: format!(
                    "has {partitions} partitions, catalog says {} (Kafka cannot remove partitions)",
                    spec.partitions
                ),
            });
        }
        let replicas = existing.partitions()[0].replicas().len() as i32;
        if replicas != spec.replication_factor {
            changes.push(TopicChange::Manual {
                topic: spec.name.clone(),
                detail: format!(
                    "replication factor {replicas}, catalog says {}",
                    spec.replication_factor
                ),
            });
        }
        let described = admin
            .describe_configs(
                [&ResourceSpecifier::Topic(&spec.name)],
                &AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT)),
            )
            .await?;
        let actual = described.into_iter().next().and_then(|r| r.ok());
        for (key, wanted) in &spec.configs {
            let current = actual
                .as_ref()
                .and_then(|r| r.get(key))
                .and_then(|e| e.value.clone());
            if current.as_deref() != Some(wanted.as_str()) {
                changes.push(TopicChange::SetConfig {
                    topic: spec.name.clone(),
                    key: key.clone(),
                    from: current,
                    to: wanted.clone(),
                });
            }
        }
    }
    Ok(changes)
}

/// Applies the changes `plan` returned (except the manual ones). Idempotent.
pub async fn apply(bootstrap: &str, changes: &[TopicChange]) -> Result<(), KafkaError> {
    let admin = admin(bootstrap)?;
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    let check = |results: Vec<Result<String, (String, rdkafka::types::RDKafkaErrorCode)>>| -> Result<(), KafkaError> {
        for result in results {
            match result {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(KafkaError::Admin(format!("{name}: {code}"))),
            }
        }
        Ok(())
    };
    for change in changes {
        match change {
            TopicChange::Create(spec) => {
                let mut topic = NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor),
                );
                for (k, v) in &spec.configs {
                    topic = topic.set(k, v);
                }
                check(admin.create_topics([&topic], &options).await?)?;
            }
            TopicChange::AddPartitions { topic, to, .. } => {
                check(
                    admin
                        .create_partitions([&NewPartitions::new(topic, *to as usize)], &options)
                        .await?,
                )?;
            }
            TopicChange::SetConfig { topic, key, to, .. } => {
                let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, to);
                for result in admin.alter_configs([&alter], &options).await? {
                    result.map_err(|(_, code)| {
                        KafkaError::Admin(format!("{topic}: set {key}: {code}"))
                    })?;
                }
            }
            TopicChange::Manual { .. } => {}
        }
    }
    Ok(())
}

/// Creates the catalog's missing topics (what `wes serve` does at start). Config drift on existing
/// topics is left to `wes topics plan|apply`, so a start never rewrites a cluster's settings.
pub async fn ensure_topics(
    bootstrap: &str,
    catalog: &Catalog,
) -> Result<Vec<TopicChange>, KafkaError> {
    let metadata_client: BaseConsumer = client_config(bootstrap).create()?;
    let metadata =
        tokio::task::block_in_place(|| metadata_client.fetch_metadata(None, ADMIN_TIMEOUT))?;
    let missing: Vec<TopicChange> = catalog
        .topics
        .iter()
        .filter(|spec| {
            !metadata
                .topics()
                .iter()
                .any(|t| t.name() == spec.name && !t.partitions().is_empty())
        })
        .map(|spec| TopicChange::Create(spec.clone()))
        .collect();
    apply(bootstrap, &missing).await?;
    Ok(missing)
}

/// Creates one topic outside the catalog (the registry's `_schemas`, a benchmark's own) unless it
/// exists already.
pub async fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), KafkaError> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
    for result in admin(bootstrap)?.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::Admin(format!("create {name}: {code}"))),
        }
    }
    Ok(())
}
