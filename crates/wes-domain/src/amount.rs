//! Money-like values (an operation's expected cost): exact decimals, never binary floating point,
//! so 0.1 + 0.2 stays 0.3 wherever the value travels.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An exact decimal with at most four fractional digits and eighteen digits in all: Avro's
/// `decimal(18, 4)`. Held as ten-thousandths. From JSON (a double) at most fifteen significant
/// digits are taken: every such decimal survives the trip through a double exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// Fractional digits.
    pub const SCALE: u32 = 4;
    /// Digits in all.
    pub const PRECISION: u32 = 18;
    const UNITS_PER_ONE: i64 = 10_i64.pow(Self::SCALE);
    const MAX_UNITS: i64 = 10_i64.pow(Self::PRECISION) - 1;
    /// Significant digits a double always carries exactly (`f64::DIGITS`).
    const FROM_DOUBLE_DIGITS: usize = f64::DIGITS as usize;

    /// From ten-thousandths; `None` beyond eighteen digits.
    pub fn from_units(units: i64) -> Option<Amount> {
        (units.abs() <= Self::MAX_UNITS).then_some(Amount(units))
    }

    /// Ten-thousandths: the unscaled value of the Avro decimal.
    pub fn units(self) -> i64 {
        self.0
    }

    /// A JSON number as the decimal it is written as; `None` when it has more than four
    /// fractional digits, more than fourteen integer digits or more than fifteen in all.
    pub fn from_json(number: &serde_json::Number) -> Option<Amount> {
        if let Some(i) = number.as_i64() {
            return i
                .checked_mul(Self::UNITS_PER_ONE)
                .and_then(Self::from_units);
        }
        Self::from_f64(number.as_f64()?)
    }

    /// The decimal a double denotes, read from its shortest round-trip digits (0.1 is 0.1).
    pub fn from_f64(x: f64) -> Option<Amount> {
        if !x.is_finite() {
            return None;
        }
        // Rust writes doubles in plain notation with the shortest digits that round-trip.
        let text = format!("{}", x.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let significant = format!("{int}{frac}").trim_start_matches('0').len();
        if frac.len() > Self::SCALE as usize
            || int.len() > (Self::PRECISION - Self::SCALE) as usize
            || significant > Self::FROM_DOUBLE_DIGITS
        {
            return None;
        }
        let padded = format!("{int}{frac:0<width$}", width = Self::SCALE as usize);
        let units: i64 = padded.parse().ok()?;
        Self::from_units(if x < 0.0 { -units } else { units })
    }

    /// The nearest amount to any double (rounded half away from zero to four places): for costs
    /// recorded as doubles before amounts were exact. `None` beyond eighteen digits.
    pub fn from_f64_rounded(x: f64) -> Option<Amount> {
        let units = (x * Self::UNITS_PER_ONE as f64).round();
        (units.is_finite() && units.abs() <= Self::MAX_UNITS as f64).then_some(Amount(units as i64))
    }

    /// The nearest double, for JSON.
    pub fn to_f64(self) -> f64 {
        // Exact text first: "12.5" parses to the double nearest 12.5.
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for Amount {
    /// Plain decimal notation without trailing zeros: `12.5`, `-0.0001`, `3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let (int, frac) = (
            self.0.unsigned_abs() / Self::UNITS_PER_ONE as u64,
            self.0.unsigned_abs() % Self::UNITS_PER_ONE as u64,
        );
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let digits = format!("{frac:0width$}", width = Self::SCALE as usize);
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

/// In JSON, a number.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Amount::from_json(&number).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{number} is not a decimal of at most 15 digits, 4 of them fractional"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Option<Amount> {
        Amount::from_json(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn json_numbers_become_the_decimals_they_spell() {
        assert_eq!(of("12"), Amount::from_units(120_000));
        assert_eq!(of("12.50"), Amount::from_units(125_000));
        assert_eq!(of("0.1"), Amount::from_units(1_000));
        assert_eq!(of("-0.0001"), Amount::from_units(-1));
        assert_eq!(of("1e2"), Amount::from_units(1_000_000));
        assert_eq!(
            of("12345678901.2345"),
            Amount::from_units(123_456_789_012_345)
        );
        assert_eq!(
            of("99999999999999"),
            Amount::from_units(999_999_999_999_990_000)
        );
        assert_eq!(
            of("1234567890123.4567"),
            None,
            "seventeen significant digits"
        );
        assert_eq!(of("0.00001"), None, "five fractional digits");
        assert_eq!(of("100000000000000"), None, "fifteen integer digits");
        assert_eq!(of("1e300"), None);
    }

    #[test]
    fn amounts_print_and_convert_exactly() {
        let sum = Amount::from_units(of("0.1").unwrap().units() + of("0.2").unwrap().units());
        assert_eq!(sum, of("0.3"));
        assert_eq!(of("12.50").unwrap().to_string(), "12.5");
        assert_eq!(of("-3").unwrap().to_string(), "-3");
        assert_eq!(of("-0.0001").unwrap().to_string(), "-0.0001");
        assert_eq!(of("0.3").unwrap().to_f64(), 0.3);
        assert_eq!(Amount::from_f64_rounded(0.30000000000000004), of("0.3"));
        assert_eq!(Amount::from_f64_rounded(-1.23456), of("-1.2346"));
        assert_eq!(Amount::from_f64_rounded(f64::INFINITY), None);
        assert_eq!(serde_json::to_string(&of("12.5").unwrap()).unwrap(), "12.5");
    }
}
