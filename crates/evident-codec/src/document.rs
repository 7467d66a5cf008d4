//! Parsing one document into items. A document is an item when its frontmatter names a known
//! kind (a `kind`/`type` field, or a ClearGate `*_id` key); its fenced ```` ```task ```` blocks are
//! items too (a workplan). Documents without frontmatter, or whose frontmatter names no kind,
//! are not items and are skipped silently: a README is not a work item.

use evident_core::config::Config;
use evident_core::item::{FieldLines, Item, Section};
use evident_core::{DiagCode, Diagnostic};
use serde_json::{Map, Value};

use crate::markdown::{fenced_mask, fences, heading, lines, Line};
use crate::yaml::{find_value_span, parse_mapping, StatusSpan, YamlOrigin};

/// An item with what is needed to edit it in place.
#[derive(Debug, Clone)]
pub struct ParsedItem {
    pub item: Item,
    /// Where the status value sits in the document.
    pub status_span: StatusSpan,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedDocument {
    pub items: Vec<ParsedItem>,
    pub diagnostics: Vec<Diagnostic>,
    /// True when the document failed to parse in a way that makes it unsafe to write to.
    pub broken: bool,
}

const STATUS_KEY: &str = "status";

/// The 16-byte digest Evident keeps of a document's bytes (to tell a changed file from a
/// touched one) and of an item's text (its content hash): XXH3-128. Change detection needs no
/// cryptographic strength, and BLAKE3 was 6% of a parse worker's instructions in a first index
/// (XXH3: 2.4M of the 96M instructions of a first index of 1k items less). Stores written with
/// the BLAKE3 digests of earlier releases need nothing: a stored digest that no longer matches
/// only has the document parsed again when it is next read.
pub fn digest(bytes: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(bytes).to_be_bytes()
}

/// A content hash: [`digest`] in lowercase hex.
fn hash(bytes: &[u8]) -> String {
    hex(&digest(bytes))
}

/// [`hash`]'s spelling of a digest computed elsewhere.
fn hex(digest: &[u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// EV118 for a field that must hold one value and holds a list or mapping.
fn not_single_value(path: &str, line: u32, key: &str, id: &str, hint: &str) -> Diagnostic {
    Diagnostic::new(
        DiagCode::InvalidField,
        path,
        line,
        format!("field `{key}` of {id} is not a single value; it is ignored"),
        hint,
    )
    .with_item(id)
}

/// Why an id field that is there yields no id (`None`: it is a usable value, or absent).
fn unusable_id(v: Option<&Value>) -> Option<&'static str> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) if scalar_string(v).is_some() => None,
        Some(Value::String(_)) => Some("is empty"),
        Some(_) => Some("is not a single value"),
    }
}

/// The title written in the item's map: `None` when there is none (the caller falls back to a
/// heading, then the id). A list or mapping is no title: reported, not silently replaced.
fn title_value(
    map: &Map<String, Value>,
    line_of: &dyn Fn(&str) -> u32,
    path: &str,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    match field(map, "title") {
        None | Some(Value::Null) => None,
        Some(v @ Value::String(_)) => scalar_string(v),
        Some(v) => scalar_string(v).or_else(|| {
            diags.push(not_single_value(
                path,
                line_of("title"),
                "title",
                id,
                "write the title as one line of text, e.g. `title: \"Sign in with email\"` (quote it if it holds `[`, `{`, `:` or `#`)",
            ));
            None
        }),
    }
}

fn list_of_strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(vec![]),
        Value::String(s) => Some(
            s.split(',')
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Value::Array(a) => a.iter().map(scalar_string).collect(),
        _ => None,
    }
}

/// The 1-based line of `key` among mapping lines, or `fallback`.
fn key_line(text: &str, ls: &[Line], first: usize, last: usize, key: &str, fallback: u32) -> u32 {
    for (i, l) in ls.iter().enumerate().take(last).skip(first) {
        let s = &text[l.start..l.end];
        let t = s.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with(':') {
            return i as u32 + 1;
        }
    }
    fallback
}

