//! The embedded schema registry: the subset of the Confluent Schema Registry REST API that
//! schema_registry_converter and Confluent's clients use, stored like Confluent's in a compacted
//! `_schemas` topic. The hub talks to it only over HTTP, so a real registry can replace it.

mod compat;
mod http;
mod store;

pub use compat::{CompatibilityLevel, check};
pub use http::router;
pub use store::{Registry, RegistryError, SCHEMAS_TOPIC};
