//! A fast path for the YAML Evident reads most: flat `key: scalar` mappings, with quoted
//! strings, comments and one-line flow lists (`[a, b]`). Frontmatter and task blocks are almost
//! always this shape, and a general YAML parser spends most of its time setting itself up for
//! them. Anything outside the subset (nesting, block scalars, anchors, escapes, floats, hex,
//! tabs, duplicate keys...) returns `None` and the caller uses `serde_yaml`, so the result is
//! always what `serde_yaml` would give; a property test checks the two agree.

use serde_json::{Map, Number, Value};

/// Parse `text` if it is a flat mapping in the supported subset.
pub fn parse(text: &str) -> Option<Map<String, Value>> {
    // Sized for a field per line (up to 64): growing the map rehashes it and moves its entries
    // two or three times for a typical frontmatter (~1% of a first index's instructions).
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut map = Map::with_capacity(lines.min(64));
    // One pass over each line's bytes finds its end, its first colon and any tab (searching
    // for each separately was ~5% of a parse worker's instructions).
    let b = text.as_bytes();
    let mut pos = 0;
    while pos <= b.len() {
        let mut end = pos;
        let mut colon = None;
        while end < b.len() && b[end] != b'\n' {
            match b[end] {
                b'\t' => return None,
                b':' if colon.is_none() => colon = Some(end - pos),
                _ => {}
            }
            end += 1;
        }
        let raw = &text[pos..end];
        pos = end + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with("---") || line.starts_with("...") {
            return None;
        }
        let colon = colon?;
        let key = &line[..colon];
        let mut kc = key.chars();
        if !kc
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            || !kc.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        let rest = &line[colon + 1..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let value = value(rest.trim_start_matches(' '))?;
        if map.insert(key.to_string(), value).is_some() {
            return None;
        }
    }
    (!map.is_empty()).then_some(map)
}

/// After a complete value: only blanks and an optional comment may follow.
fn only_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && (rest.is_empty() || rest.starts_with(' ')))
}

fn value(v: &str) -> Option<Value> {
    if v.is_empty() || v.starts_with('#') {
        return Some(Value::Null);
    }
    match v.as_bytes()[0] {
        b'"' => {
            let (s, rest) = double_quoted(v)?;
            only_comment(rest).then_some(Value::String(s))
        }
        b'\'' => {
            let (s, rest) = single_quoted(v)?;
            only_comment(rest).then_some(Value::String(s))
        }
        b'[' => flow_list(v),
        b'{' | b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b'-' | b','
        | b']' | b'}' => None,
        _ => {
            let end = comment_start(v).unwrap_or(v.len());
            let s = v[..end].trim_end_matches(' ');
            if s.contains(": ") || s.ends_with(':') {
                return None;
            }
            plain(s)
        }
    }
}

fn comment_start(v: &str) -> Option<usize> {
    v.as_bytes()
        .windows(2)
        .position(|w| w == b" #")
        .map(|i| i + 1)
}

fn double_quoted(v: &str) -> Option<(String, &str)> {
    let inner = &v[1..];
    let end = inner.find('"')?;
    let s = &inner[..end];
    if s.contains('\\') {
        return None;
    }
    Some((s.to_string(), &inner[end + 1..]))
}

fn single_quoted(v: &str) -> Option<(String, &str)> {
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    let mut start = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                out.push_str(&v[start..=i]);
                i += 2;
                start = i;
                continue;
            }
            out.push_str(&v[start..i]);
            return Some((out, &v[i + 1..]));
        }
        i += 1;
    }
    None
}

fn flow_list(v: &str) -> Option<Value> {
    let close = v.find(']')?;
    if !only_comment(&v[close + 1..]) {
        return None;
    }
    let inner = &v[1..close];
    if inner.contains(['[', '{', '}', '#', '\'']) {
        return None;
    }
    if inner.trim().is_empty() {
        return Some(Value::Array(vec![]));
    }
    let mut out = Vec::new();
    for part in inner.split(',') {
        let p = part.trim_matches(' ');
        if p.is_empty() {
            return None;
        }
        if p.starts_with('"') {
            let (s, rest) = double_quoted(p)?;
            if !rest.is_empty() {
                return None;
            }
            out.push(Value::String(s));
        } else {
            if p.contains(['"', ':', '&', '*', '!', '|', '>', '%', '@', '`', '?'])
                || p.starts_with('-')
            {
                return None;
            }
            out.push(plain(p)?);
        }
    }
    Some(Value::Array(out))
}

fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Resolve a plain scalar the way serde_yaml does, or give up.
fn plain(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if unsigned.starts_with("0x")
        || unsigned.starts_with("0o")
        || unsigned.starts_with("0b")
        || unsigned.starts_with('.')
    {
        return None;
    }
    if digits_but_not_number(s) {
        return Some(Value::String(s.to_string()));
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if let Ok(u) = s.strip_prefix('+').unwrap_or(s).parse::<u64>() {
            if !s[1..].starts_with(['+', '-']) {
                return Some(Value::Number(Number::from(u)));
            }
        }
        if s.starts_with('-') {
            if let Ok(i) = s.parse::<i64>() {
                return Some(Value::Number(Number::from(i)));
            }
        }
        // Floats, and integers too large for 64 bits, are left to serde_yaml.
        if s.parse::<f64>().is_ok()
            || (!unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
    }
    if s.parse::<f64>().is_ok() {
        return None;
    }
    Some(Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yaml(text: &str) -> Option<Map<String, Value>> {
        match serde_yaml::from_str::<serde_yaml::Value>(text) {
            Ok(v) => match crate::yaml::to_json(v) {
                Value::Object(m) => Some(m),
                _ => None,
            },
            Err(_) => None,
        }
    }

    #[test]
    fn common_frontmatter_takes_the_fast_path() {
        let t = "id: ST-1\nkind: story\ntitle: \"Sign in: with email\"\nstatus: In Progress  # note\npriority: 2\ncreated: 2026-03-21\nlabels: [a, \"b c\", 3]\nambiguity: 🟢 Low\nempty:\nq: 'it''s'\n";
        let m = parse(t).expect("fast path");
        assert_eq!(Some(m), yaml(t));
    }

    #[test]
    fn anything_unusual_falls_back() {
        for t in [
            "a:\n  b: 1\n",
            "a: |\n  x\n",
            "a: 1.5\n",
            "a: 0x1F\n",
            "a: \"x\\ty\"\n",
            "a: 1\na: 2\n",
            "a: {b: 1}\n",
            "a:\tb\n",
            "- x\n",
            "a: b: c\n",
            "a: .inf\n",
        ] {
            assert!(parse(t).is_none(), "{t:?}");
        }
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _.,:#'\"\\-+~\\[\\]{}!&*|>@`%?]{0,12}",
            "(-|\\+)?[0-9]{1,25}",
            "(-|\\+)?0[0-9xob]{0,4}",
            "[0-9.eE+-]{1,6}",
            Just("true".to_string()),
            Just("False".into()),
            Just("NULL".into()),
            Just("~".into()),
            Just("yes".into()),
            Just(".inf".into()),
            Just("nan".into()),
            Just("inf".into()),
            Just("2026-03-21".into()),
            Just("🟢 Low".into()),
            "\"[a-z :#',\\\\]{0,8}\"",
            "'[a-z :#\"]{0,8}'",
            "\\[[a-z0-9, \"'-]{0,12}\\]",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Whenever the fast path answers, serde_yaml agrees.
        #[test]
        fn fast_path_agrees_with_serde_yaml(
            pairs in proptest::collection::vec(("[a-z_][a-z0-9_-]{0,6}", scalar(), proptest::option::of("[a-z #]{0,6}")), 1..6)
        ) {
            let mut text = String::new();
            for (k, v, c) in &pairs {
                text.push_str(&format!("{k}: {v}"));
                if let Some(c) = c {
                    text.push_str(&format!(" #{c}"));
                }
                text.push('\n');
            }
            if let Some(fast) = parse(&text) {
                prop_assert_eq!(Some(fast), yaml(&text), "{}", text);
            }
        }

        /// The same with the shapes around the pairs: comment and blank lines, CRLF endings, a
        /// tab somewhere, colons inside values, and a last line without its newline.
        #[test]
        fn fast_path_agrees_with_serde_yaml_around_the_lines(
            lines in proptest::collection::vec(
                prop_oneof![
                    ("[a-z_][a-z0-9_-]{0,6}", scalar()).prop_map(|(k, v)| format!("{k}: {v}")),
                    "[a-z]{1,4}:[a-z: ]{0,6}",
                    "#[a-z :]{0,8}",
                    "[ ]{0,3}",
                    "[a-z]{1,3}: [a-z]{0,3}\t[a-z]{0,3}",
                    "[a-z]{1,4}",
                ],
                1..8,
            ),
            crlf in any::<bool>(),
            last_newline in any::<bool>(),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if last_newline {
                text.push_str(eol);
            }
            if let Some(fast) = parse(&text) {
                prop_assert_eq!(Some(fast), yaml(&text), "{:?}", text);
            }
        }
    }
}