/// The 1-based line of the status value `span` locates; `None` when the item writes no status.
fn status_line(ls: &[Line], span: &StatusSpan) -> Option<u32> {
    let at = match span {
        StatusSpan::Value { start, .. } => *start,
        StatusSpan::Empty { at } => *at,
        StatusSpan::Unsupported { line, .. } => return Some(*line),
        StatusSpan::Missing { .. } => return None,
    };
    Some(ls.partition_point(|l| l.start <= at) as u32)
}

struct Fields {
    priority: Option<String>,
    parent: Option<String>,
    depends_on: Vec<String>,
    lane: Option<String>,
    owner: Option<String>,
    labels: Vec<String>,
    lines: FieldLines,
}

/// The entry of `key`. A frontmatter or task map is small: comparing its keys is cheaper than
/// hashing the key (the map's hasher is SipHash; ~10 lookups a document, most for absent keys,
/// were ~2.5% of a parse worker's instructions in a first index).
fn entry<'a>(map: &'a Map<String, Value>, key: &str) -> Option<(&'a str, &'a Value)> {
    if map.len() <= 16 {
        return map
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(k, v)| (k.as_str(), v));
    }
    map.get_key_value(key).map(|(k, v)| (k.as_str(), v))
}

/// The value of `key` (see [`entry`]).
fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    entry(map, key).map(|(_, v)| v)
}

/// The first of `names` that `map` has.
fn first_field<'a>(map: &'a Map<String, Value>, names: &[String]) -> Option<(&'a str, &'a Value)> {
    names.iter().find_map(|n| entry(map, n))
}

