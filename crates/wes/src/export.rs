//! The topic catalog in other tools' formats: Strimzi `KafkaTopic` resources, so a Kubernetes user
//! manages the hub's topics with the Topic Operator instead of `wes topics apply`.

use serde_json::{Map, Value, json};
use wes_events::Catalog;

/// Output formats of `wes topics export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Strimzi `KafkaTopic` resources (`kafka.strimzi.io/v1beta2`), one YAML document each.
    Strimzi,
}

/// A Kubernetes resource name for `topic` (a DNS subdomain: lowercase alphanumerics, `-` and `.`,
/// alphanumeric at both ends, at most 253 characters); `None` when the topic name is one already.
fn resource_name(topic: &str) -> Option<String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if valid(topic) {
        return None;
    }
    let mapped: String = topic
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(253).collect();
    if name.is_empty() {
        name = "topic".into();
    }
    Some(name)
}

/// Every topic of `catalog` as a `KafkaTopic` for the Strimzi cluster `cluster`, as a multi-document
/// YAML stream. A topic whose name is not a valid resource name keeps it in `spec.topicName`.
pub fn strimzi(
    catalog: &Catalog,
    cluster: &str,
    namespace: Option<&str>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    for topic in &catalog.topics {
        let renamed = resource_name(&topic.name);
        let mut metadata = json!({
            "name": renamed.as_deref().unwrap_or(&topic.name),
            "labels": {"strimzi.io/cluster": cluster},
        });
        if let Some(namespace) = namespace {
            metadata["namespace"] = namespace.into();
        }
        let config: Map<String, Value> = topic
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut spec = json!({
            "partitions": topic.partitions,
            "replicas": topic.replication_factor,
            "config": config,
        });
        if renamed.is_some() {
            spec["topicName"] = topic.name.clone().into();
        }
        let resource = json!({
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": metadata,
            "spec": spec,
        });
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&resource)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_become_resource_names_only_when_they_must() {
        assert_eq!(resource_name("wes.realtime.movements.v1"), None);
        assert_eq!(resource_name("_schemas"), Some("schemas".into()));
        assert_eq!(resource_name("Orders_In"), Some("orders-in".into()));
        assert_eq!(resource_name("__"), Some("topic".into()));
    }
}
