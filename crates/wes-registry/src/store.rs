//! Registry state, rebuilt at start from the `_schemas` topic and appended to on every change.

use crate::compat::{CompatibilityLevel, check};
use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Mutex;
use wes_kafka::{LogReader, RawProducer};

pub const SCHEMAS_TOPIC: &str = "_schemas";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("kafka: {0}")]
    Kafka(#[from] wes_kafka::KafkaError),
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    #[error("schema is incompatible with the registered versions: {0:?}")]
    Incompatible(Vec<String>),
    #[error("subject {0} not found")]
    SubjectNotFound(String),
    #[error("version {1} of subject {0} not found")]
    VersionNotFound(String, String),
    #[error("schema {0} not found")]
    SchemaNotFound(u32),
    #[error("schema not registered under subject {0}")]
    SchemaNotInSubject(String),
    #[error("invalid mode {0}: this registry is always READWRITE")]
    InvalidMode(String),
    #[error("invalid compatibility level {0}")]
    InvalidCompatibility(String),
    #[error("no compatibility level set for subject {0}")]
    NoSubjectConfig(String),
    /// `what` (a subject, or a subject's version when `version`) is soft-deleted already.
    #[error("{what} was soft deleted")]
    SoftDeleted { what: String, version: bool },
    /// A permanent delete of `what` that was not soft-deleted first.
    #[error("{what} was not deleted first before being permanently deleted")]
    NotSoftDeletedFirst { what: String, version: bool },
    #[error("unsupported schema type {0}: this registry holds Avro schemas")]
    UnsupportedType(String),
    #[error("registry storage: {0}")]
    Storage(String),
    #[error("invalid request body: {0}")]
    BadRequest(String),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "UPPERCASE")]
enum RecordKey {
    Schema {
        subject: String,
        version: u32,
        magic: u32,
    },
    Config {
        subject: Option<String>,
        magic: u32,
    },
}

#[derive(Serialize, Deserialize)]
struct SchemaValue {
    subject: String,
    version: u32,
    id: u32,
    schema: String,
    #[serde(default)]
    deleted: bool,
}

#[derive(Serialize, Deserialize)]
struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: String,
}

#[derive(Debug, Clone)]
pub struct Registered {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
}

/// One version of a subject; a soft-deleted one is kept (hidden unless asked for) until it is
/// deleted permanently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    version: u32,
    id: u32,
    deleted: bool,
}

#[derive(Default)]
struct State {
    schemas: HashMap<u32, (String, Schema, String)>, // id -> (text, parsed, canonical form)
    subjects: BTreeMap<String, Vec<Version>>,        // in version order
    global: Option<CompatibilityLevel>,
    subject_levels: HashMap<String, CompatibilityLevel>,
}

impl State {
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Ok(key) = serde_json::from_slice::<RecordKey>(key) else {
            return;
        };
        match key {
            RecordKey::Schema {
                subject, version, ..
            } => {
                let versions = self.subjects.entry(subject.clone()).or_default();
                versions.retain(|v| v.version != version);
                // A tombstone: the version is deleted permanently.
                let Some(value) = value.and_then(|v| serde_json::from_slice::<SchemaValue>(v).ok())
                else {
                    if versions.is_empty() {
                        self.subjects.remove(&subject);
                    }
                    return;
                };
                if let Ok(parsed) = Schema::parse_str(&value.schema) {
                    let canonical = parsed.canonical_form();
                    self.schemas
                        .entry(value.id)
                        .or_insert((value.schema, parsed, canonical));
                    versions.push(Version {
                        version,
                        id: value.id,
                        deleted: value.deleted,
                    });
                    versions.sort_by_key(|v| v.version);
                }
            }
            RecordKey::Config { subject, .. } => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .and_then(|c| CompatibilityLevel::parse(&c.compatibility_level));
                match (subject, level) {
                    (None, level) => self.global = level,
                    (Some(s), Some(level)) => {
                        self.subject_levels.insert(s, level);
                    }
                    (Some(s), None) => {
                        self.subject_levels.remove(&s);
                    }
                }
            }
        }
    }

    fn next_id(&self) -> u32 {
        self.schemas.keys().max().map_or(1, |m| m + 1)
    }

    fn level(&self, subject: &str) -> CompatibilityLevel {
        self.subject_levels
            .get(subject)
            .copied()
            .or(self.global)
            .unwrap_or(CompatibilityLevel::Backward)
    }

    /// The versions of `subject`, soft-deleted ones only when `deleted`.
    fn versions(&self, subject: &str, deleted: bool) -> Vec<Version> {
        self.subjects
            .get(subject)
            .into_iter()
            .flatten()
            .filter(|v| deleted || !v.deleted)
            .copied()
            .collect()
    }

    fn id_in_subject(&self, subject: &str, canonical: &str) -> Option<(u32, u32)> {
        self.versions(subject, false)
            .into_iter()
            .find(|v| {
                self.schemas
                    .get(&v.id)
                    .is_some_and(|(_, _, c)| c == canonical)
            })
            .map(|v| (v.version, v.id))
    }
}

