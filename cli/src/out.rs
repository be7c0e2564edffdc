//! Output: every command builds one JSON document; `--json` prints it as
//! is, otherwise it is rendered as indented text. Keys and values are
//! strings in either form, escaped (printable ASCII as itself, `\\` and
//! `\xNN` for the rest) or hex.

use std::sync::Arc;

use serde_json::{Map, Value};
use strata::fs::FileSystem;

/// How the command was asked to print, and the file system it reads
/// (`StdFs` for the tool; an in-memory one under the fuzzer).
#[derive(Clone, Debug)]
pub struct Out {
    /// Machine-readable JSON.
    pub json: bool,
    /// Keys and values as hex.
    pub hex: bool,
    /// Where the files are.
    pub fs: Arc<dyn FileSystem>,
}

impl Out {
    /// `b` as a printable string, escaped or hex.
    pub fn bytes(&self, b: &[u8]) -> Value {
        Value::String(if self.hex { hex(b) } else { escape(b) })
    }

    /// Prints `doc`.
    pub fn emit(&self, doc: &Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(doc).expect("a JSON value serializes")
            );
        } else {
            print!("{}", text(doc));
        }
    }

    /// Reads a key given on the command line: hex with `--hex`, otherwise
    /// the argument's bytes with `\xNN` and `\\` escapes decoded.
    pub fn parse_key(&self, arg: &str) -> Result<Vec<u8>, String> {
        if self.hex {
            unhex(arg)
        } else {
            unescape(arg)
        }
    }
}

/// `doc` as the tool prints it without `--json`.
pub fn text(doc: &Value) -> String {
    let mut s = String::new();
    render(doc, 0, &mut s);
    s
}

/// Printable ASCII as itself (but `\`), everything else as `\xNN`.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn hex(b: &[u8]) -> String {
    strata::format::hex::to_hex(b)
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    strata::format::hex::from_hex(s)
        .ok_or_else(|| format!("{s:?} is not hex (an even number of hex digits)"))
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let digits = s
                    .get(i + 2..i + 4)
                    .ok_or_else(|| format!("{s:?}: \\x needs two hex digits"))?;
                out.push(
                    u8::from_str_radix(digits, 16)
                        .map_err(|_| format!("{s:?}: \\x{digits} is not hex"))?,
                );
                i += 4;
            }
            _ => return Err(format!("{s:?}: a backslash starts \\\\ or \\xNN")),
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("-".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // One line per value in text: a multi-line string's lines joined.
        Value::String(s) => Some(s.trim_end().replace('\n', " | ")),
        _ => None,
    }
}

/// A value on one line: an object as `k=v k=v`, a list as `[a; b]`.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", inline(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join("; "))
        }
        other => scalar(other).expect("a scalar"),
    }
}

fn render(v: &Value, indent: usize, s: &mut String) {
    let pad = " ".repeat(indent);
    let Value::Object(m) = v else {
        s.push_str(&format!("{pad}{}\n", inline(v)));
        return;
    };
    render_object(m, indent, s, &pad);
}

fn render_object(m: &Map<String, Value>, indent: usize, s: &mut String, pad: &str) {
    for (k, v) in m {
        match v {
            Value::Object(_) => {
                s.push_str(&format!("{pad}{k}:\n"));
                render(v, indent + 2, s);
            }
            Value::Array(items) if items.iter().all(|i| scalar(i).is_some()) => {
                let list: Vec<String> = items.iter().filter_map(scalar).collect();
                s.push_str(&format!("{pad}{k}: [{}]\n", list.join(", ")));
            }
            Value::Array(items) => {
                s.push_str(&format!("{pad}{k}: ({})\n", items.len()));
                for i in items {
                    s.push_str(&format!("{pad}  - {}\n", inline(i)));
                }
            }
            other => s.push_str(&format!(
                "{pad}{k}: {}\n",
                scalar(other).expect("not an object or array")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_hex_too() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(&escape(&all)).unwrap(), all);
        assert_eq!(unhex(&hex(&all)).unwrap(), all);
        assert_eq!(escape(b"a\\b\x00\xff"), "a\\\\b\\x00\\xff");
        assert!(unescape("bad\\q").is_err());
        assert!(unhex("abc").is_err());
    }

    #[test]
    fn text_rendering_shows_nesting_and_rows() {
        let doc = serde_json::json!({
            "file": "x",
            "rows": [{"a": 1, "b": "two", "c": [{"d": 3}, {"d": 4}]}],
            "nested": {"n": null},
            "list": [1, 2],
        });
        let mut s = String::new();
        render(&doc, 0, &mut s);
        assert_eq!(
            s,
            "file: x\nrows: (1)\n  - a=1 b=two c=[d=3; d=4]\nnested:\n  n: -\nlist: [1, 2]\n"
        );
    }
}
