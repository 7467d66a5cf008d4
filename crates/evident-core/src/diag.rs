//! Diagnostics: findings about the repository's documents, each with a stable code. A code's
//! meaning never changes once released; `docs/diagnostics.md` documents every one.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Severity {
        match s {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $slug:literal, $sev:ident, $meaning:literal; )*) => {
        /// Stable diagnostic codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DiagCode { $( $variant, )* }

        impl DiagCode {
            pub const ALL: &'static [DiagCode] = &[ $( DiagCode::$variant, )* ];
            /// The stable code, e.g. `EV101`.
            pub fn code(self) -> &'static str { match self { $( DiagCode::$variant => $code, )* } }
            /// A short stable name, e.g. `malformed-yaml`.
            pub fn slug(self) -> &'static str { match self { $( DiagCode::$variant => $slug, )* } }
            pub fn severity(self) -> Severity { match self { $( DiagCode::$variant => Severity::$sev, )* } }
            /// One sentence on what the code means.
            pub fn meaning(self) -> &'static str { match self { $( DiagCode::$variant => $meaning, )* } }
            pub fn from_code(code: &str) -> Option<DiagCode> {
                match code { $( $code => Some(DiagCode::$variant), )* _ => None }
            }
        }
    };
}

codes! {
    MalformedYaml = "EV101", "malformed-yaml", Error,
        "Frontmatter or a task block is not valid YAML, is unterminated, or is not a mapping.";
    NotUtf8 = "EV102", "not-utf8", Error,
        "The file is not UTF-8 text: binary (not valid UTF-8, or a NUL byte, as git judges binary) or another encoding; it is not parsed.";
    TooLarge = "EV103", "file-too-large", Error,
        "The file exceeds [project] max_file_size; it is not read.";
    Unreadable = "EV104", "unreadable", Error,
        "The file or folder could not be read (permissions, a symlink loop, a vanished file).";
    PathEscape = "EV105", "path-escapes-repository", Error,
        "A symlink points outside the repository; Evident never reads through it.";
    MissingId = "EV110", "missing-id", Error,
        "A document declares a kind but no id.";
    DuplicateId = "EV111", "duplicate-id", Error,
        "Two documents declare the same id; the first by path is indexed, the other is not.";
    UnknownKind = "EV112", "unknown-kind", Error,
        "A document declares a kind that the configuration does not define; it is not indexed.";
    UnknownStatus = "EV113", "unknown-status", Error,
        "An item's status is not in its kind's workflow; it is indexed with no rank.";
    DanglingParent = "EV114", "dangling-parent", Warning,
        "An item's parent is not a known item.";
    DanglingDependency = "EV115", "dangling-dependency", Warning,
        "An item depends on an id that is not a known item.";
    DependencyCycle = "EV116", "dependency-cycle", Error,
        "Items depend on each other in a cycle (or are their own ancestors); none of them can become ready.";
    StatusLoweredInFile = "EV117", "status-lowered-in-file", Warning,
        "A file lowers an item's status rank without a reopen; the store keeps the higher status (use `evident reopen`).";
    InvalidField = "EV118", "invalid-field", Warning,
        "A field has the wrong shape (e.g. depends_on is not a list of ids); the value is ignored.";
    NotIndexed = "EV201", "not-indexed", Warning,
        "An item is declared in a document but is not in the store.";
    FileGone = "EV202", "file-gone", Warning,
        "The store holds an item whose document is gone from this checkout.";
    FileAhead = "EV203", "file-ahead", Warning,
        "A document's status is ahead of the store (an edit not yet applied).";
    StoreAhead = "EV204", "store-ahead", Warning,
        "The store's status is ahead of the document: the file is stale, and a regression was prevented.";
    EqualRankConflict = "EV205", "equal-rank-conflict", Warning,
        "The document and the store hold different statuses of equal rank; the store's stands.";
    TransitionNotAllowed = "EV206", "transition-not-allowed", Warning,
        "A document moved an item along a transition its workflow does not allow.";
    BehindUpstream = "EV207", "behind-upstream", Warning,
        "The repository is behind its upstream: `fix` writes nothing here until it is pulled (the pull gate).";
    UncommittedChanges = "EV208", "uncommitted-changes", Warning,
        "A document that needs a status written back has uncommitted changes; writeback skipped.";
    CommitFailed = "EV209", "commit-failed", Error,
        "Writing statuses back succeeded but the git commit failed; the rest of the run carried on.";
    PullFailed = "EV210", "pull-failed", Warning,
        "`fix --pull` could not fast-forward; the fix ran anyway, the pull gate still applies.";
    UnbackedStatus = "EV211", "unbacked-status", Warning,
        "An item holds a status whose enforcing gate it does not meet (the status was edited into a file, or its evidence stopped verifying); meet the gate or reopen.";
}

impl std::fmt::Display for DiagCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One finding, located at `path:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: DiagCode,
    pub severity: Severity,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// 1-based line; 0 when the finding concerns the whole file.
    pub line: u32,
    pub item: Option<String>,
    pub message: String,
    pub hint: String,
}

impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Diagnostic", 8)?;
        st.serialize_field("code", self.code.code())?;
        st.serialize_field("name", self.code.slug())?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("item", &self.item)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("hint", &self.hint)?;
        st.end()
    }
}

impl Diagnostic {
    pub fn new(
        code: DiagCode,
        path: &str,
        line: u32,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            path: path.to_string(),
            line,
            item: None,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn with_item(mut self, id: &str) -> Diagnostic {
        self.item = Some(id.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in DiagCode::ALL {
            assert!(seen.insert(c.code()), "{c}");
            assert_eq!(DiagCode::from_code(c.code()), Some(*c));
            assert!(c.code().starts_with("EV"));
        }
    }
}
