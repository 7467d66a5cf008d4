//! YAML for Evident: values are parsed by `serde_yaml` (so every field, known or not, is kept);
//! the *location* of the status value is found by our own scanner over the block mapping's
//! top-level lines, because a surgical edit needs exact bytes, which no YAML library reports
//! for scalar ends.

use serde_json::{Map, Number, Value};

use crate::markdown::Line;

/// How a scalar was quoted in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Single,
    Double,
}

/// Where an item's status lives in its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSpan {
    /// `start..end` covers the value including any quotes.
    Value {
        start: usize,
        end: usize,
        quote: Quote,
    },
    /// `status:` with no value: the new value goes at `at` (just after the colon).
    Empty { at: usize },
    /// No `status` key: a line `{indent}status: value{newline}` is inserted at `at`.
    Missing {
        at: usize,
        indent: usize,
        newline: &'static str,
    },
    /// The value cannot be edited surgically (block scalar, flow collection, anchor, multi-line).
    Unsupported { line: u32, reason: &'static str },
}

/// Convert a parsed YAML value into JSON, keeping mapping order.
pub fn to_json(v: serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(key_string(k), to_json(v));
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => to_json(t.value),
    }
}

fn key_string(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => "null".into(),
        other => serde_yaml::to_string(&other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// Parse a YAML mapping. `Ok(None)` for an empty document; `Err((line, message))` with a
/// 1-based line relative to `text`.
pub fn parse_mapping(text: &str) -> Result<Option<Map<String, Value>>, (u32, String)> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if let Some(m) = crate::flat_yaml::parse(text) {
        return Ok(Some(m));
    }
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line() as u32).unwrap_or(1);
        (line, e.to_string())
    })?;
    match to_json(v) {
        Value::Object(m) => Ok(Some(m)),
        Value::Null => Ok(None),
        _ => Err((1, "expected a mapping of `key: value` fields".into())),
    }
}

fn key_at(line: &str, indent: usize, key: &str) -> Option<usize> {
    let b = line.as_bytes();
    if line.len() < indent || b[..indent].iter().any(|&c| c != b' ') {
        return None;
    }
    let rest = &line[indent..];
    let (klen, after_key) = if let Some(r) = rest.strip_prefix(key) {
        (key.len(), r)
    } else if rest.starts_with('"') || rest.starts_with('\'') {
        let q = &rest[..1];
        let inner = rest[1..].strip_prefix(key)?;
        (key.len() + 2, inner.strip_prefix(q)?)
    } else {
        return None;
    };
    let trimmed = after_key.trim_start_matches([' ', '\t']);
    let colon = trimmed.strip_prefix(':')?;
    if !(colon.is_empty() || colon.starts_with(' ') || colon.starts_with('\t')) {
        return None;
    }
    Some(indent + klen + (after_key.len() - trimmed.len()) + 1)
}