/// The registry. Reads are served from memory; writes are appended to `_schemas` first (acks=all)
/// and applied once acknowledged, one at a time.
pub struct Registry {
    state: RwLock<State>,
    write_lock: Mutex<()>,
    producer: RawProducer,
}

impl Registry {
    /// Creates `_schemas` when missing and replays it.
    pub async fn open(bootstrap: &str) -> Result<Arc<Registry>, RegistryError> {
        wes_kafka::admin::create_topic(
            bootstrap,
            SCHEMAS_TOPIC,
            1,
            &[("cleanup.policy", "compact")],
        )
        .await?;
        let state = replay(bootstrap).await?;
        Ok(Arc::new(Registry {
            state: RwLock::new(state),
            write_lock: Mutex::new(()),
            producer: RawProducer::new(bootstrap, 10_000)?,
        }))
    }

    async fn append(&self, key: &RecordKey, value: &[u8]) -> Result<(), RegistryError> {
        let key = serde_json::to_vec(key).expect("keys serialize");
        self.producer.send(SCHEMAS_TOPIC, &key, value).await?;
        self.state
            .write()
            .expect("registry lock")
            .apply(&key, Some(value));
        Ok(())
    }

    fn parse(schema: &str, schema_type: Option<&str>) -> Result<(Schema, String), RegistryError> {
        if let Some(t) = schema_type.filter(|t| *t != "AVRO") {
            return Err(RegistryError::UnsupportedType(t.to_owned()));
        }
        let parsed =
            Schema::parse_str(schema).map_err(|e| RegistryError::InvalidSchema(e.to_string()))?;
        let canonical = parsed.canonical_form();
        Ok((parsed, canonical))
    }

    /// Registers `schema` under `subject`; returns the existing id when it is already there.
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<u32, RegistryError> {
        let (parsed, canonical) = Self::parse(schema, schema_type)?;
        let _writer = self.write_lock.lock().await;
        let (id, version) = {
            let state = self.state.read().expect("registry lock");
            if let Some((_, id)) = state.id_in_subject(subject, &canonical) {
                return Ok(id);
            }
            let existing: Vec<Schema> = state
                .versions(subject, false)
                .iter()
                .filter_map(|v| state.schemas.get(&v.id).map(|s| s.1.clone()))
                .collect();
            let problems = check(state.level(subject), &parsed, &existing);
            if !problems.is_empty() {
                return Err(RegistryError::Incompatible(problems));
            }
            // The same schema under another subject keeps its global id, as in Confluent's registry.
            let id = state
                .schemas
                .iter()
                .find(|(_, (_, _, c))| *c == canonical)
                .map(|(id, _)| *id)
                .unwrap_or_else(|| state.next_id());
            let version = state
                .versions(subject, true)
                .last()
                .map_or(1, |v| v.version + 1);
            (id, version)
        };
        self.write_version(subject, version, id, schema, false)
            .await?;
        Ok(id)
    }

