//! Status writeback: replace exactly the bytes of a status value, keeping the file's spelling
//! style (`in-progress` vs `In Progress`) and quoting. Everything outside the value's span stays
//! byte-identical (invariant I5).

use evident_core::status::SpellingStyle;

use crate::yaml::{Quote, StatusSpan};

/// A byte-range replacement in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEdit {
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the status at line {line} is {reason}, which Evident cannot edit without touching other bytes")]
    Unsupported { line: u32, reason: &'static str },
}

fn plain_is_safe(v: &str) -> bool {
    if v.is_empty() || v.trim() != v || v.contains(": ") || v.contains(" #") || v.contains('\n') {
        return false;
    }
    if v.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c)) {
        return false;
    }
    // YAML 1.1 readers take these as booleans or null.
    let lower = v.to_ascii_lowercase();
    if [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ]
    .contains(&lower.as_str())
    {
        return false;
    }
    matches!(
        serde_yaml::from_str::<serde_yaml::Value>(v),
        Ok(serde_yaml::Value::String(ref s)) if s == v
    )
}

fn double_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unquote(raw: &str, quote: Quote) -> &str {
    match quote {
        Quote::None => raw,
        _ => raw.get(1..raw.len().saturating_sub(1)).unwrap_or(raw),
    }
}

/// A file with no status yet gets the workflow's own spelling: the configured display name
/// when the configuration spelled it (`In Progress`), the key otherwise (`in_progress`).
fn default_spelling(key: &str, display: &str) -> String {
    if display == evident_core::status::display_from_key(key) {
        key.to_string()
    } else {
        display.to_string()
    }
}

/// Plan the edit that sets the status at `span` to the status with canonical `key` and display
/// name `display`.
pub fn render_status_value(
    text: &str,
    span: &StatusSpan,
    key: &str,
    display: &str,
) -> Result<StatusEdit, EditError> {
    match *span {
        StatusSpan::Value { start, end, quote } => {
            let old = unquote(&text[start..end], quote);
            let new = SpellingStyle::detect(old).render(key, display);
            let replacement = match quote {
                Quote::Double => double_quote(&new),
                Quote::Single => format!("'{}'", new.replace('\'', "''")),
                Quote::None if plain_is_safe(&new) => new,
                Quote::None => double_quote(&new),
            };
            Ok(StatusEdit {
                start,
                end,
                replacement,
            })
        }
        StatusSpan::Empty { at } => Ok(StatusEdit {
            start: at,
            end: at,
            replacement: format!(" {}", yaml_scalar(&default_spelling(key, display))),
        }),
        StatusSpan::Missing {
            at,
            indent,
            newline,
        } => Ok(StatusEdit {
            start: at,
            end: at,
            replacement: format!(
                "{}status: {}{newline}",
                " ".repeat(indent),
                yaml_scalar(&default_spelling(key, display))
            ),
        }),
        StatusSpan::Unsupported { line, reason } => Err(EditError::Unsupported { line, reason }),
    }
}

/// Render a string as a YAML scalar: plain when that reads back as the same string, otherwise
/// double-quoted.
pub fn yaml_scalar(v: &str) -> String {
    if plain_is_safe(v) {
        v.to_string()
    } else {
        double_quote(v)
    }
}

/// Apply an edit to the text.
pub fn apply_status_edit(text: &str, edit: &StatusEdit) -> String {
    let mut out = String::with_capacity(text.len() + edit.replacement.len());
    out.push_str(&text[..edit.start]);
    out.push_str(&edit.replacement);
    out.push_str(&text[edit.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::lines;
    use crate::yaml::find_value_span;

    fn set(t: &str, key: &str, display: &str) -> String {
        let ls = lines(t);
        let span = find_value_span(t, &ls, 0, ls.len(), 0, "status", &["id"]);
        let e = render_status_value(t, &span, key, display).unwrap();
        apply_status_edit(t, &e)
    }

    #[test]
    fn keeps_style_and_quotes() {
        assert_eq!(
            set("status: todo # c\n", "in_progress", "In Progress"),
            "status: in_progress # c\n"
        );
        assert_eq!(
            set("status: \"Draft\"\n", "in_review", "In Review"),
            "status: \"In Review\"\n"
        );
        assert_eq!(
            set("status: 'in-review'\n", "done", "Done"),
            "status: 'done'\n"
        );
        assert_eq!(
            set("status: Draft\r\n", "in_review", "In Review"),
            "status: In Review\r\n"
        );
        assert_eq!(set("status: todo\n", "no", "No"), "status: \"no\"\n");
        assert_eq!(
            set("id: A\ntitle: x\n", "done", "Done"),
            "id: A\nstatus: done\ntitle: x\n"
        );
        assert_eq!(
            set("id: A\r\nstatus:\r\n", "done", "Done"),
            "id: A\r\nstatus: done\r\n"
        );
    }
}