/// Find the status value among the mapping lines `lines[first..last]` whose keys sit at
/// `indent` columns. `after_key` names the key after which a missing status is inserted.
pub fn find_value_span(
    text: &str,
    lines: &[Line],
    first: usize,
    last: usize,
    indent: usize,
    key: &str,
    insert_after: &[&str],
) -> StatusSpan {
    for i in first..last {
        let l = lines[i];
        let s = &text[l.start..l.end];
        let Some(colon_end) = key_at(s, indent, key) else {
            continue;
        };
        let line_no = i as u32 + 1;
        let vstart =
            colon_end + s[colon_end..].len() - s[colon_end..].trim_start_matches([' ', '\t']).len();
        let rest = &s[vstart..];
        let abs = |off: usize| l.start + off;
        // Is the value continued on more-indented lines (a multi-line plain scalar or block)?
        let continued = i + 1 < last && {
            let n = &text[lines[i + 1].start..lines[i + 1].end];
            !n.trim().is_empty()
                && n.len() - n.trim_start_matches([' ', '\t']).len() > indent
                && !n.trim_start().starts_with('#')
        };
        if rest.is_empty() || rest.starts_with('#') {
            if continued {
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "the value continues on the next lines",
                };
            }
            return StatusSpan::Empty { at: abs(colon_end) };
        }
        match rest.as_bytes()[0] {
            b'"' => {
                let mut j = 1;
                let rb = rest.as_bytes();
                while j < rb.len() {
                    match rb[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            return StatusSpan::Value {
                                start: abs(vstart),
                                end: abs(vstart + j + 1),
                                quote: Quote::Double,
                            }
                        }
                        _ => j += 1,
                    }
                }
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "a quoted value that spans several lines",
                };
            }
            b'\'' => {
                let rb = rest.as_bytes();
                let mut j = 1;
                while j < rb.len() {
                    if rb[j] == b'\'' {
                        if j + 1 < rb.len() && rb[j + 1] == b'\'' {
                            j += 2;
                            continue;
                        }
                        return StatusSpan::Value {
                            start: abs(vstart),
                            end: abs(vstart + j + 1),
                            quote: Quote::Single,
                        };
                    }
                    j += 1;
                }
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "a quoted value that spans several lines",
                };
            }
            b'|' | b'>' => {
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "a block scalar",
                }
            }
            b'[' | b'{' => {
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "a flow collection",
                }
            }
            b'&' | b'*' | b'!' => {
                return StatusSpan::Unsupported {
                    line: line_no,
                    reason: "an anchor, alias or tag",
                }
            }
            _ => {}
        }
        if continued {
            return StatusSpan::Unsupported {
                line: line_no,
                reason: "a plain value that continues on the next lines",
            };
        }
        // Plain scalar: ends at ` #` (a comment) or the end of the line, trailing blanks trimmed.
        let rb = rest.as_bytes();
        let mut end = rest.len();
        for j in 1..rb.len() {
            if rb[j] == b'#' && (rb[j - 1] == b' ' || rb[j - 1] == b'\t') {
                end = j;
                break;
            }
        }
        let value = rest[..end].trim_end_matches([' ', '\t']);
        return StatusSpan::Value {
            start: abs(vstart),
            end: abs(vstart + value.len()),
            quote: Quote::None,
        };
    }
    // Missing: insert after the first of `insert_after` found at this indent, else at the end.
    let newline = lines
        .get(first)
        .map(|l| {
            if text[l.end..l.next].starts_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            }
        })
        .unwrap_or("\n");
    for k in insert_after {
        for i in first..last {
            let l = lines[i];
            if key_at(&text[l.start..l.end], indent, k).is_some() {
                let mut at = i + 1;
                // Skip the value's continuation lines.
                while at < last {
                    let n = &text[lines[at].start..lines[at].end];
                    if n.trim().is_empty() || n.len() - n.trim_start().len() <= indent {
                        break;
                    }
                    at += 1;
                }
                let pos = if at < last {
                    lines[at].start
                } else {
                    lines[last - 1].next
                };
                return StatusSpan::Missing {
                    at: pos,
                    indent,
                    newline,
                };
            }
        }
    }
    let pos = if last > first {
        lines[last - 1].next
    } else {
        lines.get(first).map(|l| l.start).unwrap_or(0)
    };
    StatusSpan::Missing {
        at: pos,
        indent,
        newline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::lines;

    fn span(t: &str) -> (StatusSpan, String) {
        let ls = lines(t);
        let s = find_value_span(t, &ls, 0, ls.len(), 0, "status", &["id"]);
        let v = match &s {
            StatusSpan::Value { start, end, .. } => t[*start..*end].to_string(),
            _ => String::new(),
        };
        (s, v)
    }

    #[test]
    fn finds_values_in_every_shape() {
        assert_eq!(span("id: A\nstatus: todo\n").1, "todo");
        assert_eq!(
            span("status: \"In Progress\" # note\n").1,
            "\"In Progress\""
        );
        assert_eq!(span("status: 'it''s' \n").1, "'it''s'");
        assert_eq!(span("status:   done   # c\n").1, "done");
        assert_eq!(span("status: a#b\n").1, "a#b");
        assert_eq!(span("\"status\": done\r\n").1, "done");
        assert_eq!(span("statuses: x\nstatus: y\n").1, "y");
        assert!(matches!(
            span("status: |\n  x\n").0,
            StatusSpan::Unsupported { .. }
        ));
        assert!(matches!(span("status:\n").0, StatusSpan::Empty { .. }));
        assert!(matches!(
            span("id: A\ntitle: t\n").0,
            StatusSpan::Missing { at: 6, .. }
        ));
        assert!(matches!(
            span("  status: nested\n").0,
            StatusSpan::Missing { .. }
        ));
    }
}
