//! Reading a JSON object field by field with precise rejections. Partner payloads are parsed by
//! hand (not by serde derive) so every failure names its field and maps to the right status.

use crate::rejection::Rejection;
use serde_json::{Map, Value};

pub struct Fields<'a> {
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value) -> Result<Self, Rejection> {
        match value {
            Value::Object(object) => Ok(Fields { object }),
            _ => Err(Rejection::malformed("", "expected a JSON object")),
        }
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Rejection::malformed(
                &ptr(name),
                format!("`{name}` must be a string"),
            )),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&'a str, Rejection> {
        self.opt_str(name)?
            .ok_or_else(|| Rejection::malformed(&ptr(name), format!("`{name}` is required")))
    }

    /// Free text of at most `max` characters.
    pub fn opt_text(&self, name: &str, max: usize) -> Result<Option<String>, Rejection> {
        match self.opt_str(name)? {
            Some(text) if text.chars().count() > max => Err(Rejection::malformed(
                &ptr(name),
                format!("`{name}` is longer than {max} characters"),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    }

    /// An identifier-shaped string, parsed into its typed id.
    pub fn opt_id<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Rejection> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(text) => parse(text).map(Some).ok_or_else(|| {
                Rejection::malformed(
                    &ptr(name),
                    format!("`{name}` must be 1-128 printable ASCII characters without spaces"),
                )
            }),
        }
    }

    pub fn req_id<T>(&self, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, Rejection> {
        self.opt_id(name, parse)?
            .ok_or_else(|| Rejection::malformed(&ptr(name), format!("`{name}` is required")))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, Rejection> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Rejection::malformed(&ptr(name), format!("`{name}` must be a whole number"))
            }),
            Some(_) => Err(Rejection::malformed(
                &ptr(name),
                format!("`{name}` must be a number"),
            )),
        }
    }

    pub fn req_i64(&self, name: &str) -> Result<i64, Rejection> {
        self.opt_i64(name)?
            .ok_or_else(|| Rejection::malformed(&ptr(name), format!("`{name}` is required")))
    }

    /// An RFC 3339 timestamp (seconds or fractions; kept to the millisecond).
    pub fn req_time(&self, name: &str) -> Result<crate::UtcMillis, Rejection> {
        let text = self.req_str(name)?;
        crate::UtcMillis::parse_rfc3339(text).ok_or_else(|| {
            Rejection::malformed(
                &ptr(name),
                format!("`{name}` must be an RFC 3339 timestamp, got {text:?}"),
            )
        })
    }

    /// An enumeration given as a string; unknown values are malformed (400).
    pub fn req_enum<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Result<T, Rejection> {
        let text = self.req_str(name)?;
        parse(text).ok_or_else(|| {
            Rejection::malformed(
                &ptr(name),
                format!("`{name}` has unknown value {text:?}; expected one of {allowed}"),
            )
        })
    }
}

fn ptr(name: &str) -> String {
    format!("/{name}")
}
