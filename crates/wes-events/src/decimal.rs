//! `Option<Amount>` fields of records (`#[serde(with = "crate::decimal")]`). In Avro a
//! `decimal(18, 4)`: the ten-thousandths as big-endian two's-complement bytes. In JSON, a number.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};
use std::fmt;
use wes_domain::amount::Amount;

pub fn serialize<S: Serializer>(value: &Option<Amount>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        None => serializer.serialize_none(),
        // serde_json is human-readable, apache-avro's serializer is not.
        Some(amount) if serializer.is_human_readable() => serializer.serialize_some(amount),
        Some(amount) => serializer.serialize_some(&Unscaled(amount.units())),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Amount>, D::Error> {
    deserializer.deserialize_option(OptionalAmount)
}

struct Unscaled(i64);

impl Serialize for Unscaled {
    /// All eight bytes: apache-avro wants a decimal's bytes to hold every value of its precision
    /// (18 digits need 8). Readers take any length, as Avro allows.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0.to_be_bytes())
    }
}

/// Big-endian two's-complement bytes of any length up to eight (Avro's decimal encoding).
fn from_twos_complement(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut full = [fill; 8];
    full[8 - bytes.len()..].copy_from_slice(bytes);
    Some(i64::from_be_bytes(full))
}

struct OptionalAmount;

impl<'de> Visitor<'de> for OptionalAmount {
    type Value = Option<Amount>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null, a decimal(18, 4) or a JSON number")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(AmountVisitor).map(Some)
    }
}

struct AmountVisitor;

impl AmountVisitor {
    fn out_of_range<E: de::Error>(what: impl fmt::Display) -> E {
        E::custom(format!("{what} is not a decimal(18, 4)"))
    }
}

impl<'de> Visitor<'de> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal(18, 4) or a JSON number")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Amount, E> {
        from_twos_complement(bytes)
            .and_then(Amount::from_units)
            .ok_or_else(|| Self::out_of_range(format!("{bytes:?}")))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Amount, E> {
        Amount::from_f64(x).ok_or_else(|| Self::out_of_range(x))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Amount, E> {
        Amount::from_json(&n.into()).ok_or_else(|| Self::out_of_range(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Amount, E> {
        Amount::from_json(&n.into()).ok_or_else(|| Self::out_of_range(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_values_read_from_bytes_of_any_length() {
        for (bytes, n) in [
            (vec![0x00], 0_i64),
            (vec![0x7f], 127),
            (vec![0x00, 0x80], 128),
            (vec![0xff], -1),
            (vec![0x80], -128),
            (vec![0xff, 0x7f], -129),
            (vec![0x01, 0xe8, 0x48], 125_000),
            (125_000_i64.to_be_bytes().to_vec(), 125_000),
            ((-3_i64).to_be_bytes().to_vec(), -3),
        ] {
            assert_eq!(from_twos_complement(&bytes), Some(n), "{bytes:?}");
        }
        assert_eq!(from_twos_complement(&[]), None);
        assert_eq!(from_twos_complement(&[0; 9]), None);
    }
}