    async fn write_version(
        &self,
        subject: &str,
        version: u32,
        id: u32,
        schema: &str,
        deleted: bool,
    ) -> Result<(), RegistryError> {
        let value = serde_json::to_vec(&SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema: schema.into(),
            deleted,
        })
        .expect("values serialize");
        self.append(&Self::version_key(subject, version), &value)
            .await
    }

    fn version_key(subject: &str, version: u32) -> RecordKey {
        RecordKey::Schema {
            subject: subject.into(),
            version,
            magic: 1,
        }
    }

    /// Deletes versions of `subject` (all when `only` is `None`): soft, hiding them, or
    /// `permanent`, forgetting versions soft-deleted before. Returns the versions deleted.
    pub async fn delete(
        &self,
        subject: &str,
        only: Option<&str>,
        permanent: bool,
    ) -> Result<Vec<u32>, RegistryError> {
        let _writer = self.write_lock.lock().await;
        let targets: Vec<Version> = {
            let state = self.state.read().expect("registry lock");
            let all = state.versions(subject, true);
            if all.is_empty() {
                return Err(RegistryError::SubjectNotFound(subject.into()));
            }
            let chosen: Vec<Version> =
                match only {
                    None => all,
                    Some(v) => {
                        let live = state.versions(subject, false);
                        let n = if v == "latest" || v == "-1" {
                            live.last().or(all.last()).map(|x| x.version)
                        } else {
                            v.parse::<u32>().ok()
                        };
                        let found = n.and_then(|n| all.iter().find(|x| x.version == n).copied());
                        vec![found.ok_or_else(|| {
                            RegistryError::VersionNotFound(subject.into(), v.into())
                        })?]
                    }
                };
            // A permanent delete needs every chosen version soft-deleted; a soft one, one live.
            let any_live = chosen.iter().any(|v| !v.deleted);
            let what = match only {
                None => format!("subject {subject}"),
                Some(v) => format!("subject {subject} version {v}"),
            };
            let version = only.is_some();
            if permanent && any_live {
                return Err(RegistryError::NotSoftDeletedFirst { what, version });
            }
            if !permanent && !any_live {
                return Err(RegistryError::SoftDeleted { what, version });
            }
            chosen
                .into_iter()
                .filter(|v| permanent || !v.deleted)
                .collect()
        };
        for v in &targets {
            if permanent {
                let key = serde_json::to_vec(&Self::version_key(subject, v.version))
                    .expect("keys serialize");
                self.producer.tombstone(SCHEMAS_TOPIC, &key).await?;
                self.state.write().expect("registry lock").apply(&key, None);
            } else {
                let schema = self.schema_by_id(v.id)?;
                self.write_version(subject, v.version, v.id, &schema, true)
                    .await?;
            }
        }
        Ok(targets.iter().map(|v| v.version).collect())
    }

    /// The subjects, and their versions, where schema `id` is registered (live versions).
    pub fn uses_of(&self, id: u32) -> Result<Vec<(String, u32)>, RegistryError> {
        let state = self.state.read().expect("registry lock");
        if !state.schemas.contains_key(&id) {
            return Err(RegistryError::SchemaNotFound(id));
        }
        Ok(state
            .subjects
            .keys()
            .flat_map(|s| {
                state
                    .versions(s, false)
                    .into_iter()
                    .filter(|v| v.id == id)
                    .map(|v| (s.clone(), v.version))
            })
            .collect())
    }

    /// Removes the compatibility level set on `subject`; returns the one it had.
    pub async fn delete_level(&self, subject: &str) -> Result<CompatibilityLevel, RegistryError> {
        let level = self.subject_level(subject, false)?;
        let _writer = self.write_lock.lock().await;
        let key = serde_json::to_vec(&RecordKey::Config {
            subject: Some(subject.into()),
            magic: 0,
        })
        .expect("keys serialize");
        self.producer.tombstone(SCHEMAS_TOPIC, &key).await?;
        self.state.write().expect("registry lock").apply(&key, None);
        Ok(level)
    }

    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        let state = self.state.read().expect("registry lock");
        state
            .schemas
            .get(&id)
            .map(|s| s.0.clone())
            .ok_or(RegistryError::SchemaNotFound(id))
    }

    /// Subjects with a live version (with any version when `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        let state = self.state.read().expect("registry lock");
        state
            .subjects
            .keys()
            .filter(|s| !state.versions(s, deleted).is_empty())
            .cloned()
            .collect()
    }

    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<u32>, RegistryError> {
        let state = self.state.read().expect("registry lock");
        match state.versions(subject, deleted) {
            vs if vs.is_empty() => Err(RegistryError::SubjectNotFound(subject.into())),
            vs => Ok(vs.iter().map(|v| v.version).collect()),
        }
    }

    /// `version` is a number or `latest`; soft-deleted versions only when `deleted`.
    pub fn version(
        &self,
        subject: &str,
        version: &str,
        deleted: bool,
    ) -> Result<Registered, RegistryError> {
        let state = self.state.read().expect("registry lock");
        let versions = state.versions(subject, deleted);
        if versions.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.into()));
        }
        let found = if version == "latest" || version == "-1" {
            versions.last()
        } else {
            version
                .parse::<u32>()
                .ok()
                .and_then(|n| versions.iter().find(|v| v.version == n))
        };
        let v =
            found.ok_or_else(|| RegistryError::VersionNotFound(subject.into(), version.into()))?;
        Ok(Registered {
            subject: subject.into(),
            version: v.version,
            id: v.id,
            schema: state.schemas[&v.id].0.clone(),
        })
    }

    /// Finds `schema` among the versions of `subject`.
    pub fn lookup(
        &self,
        subject: &str,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<Registered, RegistryError> {
        let (_, canonical) = Self::parse(schema, schema_type)?;
        let state = self.state.read().expect("registry lock");
        if state.versions(subject, false).is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.into()));
        }
        let (version, id) = state
            .id_in_subject(subject, &canonical)
            .ok_or_else(|| RegistryError::SchemaNotInSubject(subject.into()))?;
        Ok(Registered {
            subject: subject.into(),
            version,
            id,
            schema: state.schemas[&id].0.clone(),
        })
    }

    /// Compatibility of `schema` with one version (`Some`) or, per the subject's level, with the
    /// versions that level names (`None`).
    pub fn test_compatibility(
        &self,
        subject: &str,
        version: Option<&str>,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<Vec<String>, RegistryError> {
        let (parsed, _) = Self::parse(schema, schema_type)?;
        let state = self.state.read().expect("registry lock");
        let versions = state.versions(subject, false);
        let level = state.level(subject);
        let against: Vec<Schema> = match version {
            None => versions
                .iter()
                .map(|v| state.schemas[&v.id].1.clone())
                .collect(),
            Some(v) => {
                drop(state);
                let one = self.version(subject, v, false)?;
                let state = self.state.read().expect("registry lock");
                return Ok(check(
                    match level {
                        CompatibilityLevel::BackwardTransitive => CompatibilityLevel::Backward,
                        CompatibilityLevel::ForwardTransitive => CompatibilityLevel::Forward,
                        CompatibilityLevel::FullTransitive => CompatibilityLevel::Full,
                        other => other,
                    },
                    &parsed,
                    &[state.schemas[&one.id].1.clone()],
                ));
            }
        };
        Ok(check(level, &parsed, &against))
    }

    pub fn global_level(&self) -> CompatibilityLevel {
        self.state
            .read()
            .expect("registry lock")
            .global
            .unwrap_or(CompatibilityLevel::Backward)
    }

    /// The level set on a subject; with `fallback`, the global one when none is set.
    pub fn subject_level(
        &self,
        subject: &str,
        fallback: bool,
    ) -> Result<CompatibilityLevel, RegistryError> {
        let state = self.state.read().expect("registry lock");
        match state.subject_levels.get(subject) {
            Some(level) => Ok(*level),
            None if fallback => Ok(state.level(subject)),
            None => Err(RegistryError::NoSubjectConfig(subject.into())),
        }
    }

    pub async fn set_level(
        &self,
        subject: Option<&str>,
        level: &str,
    ) -> Result<CompatibilityLevel, RegistryError> {
        let parsed = CompatibilityLevel::parse(level)
            .ok_or_else(|| RegistryError::InvalidCompatibility(level.into()))?;
        let _writer = self.write_lock.lock().await;
        let value = serde_json::to_vec(&ConfigValue {
            compatibility_level: parsed.as_str().into(),
        })
        .expect("values serialize");
        self.append(
            &RecordKey::Config {
                subject: subject.map(str::to_owned),
                magic: 0,
            },
            &value,
        )
        .await?;
        Ok(parsed)
    }
}

/// Reads `_schemas` from the beginning to its end at the time of the call.
async fn replay(bootstrap: &str) -> Result<State, RegistryError> {
    let mut state = State::default();
    let high = wes_kafka::consumer::log_ends(bootstrap, SCHEMAS_TOPIC)
        .await?
        .first()
        .map_or(0, |(_, end)| *end);
    if high == 0 {
        return Ok(state);
    }
    let reader = LogReader::assign(bootstrap, &[(SCHEMAS_TOPIC.to_owned(), 0, 0)])?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut next = 0;
    while next < high {
        if std::time::Instant::now() > deadline {
            return Err(RegistryError::Storage(format!(
                "replaying {SCHEMAS_TOPIC} stalled at offset {next} of {high}"
            )));
        }
        let batch = reader.next_batch(1000, Duration::from_millis(500)).await?;
        if batch.is_empty() {
            // A compacted topic may end in a hole: the reader's position says how far it got.
            next = next.max(reader.position(SCHEMAS_TOPIC, 0)?.unwrap_or(next));
        }
        for record in batch {
            next = record.offset + 1;
            if let Some(key) = &record.key {
                state.apply(key, record.payload.as_deref());
            }
        }
    }
    Ok(state)
}
