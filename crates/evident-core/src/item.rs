//! A work item as the codec reads it from a document and the store indexes it.

use serde::Serialize;

/// A named `##` section of an item's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub name: String,
    /// 1-based line of the heading in the file.
    pub line: u32,
    pub text: String,
}

/// One work item, as declared in a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: String,
    /// Canonical kind key.
    pub kind: String,
    pub title: String,
    /// Status as spelled in the file (resolved against the workflow by the engine).
    pub status: String,
    pub priority: Option<String>,
    pub parent: Option<String>,
    pub depends_on: Vec<String>,
    pub lane: Option<String>,
    pub owner: Option<String>,
    pub labels: Vec<String>,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// 1-based line where the item starts (frontmatter opening or task fence).
    pub line: u32,
    /// Every frontmatter / task-block field, known or not, in document order.
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub sections: Vec<Section>,
    /// Hash of the item's own bytes (its frontmatter or block plus body).
    pub content_hash: String,
    /// Where the graph fields are written, so a dangling reference points at its own line.
    #[serde(skip)]
    pub field_lines: FieldLines,
}

impl Item {
    /// Where a finding about the status this item's document carries points: the line of the
    /// status value, or the item's own line where the document writes none.
    pub fn status_line(&self) -> u32 {
        self.field_lines.status.unwrap_or(self.line)
    }
}

/// 1-based lines of an item's `parent` and `depends_on` fields; `None` where the field is not
/// written out (a task's parent is its workplan). And of its status value, as parsed (not
/// stored: findings about the status a document carries are made while it is indexed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldLines {
    pub parent: Option<u32>,
    pub depends_on: Option<u32>,
    pub status: Option<u32>,
}
