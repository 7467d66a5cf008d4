//! Status spelling. Users write "In Progress", "in_progress" or "in-progress" and mean one
//! status; Evident compares statuses by a canonical key and, when it writes a status back into
//! a file, renders it in the spelling style the file already used.

/// Canonical key of a status or kind spelling: lowercase ASCII/Unicode letters and digits,
/// runs of anything else collapsed to one `_`, trimmed. "Completed (Doc Baseline)" →
/// "completed_doc_baseline".
pub fn canonical_key(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_sep = false;
    for ch in raw.trim().chars() {
        if ch.is_alphanumeric() {
            if pending_sep && !out.is_empty() {
                out.push('_');
            }
            pending_sep = false;
            out.extend(ch.to_lowercase());
        } else {
            pending_sep = true;
        }
    }
    out
}

/// [`canonical_key`], borrowing `raw` when it is canonical already (`in_progress`, `story`,
/// `p1`: lowercase ASCII letters and digits in runs joined by single underscores), which is
/// how most files spell statuses, kinds and priorities: the lookups an index pass makes for
/// every item then allocate nothing.
pub fn canonical_key_cow(raw: &str) -> std::borrow::Cow<'_, str> {
    let b = raw.as_bytes();
    let canonical = !b.is_empty()
        && b[0] != b'_'
        && b[b.len() - 1] != b'_'
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !raw.contains("__");
    if canonical {
        std::borrow::Cow::Borrowed(raw)
    } else {
        std::borrow::Cow::Owned(canonical_key(raw))
    }
}

/// How a status value is spelled in a file, so a rewrite keeps the user's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpellingStyle {
    /// `in_progress`
    Snake,
    /// `in-progress`
    Kebab,
    /// `IN_PROGRESS`
    ScreamingSnake,
    /// `In Progress` (the workflow's display name)
    Display,
    /// `in progress`
    LowerWords,
}

impl SpellingStyle {
    /// Infer the style from an existing value. Single words without separators give no
    /// evidence of a separator, so their case decides between Display and Snake.
    pub fn detect(value: &str) -> SpellingStyle {
        let has_upper = value.chars().any(|c| c.is_uppercase());
        let has_lower = value.chars().any(|c| c.is_lowercase());
        if value.contains(' ') {
            if has_upper {
                SpellingStyle::Display
            } else {
                SpellingStyle::LowerWords
            }
        } else if value.contains('-') && !has_upper {
            SpellingStyle::Kebab
        } else if has_upper && !has_lower {
            SpellingStyle::ScreamingSnake
        } else if has_upper {
            SpellingStyle::Display
        } else {
            SpellingStyle::Snake
        }
    }

    /// Render a status whose canonical key is `key` and display name `display` in this style.
    pub fn render(self, key: &str, display: &str) -> String {
        match self {
            SpellingStyle::Snake => key.to_string(),
            SpellingStyle::Kebab => key.replace('_', "-"),
            SpellingStyle::ScreamingSnake => key.to_uppercase(),
            SpellingStyle::Display => display.to_string(),
            SpellingStyle::LowerWords => key.replace('_', " "),
        }
    }
}

/// Turn a canonical key into a display name: "in_progress" → "In Progress".
pub fn display_from_key(key: &str) -> String {
    key.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The borrowing form gives the same key as the allocating one, whatever the input.
        #[test]
        fn the_borrowed_key_is_the_key(raw in "[a-zA-Z0-9_ ()\\-éÉ]{0,12}") {
            let borrowed = canonical_key_cow(&raw).into_owned();
            proptest::prop_assert_eq!(borrowed, canonical_key(&raw));
        }
    }

    #[test]
    fn already_canonical_spellings_are_borrowed() {
        use std::borrow::Cow;
        for s in ["in_progress", "todo", "p1", "ready_for_signoff"] {
            assert!(matches!(canonical_key_cow(s), Cow::Borrowed(_)), "{s}");
        }
        for s in ["In Progress", "_todo", "todo_", "in__progress", "Todo", ""] {
            assert!(matches!(canonical_key_cow(s), Cow::Owned(_)), "{s}");
        }
    }

    #[test]
    fn spellings_share_one_key() {
        for s in [
            "In Progress",
            "in_progress",
            "in-progress",
            "IN_PROGRESS",
            " in progress ",
        ] {
            assert_eq!(canonical_key(s), "in_progress", "{s}");
        }
        assert_eq!(
            canonical_key("Completed (Doc Baseline)"),
            "completed_doc_baseline"
        );
        assert_eq!(canonical_key("Ready to Bounce"), "ready_to_bounce");
    }

    #[test]
    fn styles_round_trip() {
        let cases = [
            ("in_progress", SpellingStyle::Snake, "done"),
            ("in-progress", SpellingStyle::Kebab, "done"),
            ("In Progress", SpellingStyle::Display, "Done"),
            ("Draft", SpellingStyle::Display, "Done"),
            ("todo", SpellingStyle::Snake, "done"),
            ("TODO", SpellingStyle::ScreamingSnake, "DONE"),
        ];
        for (value, style, done) in cases {
            assert_eq!(SpellingStyle::detect(value), style, "{value}");
            assert_eq!(style.render("done", "Done"), done);
        }
        assert_eq!(
            SpellingStyle::Kebab.render("ready_for_signoff", "Ready for Signoff"),
            "ready-for-signoff"
        );
        assert_eq!(display_from_key("ready_for_signoff"), "Ready For Signoff");
    }
}
