//! Reading typed values out of columns: JSON, words and instants. A value that does not decode is
//! an error (`StoreError::Corrupt`), never a default.

use crate::StoreError;
use sqlx::Row;
use sqlx::any::AnyRow;
use wes_domain::UtcMillis;

/// A JSON column decoded into its type; NULL is `None`.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    r: &AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    r.try_get::<Option<String>, _>(column)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .transpose()
}

/// A JSON column that may not be NULL.
pub(crate) fn json_req<T: serde::de::DeserializeOwned>(
    r: &AnyRow,
    column: &str,
) -> Result<T, StoreError> {
    json(r, column)?.ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
}

/// A word column that may not be NULL.
pub(crate) fn word_req<T>(
    r: &AnyRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    word(r, column, parse)?.ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
}

/// A word column decoded into its enum; NULL is `None`.
pub(crate) fn word<T>(
    r: &AnyRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    r.try_get::<Option<String>, _>(column)?
        .map(|text| {
            parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown {text:?}")))
        })
        .transpose()
}

/// A millisecond column as RFC 3339 text.
pub(crate) fn millis_text(r: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(r.try_get::<Option<i64>, _>(column)?
        .map(|ms| UtcMillis(ms).to_rfc3339()))
}

/// Any value as JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}
