//! Typed identifiers. Each wraps a validated string; none is a bare `String` alias.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest identifier the hub accepts in any id field.
pub const MAX_ID_LEN: usize = 128;

/// Whether `text` is acceptable as an identifier: non-empty, at most [`MAX_ID_LEN`] bytes, printable
/// ASCII without spaces. Keeps ids safe to use as Kafka keys, SQL keys and log fields.
pub fn is_valid_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_ID_LEN && text.bytes().all(|b| b.is_ascii_graphic())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps; `None` when the text is not a valid identifier.
            pub fn parse(text: &str) -> Option<Self> {
                is_valid_id(text).then(|| Self(text.to_owned()))
            }
            /// Wraps a value already validated (read back from the log or the database).
            pub fn from_trusted(text: impl Into<String>) -> Self {
                Self(text.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A warehouse, e.g. `WH-Tokyo-01`.
    WarehouseId
);
string_id!(
    /// A partner in the registry: `<warehouse>/<vendor>` for executors, e.g. `WH-Tokyo-01/AcmeWES`.
    PartnerId
);
string_id!(
    /// A stock-keeping unit code, e.g. `SKU-WIDGET-RED-LG`.
    SkuCode
);
string_id!(
    /// A location code inside one warehouse, e.g. `A.12.3.1`.
    LocationCode
);
string_id!(
    /// A sender-generated idempotency key (opaque; UUID v4/v7 or ULID in practice).
    CorrelationId
);
string_id!(
    /// The planner that released a dispatch event.
    PlannerId
);

/// The federated resource name of a warehouse: `frn:wes:warehouse:<warehouse_id>`. It is the Kafka
/// partition key of every per-warehouse topic, so all events of one warehouse stay in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WarehouseFrn(String);

impl WarehouseFrn {
    pub const PREFIX: &'static str = "frn:wes:warehouse:";

    pub fn for_warehouse(id: &WarehouseId) -> Self {
        Self(format!("{}{}", Self::PREFIX, id.as_str()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn warehouse_id(&self) -> Option<WarehouseId> {
        self.0
            .strip_prefix(Self::PREFIX)
            .and_then(WarehouseId::parse)
    }
}

impl fmt::Display for WarehouseFrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frn_round_trips_the_warehouse_id() {
        let id = WarehouseId::parse("WH-Tokyo-01").unwrap();
        let frn = WarehouseFrn::for_warehouse(&id);
        assert_eq!(frn.as_str(), "frn:wes:warehouse:WH-Tokyo-01");
        assert_eq!(frn.warehouse_id(), Some(id));
    }

    #[test]
    fn ids_reject_empty_spaces_and_overlong_text() {
        assert!(SkuCode::parse("").is_none());
        assert!(SkuCode::parse("SKU 1").is_none());
        assert!(SkuCode::parse(&"x".repeat(MAX_ID_LEN + 1)).is_none());
        assert!(SkuCode::parse("SKU-1").is_some());
    }
}
