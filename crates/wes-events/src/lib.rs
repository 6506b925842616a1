//! The wire contract. Avro records in `schemas/*.avsc` are the contract; the structs here mirror them
//! field for field and convert explicitly to and from domain types (wire schema != domain type).

pub mod catalog;
mod decimal;
pub mod records;

pub use catalog::{Catalog, TopicSpec};
pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("topic catalog: {0}")]
    Catalog(String),
    #[error("unknown record {0}")]
    UnknownRecord(String),
    #[error("avro: {0}")]
    Avro(#[from] apache_avro::Error),
    #[error("record field {field} holds an invalid value {value:?}")]
    InvalidField { field: &'static str, value: String },
}
