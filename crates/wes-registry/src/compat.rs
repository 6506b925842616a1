//! Avro compatibility levels as Confluent defines them.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatibilityLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::None,
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// Checks `candidate` against the registered versions (oldest first). Returns the messages of every
/// failed check; empty means compatible.
pub fn check(level: CompatibilityLevel, candidate: &Schema, existing: &[Schema]) -> Vec<String> {
    use CompatibilityLevel::*;
    let against: &[Schema] = match level {
        None => return vec![],
        Backward | Forward | Full => existing.last().map(std::slice::from_ref).unwrap_or(&[]),
        BackwardTransitive | ForwardTransitive | FullTransitive => existing,
    };
    let backward = matches!(level, Backward | BackwardTransitive | Full | FullTransitive);
    let forward = matches!(level, Forward | ForwardTransitive | Full | FullTransitive);
    let mut problems = vec![];
    for (i, old) in against.iter().enumerate() {
        if backward && let Err(e) = SchemaCompatibility::can_read(old, candidate) {
            problems.push(format!(
                "new schema cannot read data written with version #{}: {e}",
                i + 1
            ));
        }
        if forward && let Err(e) = SchemaCompatibility::can_read(candidate, old) {
            problems.push(format!(
                "version #{} cannot read data written with the new schema: {e}",
                i + 1
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn adding_an_optional_field_is_backward_compatible_a_required_one_is_not() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let optional = schema(
            r#"{"name":"a","type":"string"},{"name":"b","type":["null","string"],"default":null}"#,
        );
        let required = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"string"}"#);
        assert!(
            check(
                CompatibilityLevel::BackwardTransitive,
                &optional,
                std::slice::from_ref(&v1)
            )
            .is_empty()
        );
        assert!(
            !check(
                CompatibilityLevel::BackwardTransitive,
                &required,
                std::slice::from_ref(&v1)
            )
            .is_empty()
        );
        assert!(check(CompatibilityLevel::None, &required, &[v1]).is_empty());
    }
}
