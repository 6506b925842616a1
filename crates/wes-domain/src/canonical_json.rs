//! RFC 8785 (JSON Canonicalization Scheme): one text per JSON value. Object members sorted by
//! the UTF-16 code units of their names, no white space, strings escaped as ECMAScript's
//! `JSON.stringify` escapes them, numbers written as ECMAScript writes an IEEE 754 double.

use serde_json::Value;
use std::fmt::Write;

/// Appends the canonical text of `value` to `out`.
pub fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write(member, out);
            }
            out.push('}');
        }
    }
}

const EXACT: u64 = 1 << 53;

fn exact_integer(n: &serde_json::Number) -> bool {
    n.as_i64().is_some_and(|i| i.unsigned_abs() <= EXACT) || n.as_u64().is_some_and(|u| u <= EXACT)
}

/// Integers that a double holds exactly are written as they are (the common case, no float
/// formatting); every other number as the double it denotes.
fn write_number(n: &serde_json::Number, out: &mut String) {
    if exact_integer(n) {
        write!(out, "{n}").expect("write to String");
    } else {
        write_double(n.as_f64().unwrap_or(0.0), out);
    }
}

/// ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20) from the shortest round-trip digits.
fn write_double(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push('0'); // -0 too
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    // `{:e}` gives the shortest digits that round-trip: "d.ddde±x".
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("scientific notation");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exponent.parse::<i32>().expect("exponent") + 1; // x = 0.digits × 10^n
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        write!(out, "{int}.{frac}").expect("write to String");
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            write!(out, ".{rest}").expect("write to String");
        }
        let e = n - 1;
        write!(out, "e{}{e}", if e < 0 { "" } else { "+" }).expect("write to String");
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => write!(out, "\\u{:04x}", c as u32).expect("write to String"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut out = String::new();
        write(&serde_json::from_str(text).unwrap(), &mut out);
        out
    }

    fn number(x: f64) -> String {
        let mut out = String::new();
        write_double(x, &mut out);
        out
    }

    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        // RFC 8785 appendix B and ECMAScript's boundaries of plain and exponent notation.
        for (x, text) in [
            (f64::from_bits(0x0000_0000_0000_0001), "5e-324"),
            (f64::from_bits(0x8000_0000_0000_0001), "-5e-324"),
            (
                f64::from_bits(0x7fef_ffff_ffff_ffff),
                "1.7976931348623157e+308",
            ),
            (f64::from_bits(0x4340_0000_0000_0000), "9007199254740992"),
            (
                f64::from_bits(0x4430_0000_0000_0000),
                "295147905179352830000",
            ),
            (
                f64::from_bits(0x44b5_2d02_c7e1_4af5),
                "9.999999999999997e+22",
            ),
            (f64::from_bits(0x44b5_2d02_c7e1_4af6), "1e+23"),
            (f64::from_bits(0x3eb0_c6f7_a0b5_ed8d), "0.000001"),
            (
                f64::from_bits(0x3eb0_c6f7_a0b5_ed8c),
                "9.999999999999997e-7",
            ),
            (f64::from_bits(0x41b3_de43_5555_5553), "333333333.3333332"),
            (
                f64::from_bits(0x4415_af1d_78b5_8c3f),
                "99999999999999980000",
            ),
            (-0.0, "0"),
            (12.0, "12"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123.456, "123.456"),
        ] {
            assert_eq!(number(x), text, "{x:e}");
        }
    }

    #[test]
    fn the_rfc_example_canonicalizes_as_printed() {
        // RFC 8785 §3.2.2 (numbers, string escapes, literals); its first number is spelled with
        // its shortest digits, which serde_json (without `float_roundtrip`) parses exactly.
        let input = r#"{
            "numbers": [333333333.3333333, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canonical(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn members_sort_by_utf16_code_units() {
        // RFC 8785 §3.2.3: "\u{10000}" (a surrogate pair) sorts before "\u{fb33}".
        assert_eq!(
            canonical(r#"{"\ufb33": 1, "\ud800\udc00": 2, "a": 3, "\u00e9": 4}"#),
            "{\"a\":3,\"\u{e9}\":4,\"\u{10000}\":2,\"\u{fb33}\":1}"
        );
    }
}
