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

/// Where a YAML text sits in its document: the file line of its first line, and how many
/// columns were cut from each line (a task block indented under a list item).
#[derive(Debug, Clone, Copy)]
pub struct YamlOrigin {
    pub first_line: u32,
    pub indent: u32,
}

/// Parse a YAML mapping. `Ok(None)` for an empty document; `Err((line, message))` with a
/// 1-based line of the document, and the parser's positions in the message rewritten to the
/// document's lines and columns too.
pub fn parse_mapping(
    text: &str,
    origin: YamlOrigin,
) -> Result<Option<Map<String, Value>>, (u32, String)> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if let Some(m) = crate::flat_yaml::parse(text) {
        return Ok(Some(m));
    }
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line() as u32).unwrap_or(1);
        relocate(&e.to_string(), line, origin)
    })?;
    match to_json(v) {
        Value::Object(m) => Ok(Some(m)),
        Value::Null => Ok(None),
        _ => Err((
            origin.first_line,
            "expected a mapping of `key: value` fields".into(),
        )),
    }
}

/// Rewrite the parser's `line N column M` (relative to the YAML text) into the document's
/// positions, and choose the line to report: where the parser stopped, except when it was inside
/// a quoted string or a `[...]` / `{...}` collection that never closed, where the fix is at its
/// start ("... at line 9 column 1, while scanning a quoted scalar at line 4 column 8").
fn relocate(msg: &str, problem_line: u32, origin: YamlOrigin) -> (u32, String) {
    const AT: &str = "line ";
    let mut out = String::with_capacity(msg.len() + 8);
    let mut rest = msg;
    let mut start_of_unclosed: Option<u32> = None;
    let file_line_of = |n: u32| n + origin.first_line - 1;
    while let Some(i) = rest.find(AT) {
        let (before, after) = rest.split_at(i + AT.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = after[..digits].parse::<u32>() else {
            rest = after;
            continue;
        };
        let file_line = file_line_of(n);
        out.push_str(&file_line.to_string());
        rest = &after[digits..];
        if let Some(c) = rest.strip_prefix(" column ") {
            let cd = c.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(col) = c[..cd].parse::<u32>() {
                out.push_str(&format!(" column {}", col + origin.indent));
                rest = &c[cd..];
            }
        }
        if before.ends_with("quoted scalar at line ")
            || before.ends_with("flow sequence at line ")
            || before.ends_with("flow mapping at line ")
        {
            start_of_unclosed = Some(file_line);
        }
    }
    out.push_str(rest);
    let line = start_of_unclosed.unwrap_or_else(|| file_line_of(problem_line));
    (line, out)
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

    #[test]
    fn parser_positions_are_the_documents() {
        // The YAML starts on line 2 of its document (after `---`).
        let at = YamlOrigin {
            first_line: 2,
            indent: 0,
        };
        let (line, msg) = parse_mapping("id: A\ntitle: \"unterminated\nstatus: todo\n", at)
            .expect_err("unterminated string");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("quoted scalar at line 3 column 8"), "{msg}");
        assert!(!msg.contains("line 2 column 8"), "{msg}");
        // Not inside an unclosed string: the line where the parser stopped, shifted.
        let (line, msg) = parse_mapping("id: A\nstatus: todo\n  bad: [x\n", at).expect_err("bad");
        assert!(line >= 3, "{line} {msg}");
        // A task block indented by four columns, its first line the document's 10th.
        let at = YamlOrigin {
            first_line: 10,
            indent: 4,
        };
        let (line, msg) = parse_mapping("id: T\ntitle: [open\n", at).expect_err("flow");
        assert_eq!(line, 11, "{msg}");
        assert!(msg.contains("flow sequence at line 11 column 12"), "{msg}");
    }

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
