//! The docker compose file and the image, checked as files (the project's machines have no Docker
//! engine): what a user on the host needs to reach, keep and watch; and the topics as Strimzi
//! resources for Kubernetes users.

use serde::Deserialize;
use serde_yaml::Value;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn texts(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn kafka_and_the_registry_are_reachable_from_the_host_and_data_survives_a_restart() {
    let compose = compose();
    let services = &compose["services"];
    let kafka = &services["kafka"];
    let env = &kafka["environment"];
    let advertised = env["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap_or_default();
    let published = texts(&kafka["ports"]);
    let host_port = advertised
        .split(',')
        .find_map(|l| l.strip_prefix("HOST://localhost:"))
        .expect("an advertised listener for clients on the host");
    assert!(
        published
            .iter()
            .any(|p| p == &format!("{host_port}:{host_port}")),
        "the host listener's port is published: {published:?}"
    );
    let cluster_id = env["CLUSTER_ID"].as_str().expect("a fixed CLUSTER_ID");
    assert_eq!(cluster_id.len(), 22, "a KRaft cluster id is a base64 UUID");
    let log_dir = env["KAFKA_LOG_DIRS"]
        .as_str()
        .expect("an explicit log directory");
    for (service, dir) in [
        ("kafka", log_dir),
        ("postgres", "/var/lib/postgresql/data"),
        ("wes", "/var/lib/wes"),
    ] {
        let volumes = texts(&services[service]["volumes"]);
        let named = volumes
            .iter()
            .find(|v| v.ends_with(&format!(":{dir}")))
            .unwrap_or_else(|| panic!("{service} keeps {dir} in a volume: {volumes:?}"));
        let name = named.split(':').next().unwrap();
        assert!(
            compose["volumes"].get(name).is_some(),
            "{name} is a named volume"
        );
    }
    assert!(texts(&services["schema-registry"]["ports"]).contains(&"8081:8081".to_owned()));
}

#[test]
fn the_hub_has_a_healthcheck_on_its_readiness() {
    let compose = compose();
    let test = texts(&compose["services"]["wes"]["healthcheck"]["test"]).join(" ");
    assert!(test.contains("/readyz"), "{test}");
}

#[test]
fn the_image_is_built_from_sources_with_cached_dependencies_and_runs_unprivileged() {
    let dockerfile = repo_file("Dockerfile");
    assert!(
        dockerfile.starts_with("# syntax=docker/dockerfile:1"),
        "cache mounts need the BuildKit syntax directive on the first line"
    );
    assert!(
        dockerfile.contains("--mount=type=cache,target=/usr/local/cargo/registry")
            && dockerfile.contains("--mount=type=cache,target=/src/target"),
        "dependencies and build output are cached between builds"
    );
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER");
    assert!(!["root", "0"].contains(&user.trim()), "runs as {user}");
    let ignore = repo_file(".dockerignore");
    for excluded in ["target/", ".git/", "var/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            ".dockerignore leaves out {excluded}"
        );
    }
}

/// `wes topics export --format strimzi` gives one valid `KafkaTopic` per catalog topic, with the
/// catalog's partitions, replicas and configs, labelled for the named cluster.
#[test]
fn topics_export_as_strimzi_kafka_topics() {
    let output = std::process::Command::new(wes_tests::bin_dir().join("wes"))
        .args([
            "topics",
            "export",
            "--format",
            "strimzi",
            "--cluster",
            "prod-kafka",
        ])
        .args(["--namespace", "warehouse"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let resources: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect();
    let catalog = wes_events::Catalog::embedded();
    assert_eq!(resources.len(), catalog.topics.len());
    for (resource, topic) in resources.iter().zip(&catalog.topics) {
        assert_eq!(
            resource["apiVersion"].as_str(),
            Some("kafka.strimzi.io/v1beta2")
        );
        assert_eq!(resource["kind"].as_str(), Some("KafkaTopic"));
        let metadata = &resource["metadata"];
        assert_eq!(metadata["namespace"].as_str(), Some("warehouse"));
        assert_eq!(
            metadata["labels"]["strimzi.io/cluster"].as_str(),
            Some("prod-kafka")
        );
        let name = metadata["name"].as_str().unwrap();
        let topic_name = resource["spec"]["topicName"].as_str().unwrap_or(name);
        assert_eq!(topic_name, topic.name);
        assert!(
            name.len() <= 253
                && name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
            "{name} is a Kubernetes resource name"
        );
        let spec = &resource["spec"];
        assert_eq!(
            spec["partitions"].as_i64(),
            Some(i64::from(topic.partitions))
        );
        assert_eq!(
            spec["replicas"].as_i64(),
            Some(i64::from(topic.replication_factor))
        );
        for (key, value) in &topic.configs {
            assert_eq!(
                spec["config"][key.as_str()].as_str(),
                Some(value.as_str()),
                "{key}"
            );
        }
    }
}
