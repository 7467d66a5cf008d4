//! Evident's document codec. It reads the three document formats (one item per file with YAML
//! frontmatter; workplans with fenced ```` ```task ```` blocks; ClearGate files whose kind comes
//! from an `*_id` key) and keeps the byte span of every status value, so that writing a status
//! back changes exactly those bytes and nothing else (invariant I5). The codec never does I/O:
//! it takes text and returns items, diagnostics and edits.

mod document;
mod edit;
mod flat_yaml;
mod markdown;
mod yaml;

pub use document::{
    digest, parse_document, parse_document_digested, ParsedDocument, ParsedItem, BINARY_PROBE,
};

/// The parser's revision: raised whenever the same bytes and configuration come to parse into
/// something different (2: a NUL byte makes a document binary; 3: a list or mapping given as
/// a status is reported; 4: the lines of `parent` and `depends_on` are kept; 5: a list or
/// mapping given as a title is reported, and an empty or list id at its own line). Index passes
/// record it, with the configuration's parse inputs, and re-parse every document when it
/// changes, so a store never keeps what an older parser made of an unchanged file.
pub const PARSER_REVISION: u32 = 5;
pub use edit::{apply_status_edit, render_status_value, yaml_scalar, EditError, StatusEdit};
pub use yaml::{Quote, StatusSpan};
