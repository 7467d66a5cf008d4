//! Evidence declarations: typed references an item cites for its claims. This module only reads
//! and validates declarations (from frontmatter `evidence:` lists, `evident evidence add`, or a
//! lane in `evident.toml`); the engine verifies them against the repository.

use serde::{Deserialize, Serialize};

/// The evidence kinds Evident knows.
pub const KINDS: &[&str] = &["doc", "contract", "code", "test", "artifact", "ci", "url"];

/// One declared piece of evidence. Which fields matter depends on `kind`:
/// - `doc`: `path`;
/// - `contract`: `path` plus `heading`, or `path` plus an OpenAPI `operation` (`api_path` and
///   `method`);
/// - `code`: `commit`, or `path` (present at HEAD);
/// - `test`: `report` (JUnit XML, TAP, or libtest/nextest JSON lines) and `test` (its name);
/// - `artifact`: `path` and `sha256`;
/// - `ci`: `provider`, `run_id`, `status`, `url`;
/// - `url`: `url` (recorded, never verified).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSpec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl EvidenceSpec {
    /// Check the declaration is complete for its kind; the message says what is missing.
    pub fn validate(&self) -> Result<(), String> {
        let need = |v: &Option<String>, name: &str| -> Result<(), String> {
            match v {
                Some(s) if !s.trim().is_empty() => Ok(()),
                _ => Err(format!("`{}` evidence needs `{name}`", self.kind)),
            }
        };
        // A URL, where one is given, must be one: it is what a reader follows to the evidence.
        if let Some(u) = self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            if !looks_like_url(u) {
                return Err(format!(
                    "`{}` evidence url `{u}` is not a URL (expected e.g. https://ci.example.com/runs/42)",
                    self.kind
                ));
            }
        }
        match self.kind.as_str() {
            "doc" => need(&self.path, "path"),
            "contract" => {
                need(&self.path, "path")?;
                match (&self.heading, &self.api_path, &self.method) {
                    (Some(_), None, None) => Ok(()),
                    (None, Some(_), Some(_)) => Ok(()),
                    _ => Err("`contract` evidence needs `heading`, or `api_path` and `method` (an OpenAPI operation)".into()),
                }
            }
            "code" => match (&self.commit, &self.path) {
                (Some(_), None) | (None, Some(_)) => Ok(()),
                _ => Err("`code` evidence needs `commit` or `path` (one of them)".into()),
            },
            "test" => {
                need(&self.report, "report")?;
                need(&self.test, "test")
            }
            "artifact" => {
                need(&self.path, "path")?;
                need(&self.sha256, "sha256")?;
                let s = self.sha256.as_deref().unwrap_or_default();
                if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("`artifact` sha256 `{s}` is not 64 hex digits"));
                }
                Ok(())
            }
            "ci" => {
                need(&self.provider, "provider")?;
                need(&self.run_id, "run_id")?;
                need(&self.status, "status")
            }
            "url" => need(&self.url, "url"),
            other => Err(format!(
                "evidence kind `{other}` is unknown; {}",
                crate::suggest::among(other, "use one of", KINDS)
            )),
        }
    }

    /// Parse one declaration from a frontmatter value.
    pub fn from_json(v: &serde_json::Value) -> Result<EvidenceSpec, String> {
        let spec: EvidenceSpec = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    /// The paths this declaration reads (for fingerprints and the escape check).
    pub fn paths(&self) -> Vec<&str> {
        [self.path.as_deref(), self.report.as_deref()]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// `scheme://rest`: a scheme (a letter, then letters, digits, `+`, `-` or `.`), then a
/// non-empty rest without spaces or control characters.
fn looks_like_url(u: &str) -> bool {
    let Some((scheme, rest)) = u.split_once("://") else {
        return false;
    };
    let mut c = scheme.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest.chars().any(|x| x.is_whitespace() || x.is_control())
}

/// The declarations in an item's `evidence` field: (entry, or why it is not usable).
pub fn declared(
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Result<EvidenceSpec, String>> {
    match fields.get("evidence") {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Array(a)) => a.iter().map(EvidenceSpec::from_json).collect(),
        Some(_) => vec![Err(
            "`evidence` must be a list of {kind: ..., ...} entries".into()
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_checked_for_their_kind() {
        let ok = serde_json::json!({"kind": "test", "report": "r.xml", "test": "a::b"});
        assert!(EvidenceSpec::from_json(&ok).is_ok());
        for url in [
            "https://ci.example.com/runs/42?x=1#y",
            "git+ssh://h/r",
            "s3://b/k",
        ] {
            let ok = serde_json::json!({"kind": "url", "url": url});
            assert!(EvidenceSpec::from_json(&ok).is_ok(), "{url}");
        }
        for (bad, needle) in [
            (
                serde_json::json!({"kind": "test", "report": "r.xml"}),
                "needs `test`",
            ),
            (
                serde_json::json!({"kind": "artifact", "path": "a", "sha256": "xyz"}),
                "64 hex",
            ),
            (
                serde_json::json!({"kind": "contract", "path": "a.yaml"}),
                "heading",
            ),
            (
                serde_json::json!({"kind": "code", "commit": "abc", "path": "x"}),
                "one of them",
            ),
            (serde_json::json!({"kind": "video"}), "unknown"),
            (
                serde_json::json!({"kind": "url", "url": "not a url"}),
                "is not a URL",
            ),
            (
                serde_json::json!({"kind": "url", "url": "https://"}),
                "is not a URL",
            ),
            (
                serde_json::json!({"kind": "ci", "provider": "gh", "run_id": "1", "status": "passed", "url": "ci/1"}),
                "is not a URL",
            ),
            (
                serde_json::json!({"kind": "doc", "pth": "x"}),
                "unknown field",
            ),
        ] {
            let e = EvidenceSpec::from_json(&bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