/// The status as written, or empty (the workflow's initial status) when there is none. A list
/// or mapping is no status: reported, not silently taken for the initial one.
fn status_value(
    map: &Map<String, Value>,
    line_of: &dyn Fn(&str) -> u32,
    path: &str,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> String {
    match field(map, STATUS_KEY) {
        None | Some(Value::Null) => String::new(),
        Some(v) => scalar_string(v).unwrap_or_else(|| {
            diags.push(not_single_value(
                path,
                line_of(STATUS_KEY),
                STATUS_KEY,
                id,
                "write the status as one value, e.g. `status: todo`",
            ));
            String::new()
        }),
    }
}

fn extract_fields(
    map: &Map<String, Value>,
    config: &Config,
    line_of: &dyn Fn(&str) -> u32,
    path: &str,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Fields {
    let d = &config.detect;
    let mut invalid = |field: &str, expected: &str| {
        diags.push(
            Diagnostic::new(
                DiagCode::InvalidField,
                path,
                line_of(field),
                format!("field `{field}` of {id} is not {expected}; it is ignored"),
                format!("write `{field}` as {expected}"),
            )
            .with_item(id),
        );
    };
    let list = |names: &[String], invalid: &mut dyn FnMut(&str, &str)| -> Vec<String> {
        match first_field(map, names) {
            None => vec![],
            Some((k, v)) => list_of_strings(v).unwrap_or_else(|| {
                invalid(k, "a list of ids, e.g. [A-1, A-2]");
                vec![]
            }),
        }
    };
    let depends_on = list(&d.depends_fields, &mut invalid);
    let labels = list(&d.label_fields, &mut invalid);
    let mut single = |names: &[String]| -> Option<String> {
        let (k, v) = first_field(map, names)?;
        match v {
            Value::Null => None,
            v => scalar_string(v).or_else(|| {
                if !matches!(v, Value::String(_)) {
                    invalid(k, "a single value");
                }
                None
            }),
        }
    };
    let parent = single(&d.parent_fields);
    // Looked up only where there is a reference to point at.
    let line = |names: &[String], present: bool| {
        present
            .then(|| first_field(map, names).map(|(k, _)| line_of(k)))
            .flatten()
    };
    let lines = FieldLines {
        parent: line(&d.parent_fields, parent.is_some()),
        depends_on: line(&d.depends_fields, !depends_on.is_empty()),
        status: None,
    };
    Fields {
        priority: single(&d.priority_fields),
        parent,
        depends_on,
        lane: single(&d.lane_fields),
        owner: single(&d.owner_fields),
        labels,
        lines,
    }
}

/// The `##` sections among `ls[from..to]`; `skip` marks lines left out of section text (task
/// blocks, which are items of their own).
fn sections(
    text: &str,
    ls: &[Line],
    from: usize,
    to: usize,
    mask: &[bool],
    skip: &[bool],
) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let close = |cur: Option<(String, usize)>, end: usize, out: &mut Vec<Section>| {
        if let Some((name, at)) = cur {
            let mut body = String::new();
            for i in at + 1..end {
                if !skip[i] {
                    body.push_str(&text[ls[i].start..ls[i].end]);
                    body.push('\n');
                }
            }
            out.push(Section {
                name,
                line: at as u32 + 1,
                text: body.trim().to_string(),
            });
        }
    };
    for i in from..to {
        if mask[i] {
            continue;
        }
        if let Some((level, t)) = heading(&text[ls[i].start..ls[i].end]) {
            if level <= 2 {
                close(current.take(), i, &mut out);
                if level == 2 {
                    current = Some((t.to_string(), i));
                }
            }
        }
    }
    close(current, to, &mut out);
    out
}

fn strip_id_prefix(title: &str, id: &str) -> String {
    if let Some(rest) = title.strip_prefix(id) {
        let r = rest.trim_start_matches([':', ' ', '-', '—', '–']);
        if !r.is_empty() && r.len() < rest.len() {
            return r.to_string();
        }
    }
    title.to_string()
}

fn file_stem_id(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let stem = name
        .strip_suffix(".md")
        .or_else(|| name.strip_suffix(".markdown"))
        .unwrap_or(name);
    let id = stem.split('_').next()?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// How far a document is searched for a NUL byte: git's own limit for calling a file binary.
pub const BINARY_PROBE: usize = 8000;

/// Parse `text`, the content of the document at repository-relative `path`. A NUL byte among
/// the first [`BINARY_PROBE`] bytes makes it binary: broken, with an EV102 diagnostic.
pub fn parse_document(path: &str, text: &str, config: &Config) -> ParsedDocument {
    parse_document_digested(path, text, config, None)
}

/// [`parse_document`] for a caller that already hashed the whole text: `digest` is its
/// [`digest`], which is what a one-item document's content hash is made of (an
/// index pass hashes every file it reads, so each such document is hashed once, not twice).
pub fn parse_document_digested(
    path: &str,
    text: &str,
    config: &Config,
    digest: Option<&[u8; 16]>,
) -> ParsedDocument {
    let mut doc = ParsedDocument::default();
    // Valid UTF-8 with a NUL byte is binary all the same (git's test), and no document holds
    // one: such a file is broken, so nothing indexes it and nothing ever writes into it.
    let probe = &text.as_bytes()[..text.len().min(BINARY_PROBE)];
    if let Some(at) = memchr::memchr(0, probe) {
        doc.broken = true;
        doc.diagnostics.push(Diagnostic::new(
            DiagCode::NotUtf8,
            path,
            memchr::memchr_iter(b'\n', &probe[..at]).count() as u32 + 1,
            format!("binary: a NUL byte at offset {at}"),
            "exclude the file if it is not a document, or remove the NUL bytes",
        ));
        return doc;
    }
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let ls = lines(text);
    let Some(first) = ls.first() else { return doc };
    if text[first.start + bom..first.end].trim_end() != "---" {
        return doc;
    }
    let Some(close) = (1..ls.len()).find(|&i| {
        let s = text[ls[i].start..ls[i].end].trim_end();
        s == "---" || s == "..."
    }) else {
        doc.broken = true;
        doc.diagnostics.push(Diagnostic::new(
            DiagCode::MalformedYaml,
            path,
            1,
            "frontmatter opened with `---` is never closed",
            "add a line `---` after the last frontmatter field",
        ));
        return doc;
    };
    let fm_text = &text[ls[0].next..ls[close].start];
    let fm_origin = YamlOrigin {
        first_line: 2,
        indent: 0,
    };
    let map = match parse_mapping(fm_text, fm_origin) {
        Ok(Some(m)) => m,
        Ok(None) => return doc,
        Err((line, msg)) => {
            doc.broken = true;
            doc.diagnostics.push(Diagnostic::new(
                DiagCode::MalformedYaml,
                path,
                line,
                format!("frontmatter is not valid YAML: {msg}"),
                "fix the YAML syntax (check indentation, quoting and `key: value` pairs)",
            ));
            return doc;
        }
    };
    let fm_line = |key: &str| key_line(text, &ls, 1, close, key, 1);

    // Kind and id.
    let d = &config.detect;
    let (kind_raw, mut id, id_key) =
        match d.id_keys.iter().find(|ik| field(&map, &ik.key).is_some()) {
            Some(ik) => (
                Some(ik.kind.clone()),
                field(&map, &ik.key).and_then(scalar_string),
                ik.key.as_str(),
            ),
            None => (
                d.kind_fields
                    .iter()
                    .find_map(|k| field(&map, k).and_then(scalar_string)),
                field(&map, &d.id_field).and_then(scalar_string),
                d.id_field.as_str(),
            ),
        };
    let Some(kind_raw) = kind_raw else { return doc };
    if id.is_none() && d.id_from_filename {
        id = file_stem_id(path);
    }
    let Some(kind) = config.kind(&kind_raw) else {
        if let Some(id) = &id {
            let known: Vec<&str> = config.kinds.keys().map(String::as_str).collect();
            doc.diagnostics.push(
                Diagnostic::new(
                    DiagCode::UnknownKind,
                    path,
                    d.kind_fields
                        .iter()
                        .map(|k| fm_line(k))
                        .find(|&l| l > 1)
                        .unwrap_or(1),
                    format!("{id} has kind `{kind_raw}`, which the configuration does not define"),
                    format!(
                        "{}; or add [kinds.{kind_raw}] to evident.toml",
                        evident_core::suggest::among(&kind_raw, "use one of", &known)
                    ),
                )
                .with_item(id),
            );
        }
        return doc;
    };
    let Some(id) = id else {
        let (line, message, hint) = match unusable_id(field(&map, id_key)) {
            Some(why) => (
                fm_line(id_key),
                format!(
                    "document declares kind `{}` but its `{id_key}` {why}",
                    kind.key
                ),
                format!("write one id there, e.g. `{id_key}: ST-1`"),
            ),
            None => (
                1,
                format!(
                    "document declares kind `{}` but has no `{id_key}`",
                    kind.key
                ),
                format!(
                    "add `{id_key}: <ID>` to the frontmatter (or create items with `evident new`)"
                ),
            ),
        };
        doc.diagnostics.push(Diagnostic::new(
            DiagCode::MissingId,
            path,
            line,
            message,
            hint,
        ));
        return doc;
    };

    let fields = extract_fields(&map, config, &fm_line, path, &id, &mut doc.diagnostics);
    let fence_list = fences(text, &ls, close + 1);
    let mask = fenced_mask(ls.len(), &fence_list);
    let task_fences: Vec<usize> = (0..fence_list.len())
        .filter(|&i| fence_list[i].info == "task")
        .collect();
    let task_mask = fenced_mask(
        ls.len(),
        &task_fences
            .iter()
            .map(|&i| fence_list[i].clone())
            .collect::<Vec<_>>(),
    );
    let title = title_value(&map, &fm_line, path, &id, &mut doc.diagnostics)
        .or_else(|| {
            (close + 1..ls.len()).filter(|&i| !mask[i]).find_map(|i| {
                match heading(&text[ls[i].start..ls[i].end]) {
                    Some((1, t)) => Some(strip_id_prefix(t, &id)),
                    _ => None,
                }
            })
        })
        .unwrap_or_else(|| id.clone());
    let status = status_value(&map, &fm_line, path, &id, &mut doc.diagnostics);
    let span = find_value_span(
        text,
        &ls,
        1,
        close,
        0,
        STATUS_KEY,
        &[id_key, "kind", "type", "title"],
    );
    let item = Item {
        id: id.clone(),
        kind: kind.key.clone(),
        title,
        status,
        priority: fields.priority,
        parent: fields.parent,
        depends_on: fields.depends_on,
        lane: fields.lane,
        owner: fields.owner,
        labels: fields.labels,
        path: path.to_string(),
        line: 1,
        fields: map,
        sections: sections(text, &ls, close + 1, ls.len(), &mask, &task_mask),
        content_hash: digest.map_or_else(|| hash(text.as_bytes()), hex),
        field_lines: FieldLines {
            status: status_line(&ls, &span),
            ..fields.lines
        },
    };
    doc.items.push(ParsedItem {
        item,
        status_span: span,
    });

    // Fenced task blocks: each one an item.
    for (n, &fi) in task_fences.iter().enumerate() {
        let f = &fence_list[fi];
        if f.close >= ls.len() {
            doc.broken = true;
            doc.diagnostics.push(Diagnostic::new(
                DiagCode::MalformedYaml,
                path,
                f.open as u32 + 1,
                "task block is never closed",
                "add a closing fence after the task's fields",
            ));
            continue;
        }
        let content = f.open + 1..f.close;
        let base = content
            .clone()
            .filter_map(|i| {
                let s = &text[ls[i].start..ls[i].end];
                (!s.trim().is_empty()).then(|| s.len() - s.trim_start_matches(' ').len())
            })
            .min()
            .unwrap_or(0);
        let mut yaml = String::with_capacity(ls[f.close].start - ls[f.open].next);
        for i in content.clone() {
            let s = &text[ls[i].start..ls[i].end];
            let cut = s.len() - s.trim_start_matches(' ').len();
            yaml.push_str(&s[cut.min(base)..]);
            yaml.push('\n');
        }
        let fence_line = f.open as u32 + 1;
        let origin = YamlOrigin {
            first_line: fence_line + 1,
            indent: base as u32,
        };
        let tmap = match parse_mapping(&yaml, origin) {
            Ok(Some(m)) => m,
            Ok(None) => {
                doc.diagnostics.push(Diagnostic::new(
                    DiagCode::MissingId,
                    path,
                    fence_line,
                    "task block is empty",
                    format!(
                        "add `{}: <ID>` and `status: ...` inside the block",
                        d.id_field
                    ),
                ));
                continue;
            }
            Err((line, msg)) => {
                doc.broken = true;
                doc.diagnostics.push(Diagnostic::new(
                    DiagCode::MalformedYaml,
                    path,
                    line,
                    format!("task block is not valid YAML: {msg}"),
                    "fix the YAML syntax inside the ```task block",
                ));
                continue;
            }
        };
        let t_line = |key: &str| key_line(text, &ls, content.start, content.end, key, fence_line);
        let Some(tid) = field(&tmap, &d.id_field).and_then(scalar_string) else {
            let example = format!("`{}: {id}-T01` (a unique id)", d.id_field);
            let (line, what, hint) = match unusable_id(field(&tmap, &d.id_field)) {
                Some(why) => (
                    t_line(&d.id_field),
                    format!("has an `{}` that {why}", d.id_field),
                    format!("write one id there, e.g. {example}"),
                ),
                None => (
                    fence_line,
                    format!("has no `{}`", d.id_field),
                    format!("add {example} inside the block"),
                ),
            };
            doc.diagnostics.push(Diagnostic::new(
                DiagCode::MissingId,
                path,
                line,
                format!("task block in {id} {what}"),
                hint,
            ));
            continue;
        };
        let tkind_raw = d
            .kind_fields
            .iter()
            .find_map(|k| field(&tmap, k).and_then(scalar_string))
            .unwrap_or_else(|| d.task_kind.clone());
        let Some(tkind) = config.kind(&tkind_raw) else {
            doc.diagnostics.push(
                Diagnostic::new(
                    DiagCode::UnknownKind,
                    path,
                    fence_line,
                    format!("task {tid} has kind `{tkind_raw}`, which the configuration does not define"),
                    format!("add [kinds.{tkind_raw}] to evident.toml, or set [detect] task_kind"),
                )
                .with_item(&tid),
            );
            continue;
        };
        let tf = extract_fields(&tmap, config, &t_line, path, &tid, &mut doc.diagnostics);
        // The task's body runs to the next heading, the next task block, or the end.
        let next_task = task_fences
            .get(n + 1)
            .map(|&j| fence_list[j].open)
            .unwrap_or(ls.len());
        let body_end = (f.close + 1..next_task)
            .find(|&i| !mask[i] && heading(&text[ls[i].start..ls[i].end]).is_some())
            .unwrap_or(next_task);
        let body_from = ls[f.close].next.min(text.len());
        let body_to = if body_end < ls.len() {
            ls[body_end].start
        } else {
            text.len()
        };
        let body = text[body_from..body_to.max(body_from)].trim();
        let heading_title = (close + 1..f.open)
            .rev()
            .filter(|&i| !mask[i])
            .find_map(|i| heading(&text[ls[i].start..ls[i].end]).map(|(_, t)| t.to_string()));
        let title = title_value(&tmap, &t_line, path, &tid, &mut doc.diagnostics)
            .or(heading_title)
            .map(|t| strip_id_prefix(&t, &tid))
            .unwrap_or_else(|| tid.clone());
        let status = status_value(&tmap, &t_line, path, &tid, &mut doc.diagnostics);
        let span = find_value_span(
            text,
            &ls,
            content.start,
            content.end,
            base,
            STATUS_KEY,
            &[d.id_field.as_str()],
        );
        let item = Item {
            id: tid,
            kind: tkind.key.clone(),
            title,
            status,
            priority: tf.priority,
            parent: tf.parent.or_else(|| Some(id.clone())),
            depends_on: tf.depends_on,
            lane: tf.lane,
            owner: tf.owner,
            labels: tf.labels,
            path: path.to_string(),
            line: fence_line,
            fields: tmap,
            sections: if body.is_empty() {
                vec![]
            } else {
                vec![Section {
                    name: "body".into(),
                    line: f.close as u32 + 2,
                    text: body.to_string(),
                }]
            },
            content_hash: hash(&text.as_bytes()[ls[f.open].start..body_to.max(ls[f.open].start)]),
            field_lines: FieldLines {
                status: status_line(&ls, &span),
                ..tf.lines
            },
        };
        doc.items.push(ParsedItem {
            item,
            status_span: span,
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::config::preset;

    fn cfg(p: &str) -> Config {
        Config::from_toml(preset(p).unwrap()).unwrap()
    }

    /// A digest handed in gives the content hash the parser would have computed itself.
    #[test]
    fn a_given_digest_is_the_content_hash_it_stands_for() {
        let t = "---\nid: ST-1\nkind: story\nstatus: todo\n---\n\n# One\n";
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&super::digest(t.as_bytes()));
        let own = parse_document("a.md", t, &cfg("basic"));
        let given = parse_document_digested("a.md", t, &cfg("basic"), Some(&digest));
        assert_eq!(given.items[0].item, own.items[0].item);
        assert_eq!(hex(&digest), hash(t.as_bytes()));
        assert_eq!(hex(&[0xab; 16]), "ab".repeat(16));
    }

    #[test]
    fn one_item_per_file() {
        let t = "---\nid: ST-1\nkind: story\ntitle: \"Login\"\nstatus: In Progress\npriority: high\ndepends_on: [ST-0]\nlabels: a, b\ncustom: {x: 1}\n---\n\n## Description\nText here.\n\n```md\n## not a section\n```\n\n## Acceptance Criteria\n- [ ] works\n";
        let d = parse_document("work/st-1.md", t, &cfg("basic"));
        assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
        let it = &d.items[0].item;
        assert_eq!(
            (
                it.id.as_str(),
                it.kind.as_str(),
                it.title.as_str(),
                it.status.as_str()
            ),
            ("ST-1", "story", "Login", "In Progress")
        );
        assert_eq!(it.depends_on, vec!["ST-0"]);
        assert_eq!(it.labels, vec!["a", "b"]);
        assert_eq!(it.fields["custom"]["x"], 1);
        let names: Vec<_> = it.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["Description", "Acceptance Criteria"]);
        assert!(it.sections[0].text.contains("## not a section"));
    }

    #[test]
    fn workplan_tasks_are_items() {
        let t = "---\nid: WP-1\ntype: workplan\ntitle: \"Plan\"\nstatus: todo\n---\n\n## Tasks\n\n### T01 — First\n\n```task\nid: WP-1-T01\nstatus: done\npriority: high\n```\n\nDo it.\n\n### T02 — Second\n\n  ```task\n  id: WP-1-T02\n  status: todo\n  depends_on: [WP-1-T01]\n  ```\n";
        let d = parse_document("wp.md", t, &cfg("workplan"));
        assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
        assert_eq!(d.items.len(), 3);
        let t1 = &d.items[1].item;
        assert_eq!(
            (
                t1.id.as_str(),
                t1.title.as_str(),
                t1.status.as_str(),
                t1.line
            ),
            ("WP-1-T01", "T01 — First", "done", 12)
        );
        assert_eq!(t1.parent.as_deref(), Some("WP-1"));
        assert_eq!(t1.sections[0].text, "Do it.");
        let t2 = &d.items[2].item;
        assert_eq!(t2.depends_on, vec!["WP-1-T01"]);
        match d.items[2].status_span {
            StatusSpan::Value { start, end, .. } => assert_eq!(&t[start..end], "todo"),
            ref s => panic!("{s:?}"),
        }
        // Where each status is written, for findings about it.
        let lines: Vec<_> = d.items.iter().map(|p| p.item.field_lines.status).collect();
        assert_eq!(lines, vec![Some(5), Some(14), Some(24)]);
        let none = parse_document(
            "wp.md",
            &t.replace("status: todo\n---", "---"),
            &cfg("workplan"),
        );
        assert_eq!(none.items[0].item.field_lines.status, None);
    }

    #[test]
    fn cleargate_kind_from_key_and_id_from_filename() {
        let t = "---\nstory_id: \"\"\nparent_epic_ref: \"EPIC-001\"\nstatus: \"Ready\"\nambiguity: 🟢 Low\n---\n\n# STORY-001-02: Add login\n";
        let d = parse_document(
            ".cleargate/delivery/pending-sync/STORY-001-02_Add_Login.md",
            t,
            &cfg("cleargate"),
        );
        assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
        let it = &d.items[0].item;
        assert_eq!(
            (it.id.as_str(), it.kind.as_str(), it.title.as_str()),
            ("STORY-001-02", "story", "Add login")
        );
        assert_eq!(it.parent.as_deref(), Some("EPIC-001"));
    }

    #[test]
    fn non_items_are_skipped_silently() {
        let c = cfg("basic");
        for t in [
            "# README\n",
            "---\ntitle: Blog\ntype: post\n---\n",
            "---\n---\nx",
            "",
        ] {
            let d = parse_document("x.md", t, &c);
            assert!(d.items.is_empty() && d.diagnostics.is_empty(), "{t:?}");
        }
    }

    #[test]
    fn bad_documents_are_diagnosed_with_lines() {
        let c = cfg("basic");
        let d = parse_document(
            "a.md",
            "---\nid: A\nkind: story\ntitle: [unclosed\n---\n",
            &c,
        );
        assert_eq!(d.diagnostics[0].code, DiagCode::MalformedYaml);
        assert!(d.broken && d.items.is_empty());
        assert!(d.diagnostics[0].line >= 4, "{:?}", d.diagnostics[0]);
        let d = parse_document("a.md", "---\nid: A\nkind: story\n", &c);
        assert_eq!(d.diagnostics[0].code, DiagCode::MalformedYaml);
        let d = parse_document("a.md", "---\nid: A\nkind: spaceship\n---\n", &c);
        assert_eq!(d.diagnostics[0].code, DiagCode::UnknownKind);
        assert_eq!(d.diagnostics[0].line, 3);
        let d = parse_document("a.md", "---\nkind: story\n---\n", &c);
        assert_eq!(d.diagnostics[0].code, DiagCode::MissingId);
        let d = parse_document("a.md", "---\nid: A\nkind: story\nid: B\n---\n", &c);
        assert_eq!(
            d.diagnostics[0].code,
            DiagCode::MalformedYaml,
            "duplicate keys"
        );
        let d = parse_document(
            "a.md",
            "---\nid: A\nkind: story\ndepends_on: {a: 1}\n---\n",
            &c,
        );
        assert_eq!(d.diagnostics[0].code, DiagCode::InvalidField);
        assert_eq!(d.diagnostics[0].line, 4);
        assert_eq!(d.items.len(), 1);
    }
}
