//! Why the domain refused an input. Adapters map the kind onto a transport status (HTTP 400/422).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RejectionKind {
    /// Structurally wrong: not the right JSON type, a required field missing, an unknown enum value.
    Malformed,
    /// Well formed but not acceptable: unknown SKU or location, wrong UoM, bad quantity.
    Unprocessable,
    /// Acceptable in itself but not in the current state of what it names (a document that has
    /// a live release, a release cancelled already).
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub kind: RejectionKind,
    /// JSON-pointer-like path of the offending field (`/qty`), empty for the whole document.
    pub field: String,
    pub detail: String,
}

impl Rejection {
    pub fn malformed(field: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Malformed,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
    /// The same rejection for a field nested under `prefix` (e.g. `/totals/3`).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: format!("{prefix}{}", self.field),
            ..self
        }
    }
    pub fn conflict(field: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Conflict,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
    pub fn unprocessable(field: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Unprocessable,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}
