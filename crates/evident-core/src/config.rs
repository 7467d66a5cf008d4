//! Configuration: kinds, workflows, document roots and detection rules. The raw TOML shape
//! (`RawConfig`) is validated into a `Config` whose workflows are ready to use; errors name the
//! line in `evident.toml`. Presets are the TOML files in `presets/`, embedded so `evident init`
//! writes exactly what Evident reads.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::status::{canonical_key, display_from_key};
use crate::workflow::{Workflow, WorkflowError};

/// The presets `evident init --preset` knows, with their TOML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("basic", include_str!("../presets/basic.toml")),
    ("workplan", include_str!("../presets/workplan.toml")),
    ("cleargate", include_str!("../presets/cleargate.toml")),
    ("phases", include_str!("../presets/phases.toml")),
];

/// The built-in defaults, used when a repository has no `evident.toml`.
pub fn default_toml() -> &'static str {
    PRESETS[0].1
}

pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// How `evident new` allocates ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdScheme {
    /// `PREFIX-` plus 8 random Crockford base32 characters: safe across machines.
    Random,
    /// `PREFIX-N`, allocated atomically by the store: safe when every writer shares one store.
    Sequential,
}

impl IdScheme {
    pub fn parse(s: &str) -> Option<IdScheme> {
        match s {
            "random" => Some(IdScheme::Random),
            "sequential" => Some(IdScheme::Sequential),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    #[serde(default = "default_name")]
    name: String,
    #[serde(default = "default_roots")]
    roots: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default = "default_max_size")]
    max_file_size: u64,
    #[serde(default = "default_scheme")]
    id_scheme: IdScheme,
    #[serde(default)]
    store: Option<String>,
    /// More TOML files (relative to evident.toml) holding `[[gates]]` and `[[lanes]]`.
    #[serde(default)]
    gate_files: Vec<String>,
}

/// A file named by `gate_files`: gates and lanes only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateFile {
    #[serde(default)]
    gates: Vec<crate::gate::RawGate>,
    #[serde(default)]
    lanes: Vec<RawLane>,
}

fn default_name() -> String {
    "project".into()
}
fn default_roots() -> Vec<String> {
    vec![".".into()]
}
fn default_max_size() -> u64 {
    1024 * 1024
}
fn default_scheme() -> IdScheme {
    IdScheme::Random
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdKey {
    key: String,
    kind: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    kind_fields: Option<Vec<String>>,
    id_field: Option<String>,
    #[serde(default)]
    id_keys: Vec<RawIdKey>,
    #[serde(default)]
    id_from_filename: bool,
    task_kind: Option<String>,
    parent_fields: Option<Vec<String>>,
    depends_fields: Option<Vec<String>>,
    owner_fields: Option<Vec<String>>,
    label_fields: Option<Vec<String>>,
    priority_fields: Option<Vec<String>>,
    lane_fields: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    name: String,
    rank: i64,
    #[serde(default)]
    terminal: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    initial: Option<String>,
    statuses: Vec<RawStatus>,
    transitions: Option<BTreeMap<String, Vec<String>>>,
    /// Roles that must sign off before an item enters a status: `{ signed_off = ["ops"] }`.
    #[serde(default)]
    signoff: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLane {
    id: String,
    name: Option<String>,
    owner_artifact: Option<String>,
    evidence: Option<crate::evidence::EvidenceSpec>,
    next_action: Option<String>,
    cadence: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    #[serde(default = "default_workflow")]
    workflow: String,
    prefix: Option<String>,
    dir: Option<String>,
    #[serde(default)]
    sections: Vec<String>,
    template: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    id_width: Option<usize>,
    #[serde(default)]
    id_under_parent: bool,
}

fn default_workflow() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: Option<RawProject>,
    #[serde(default)]
    detect: RawDetect,
    #[serde(default)]
    workflows: BTreeMap<String, RawWorkflow>,
    #[serde(default)]
    kinds: BTreeMap<String, RawKind>,
    #[serde(default)]
    gates: Vec<crate::gate::RawGate>,
    #[serde(default)]
    lanes: Vec<RawLane>,
}

/// A flow lane: it is current only with an owner artifact, an evidence source that verifies, a
/// next action, and an update within its cadence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LaneDef {
    pub id: String,
    pub name: String,
    pub owner_artifact: Option<String>,
    pub evidence: Option<crate::evidence::EvidenceSpec>,
    /// An item id or free text.
    pub next_action: Option<String>,
    /// How often the lane must be updated, in seconds (`7d`, `24h`).
    pub cadence_secs: Option<u64>,
    /// The cadence as written.
    pub cadence: Option<String>,
}

/// Parse a duration such as `90s`, `30m`, `12h`, `7d`, `2w`.
pub fn parse_duration_secs(raw: &str) -> Option<u64> {
    let t = raw.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v > 0)
}

/// Project-wide settings.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub roots: Vec<String>,
    pub exclude: Vec<String>,
    pub max_file_size: u64,
    pub id_scheme: IdScheme,
    pub store: Option<String>,
}

/// A ClearGate-style id key: when `key` is present in frontmatter the item is of `kind` and
/// its id is the key's value.
#[derive(Debug, Clone)]
pub struct IdKey {
    pub key: String,
    pub kind: String,
}

/// How items are recognised in documents and which fields carry which meaning.
#[derive(Debug, Clone)]
pub struct Detect {
    pub kind_fields: Vec<String>,
    pub id_field: String,
    pub id_keys: Vec<IdKey>,
    pub id_from_filename: bool,
    pub task_kind: String,
    pub parent_fields: Vec<String>,
    pub depends_fields: Vec<String>,
    pub owner_fields: Vec<String>,
    pub label_fields: Vec<String>,
    /// Where the priority is read from, first present wins (ClearGate bugs and hotfixes carry a
    /// `severity` such as `P1-High` instead).
    pub priority_fields: Vec<String>,
    pub lane_fields: Vec<String>,
}

/// A kind of work item.
#[derive(Debug, Clone)]
pub struct KindDef {
    /// Canonical key (`story`).
    pub key: String,
    pub workflow: String,
    pub prefix: String,
    pub dir: String,
    pub sections: Vec<String>,
    pub template: Option<String>,
    pub id_width: usize,
    /// Number ids within the parent: `PREFIX-<parent's number>-N` (ClearGate's `STORY-007-02`).
    pub id_under_parent: bool,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub project: Project,
    pub detect: Detect,
    pub workflows: BTreeMap<String, Workflow>,
    pub kinds: BTreeMap<String, KindDef>,
    /// Gates from `[[gates]]`, plus one per status a workflow requires sign-offs for.
    pub gates: Vec<crate::gate::GateDef>,
    pub lanes: Vec<LaneDef>,
    /// Every accepted spelling of a kind, by canonical key (FxHash: looked up for every item of
    /// an index pass, and its keys come from the configuration).
    aliases: FxHashMap<String, String>,
}

/// Why a configuration was refused; `line` is 1-based in the TOML text when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration at line {line}: {message}")]
    Toml { line: usize, message: String },
    #[error("invalid configuration: {0}")]
    Workflow(#[from] WorkflowError),
    #[error("invalid configuration: kind `{kind}` uses workflow `{workflow}`, which is not defined under [workflows]")]
    UnknownWorkflow { kind: String, workflow: String },
    #[error("invalid configuration: {0}")]
    Other(String),
    /// A value refused by validation, with where it sits (see [`Place`]).
    #[error("invalid configuration: {message}")]
    At { message: String, place: Place },
    #[error("invalid gate file {file} at line {line}: {message}")]
    Included {
        file: String,
        line: usize,
        message: String,
    },
}

/// Where a value refused by validation sits in the TOML text, so the error can name its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// An entry of an array of tables (`[[gates]]`, `[[lanes]]`) by its `id`: the `nth` entry
    /// with that id (0-based; 1 for "defined twice"), then its `criterion` (by id), then `key`.
    Entry {
        array: &'static str,
        id: String,
        nth: usize,
        criterion: Option<String>,
        key: Option<&'static str>,
    },
    /// A table (`[detect]`, `[workflows.default]`) and, when known, a key inside it.
    Table {
        header: String,
        key: Option<&'static str>,
    },
}

impl Place {
    pub(crate) fn entry(array: &'static str, id: &str) -> Place {
        Place::Entry {
            array,
            id: id.to_string(),
            nth: 0,
            criterion: None,
            key: None,
        }
    }

    pub(crate) fn key(mut self, k: &'static str) -> Place {
        match &mut self {
            Place::Entry { key, .. } | Place::Table { key, .. } => *key = Some(k),
        }
        self
    }

    /// The 1-based line of this place in `text`, when it is there (a gate may come from one of
    /// `[project] gate_files` instead).
    pub fn line_in(&self, text: &str) -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        // Whitespace and quotes do not matter: `id = "x"`, `id="x"`, `{ id = 'x' }`. A line is
        // read as its `key=value` pieces (split at the braces, brackets and commas of inline
        // tables and arrays).
        let norm = |l: &str| -> String {
            let code = l.split('#').next().unwrap_or("");
            code.chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect()
        };
        let pieces = |l: &str| -> Vec<String> {
            norm(l)
                .split(['{', '}', ',', '[', ']'])
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        let has_key = |l: &str, key: &str| {
            let want = format!("{key}=");
            pieces(l).iter().any(|p| p.starts_with(&want))
        };
        let has_id = |l: &str, id: &str| {
            let want = format!("id={id}");
            pieces(l).contains(&want)
        };
        let is_header = |l: &str| l.trim_start().starts_with('[');
        // The lines of a block: from its header to the next header that is not one of its own
        // sub-tables (`[[gates.criteria]]` belongs to the gate above it).
        let block_end = |start: usize, own: &str| {
            (start + 1..lines.len())
                .find(|&i| {
                    let t = norm(lines[i]);
                    is_header(lines[i])
                        && !t.starts_with(&format!("[[{own}."))
                        && !t.starts_with(&format!("[{own}."))
                })
                .unwrap_or(lines.len())
        };
        let find_key =
            |from: usize, to: usize, key: &str| (from..to).find(|&i| has_key(lines[i], key));
        let found = match self {
            Place::Entry {
                array,
                id,
                nth,
                criterion,
                key,
            } => {
                let head = format!("[[{array}]]");
                let mut blocks = (0..lines.len())
                    .filter(|&i| norm(lines[i]) == head)
                    .map(|h| (h, block_end(h, array)))
                    .filter_map(|(h, end)| {
                        (h..end)
                            .find(|&i| has_id(lines[i], id))
                            .map(|at| (h, at, end))
                    });
                let (_, at, end) = blocks.nth(*nth)?;
                let at = match criterion {
                    Some(c) => (at + 1..end).find(|&i| has_id(lines[i], c)).unwrap_or(at),
                    None => at,
                };
                // The key, within the criterion's own line or the rest of the entry.
                match key {
                    Some(k) if has_key(lines[at], k) => Some(at),
                    Some(k) if criterion.is_none() => {
                        let h = (0..at).rev().find(|&i| is_header(lines[i])).unwrap_or(0);
                        find_key(h, end, k).or(Some(at))
                    }
                    _ => Some(at),
                }
            }
            Place::Table { header, key } => {
                let head = format!("[{}]", norm(header));
                let h = (0..lines.len()).find(|&i| norm(lines[i]) == head)?;
                let end = (h + 1..lines.len())
                    .find(|&i| is_header(lines[i]))
                    .unwrap_or(lines.len());
                key.and_then(|k| find_key(h + 1, end, k)).or(Some(h))
            }
        };
        found.map(|i| i + 1)
    }
}

impl ConfigError {
    /// Validation with a message and a place.
    pub(crate) fn at(place: Place, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            message: message.into(),
            place,
        }
    }

    pub fn place(&self) -> Option<&Place> {
        match self {
            ConfigError::At { place, .. } => Some(place),
            _ => None,
        }
    }

    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Toml { line, .. } | ConfigError::Included { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// Where in `text` (the evident.toml the error came from) a validation error lies, 1-based:
    /// the TOML parser's line, or for a workflow or kind that is wrong as a whole, the line of
    /// the status or table at fault, found in the text.
    pub fn line_in(&self, text: &str) -> Option<usize> {
        if let Some(l) = self.line() {
            return Some(l);
        }
        let lines: Vec<&str> = text.lines().collect();
        let header = |table: &str, name: &str| {
            lines.iter().position(|l| {
                let t: String = l
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                t == format!("[{table}.{name}]")
            })
        };
        // The `nth` line at or after `from` that names `status` as a quoted string (in a status
        // definition, `name = "…"`, when `defined`).
        // Spellings count as one status ("Todo", "todo"), as the workflow reads them.
        let quoted = |from: usize, status: &str, defined: bool, nth: usize| {
            let want = canonical_key(status);
            lines
                .iter()
                .enumerate()
                .skip(from)
                .filter(|(_, l)| {
                    (!defined || l.contains("name"))
                        && l.split('"')
                            .skip(1)
                            .step_by(2)
                            .any(|q| canonical_key(q) == want)
                })
                .nth(nth)
                .map(|(i, _)| i)
        };
        let found = match self {
            ConfigError::Workflow(WorkflowError::DuplicateStatus { workflow, status }) => {
                header("workflows", workflow).and_then(|h| quoted(h, status, true, 1))
            }
            ConfigError::Workflow(WorkflowError::UnknownStatus {
                workflow, status, ..
            }) => {
                header("workflows", workflow).and_then(|h| quoted(h, status, false, 0).or(Some(h)))
            }
            ConfigError::Workflow(WorkflowError::Empty { workflow }) => {
                header("workflows", workflow)
            }
            ConfigError::UnknownWorkflow { kind, .. } => header("kinds", kind),
            ConfigError::At { place, .. } => return place.line_in(text),
            _ => None,
        };
        found.map(|i| i + 1)
    }

    /// The gate file the error is in, when it is not evident.toml itself.
    pub fn file(&self) -> Option<&str> {
        match self {
            ConfigError::Included { file, .. } => Some(file),
            _ => None,
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Config {
    /// Parse and validate TOML text (a configuration without `gate_files`).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml_with(text, &|f: &str| {
            Err(format!("cannot read {f}: gate files need a repository"))
        })
    }

    /// Parse and validate TOML text, reading each of `[project] gate_files` with `read`.
    pub fn from_toml_with(
        text: &str,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Config, ConfigError> {
        fn line_of(text: &str, e: &toml::de::Error) -> usize {
            e.span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1)
        }
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            line: line_of(text, &e),
            message: e.message().to_string(),
        })?;
        let files = raw
            .project
            .as_ref()
            .map(|p| p.gate_files.clone())
            .unwrap_or_default();
        let mut included: Vec<(String, String)> = Vec::new();
        for f in files {
            let t = read(&f).map_err(|message| ConfigError::Included {
                file: f.clone(),
                line: 1,
                message,
            })?;
            let extra: RawGateFile = toml::from_str(&t).map_err(|e| ConfigError::Included {
                file: f.clone(),
                line: line_of(&t, &e),
                message: e.message().to_string(),
            })?;
            raw.gates.extend(extra.gates);
            raw.lanes.extend(extra.lanes);
            included.push((f, t));
        }
        Self::from_raw(raw).map_err(|e| match &e {
            // A gate or lane refused by validation that is not in evident.toml is in the gate
            // file that holds it.
            ConfigError::At { message, place } if place.line_in(text).is_none() => included
                .iter()
                .find_map(|(file, t)| {
                    place.line_in(t).map(|line| ConfigError::Included {
                        file: file.clone(),
                        line,
                        message: message.clone(),
                    })
                })
                .unwrap_or(e),
            _ => e,
        })
    }

    fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let p = raw.project.unwrap_or(RawProject {
            name: default_name(),
            roots: default_roots(),
            exclude: vec![],
            max_file_size: default_max_size(),
            id_scheme: default_scheme(),
            store: None,
            gate_files: vec![],
        });
        if p.roots.is_empty() {
            return Err(ConfigError::at(
                Place::Table {
                    header: "project".into(),
                    key: Some("roots"),
                },
                "[project] roots is empty; list at least one folder, e.g. roots = [\".\"]",
            ));
        }
        let d = raw.detect;
        let detect = Detect {
            kind_fields: d.kind_fields.unwrap_or_else(|| strings(&["kind", "type"])),
            id_field: d.id_field.unwrap_or_else(|| "id".into()),
            id_keys: d
                .id_keys
                .into_iter()
                .map(|k| IdKey {
                    key: k.key,
                    kind: canonical_key(&k.kind),
                })
                .collect(),
            id_from_filename: d.id_from_filename,
            task_kind: canonical_key(&d.task_kind.unwrap_or_else(|| "task".into())),
            parent_fields: d.parent_fields.unwrap_or_else(|| strings(&["parent"])),
            depends_fields: d
                .depends_fields
                .unwrap_or_else(|| strings(&["depends_on", "dependencies"])),
            owner_fields: d
                .owner_fields
                .unwrap_or_else(|| strings(&["owner", "assignee"])),
            label_fields: d
                .label_fields
                .unwrap_or_else(|| strings(&["labels", "tags"])),
            priority_fields: d.priority_fields.unwrap_or_else(|| strings(&["priority"])),
            lane_fields: d.lane_fields.unwrap_or_else(|| strings(&["lane"])),
        };
        let mut workflows = BTreeMap::new();
        let mut signoffs: Vec<(String, String, Vec<String>)> = Vec::new();
        for (name, w) in raw.workflows {
            for (status, roles) in &w.signoff {
                signoffs.push((name.clone(), status.clone(), roles.clone()));
            }
            let statuses = w
                .statuses
                .into_iter()
                .map(|s| (s.name, s.rank, s.terminal))
                .collect();
            let wf = Workflow::new(&name, statuses, w.transitions, w.initial.as_deref())?;
            workflows.insert(name, wf);
        }
        if raw.kinds.is_empty() {
            return Err(ConfigError::Other(
                "no kinds are defined; add a [kinds.NAME] table (see `evident init --help`)".into(),
            ));
        }
        let mut kinds = BTreeMap::new();
        let mut aliases = FxHashMap::default();
        for (name, k) in raw.kinds {
            let key = canonical_key(&name);
            if !workflows.contains_key(&k.workflow) {
                return Err(ConfigError::UnknownWorkflow {
                    kind: name,
                    workflow: k.workflow,
                });
            }
            for a in &k.aliases {
                aliases.insert(canonical_key(a), key.clone());
            }
            aliases.insert(key.clone(), key.clone());
            let prefix = k
                .prefix
                .unwrap_or_else(|| display_from_key(&key).to_uppercase().replace(' ', ""));
            kinds.insert(
                key.clone(),
                KindDef {
                    dir: k.dir.unwrap_or_else(|| format!("work/{key}")),
                    key,
                    workflow: k.workflow,
                    prefix,
                    sections: k.sections,
                    template: k.template,
                    id_width: k.id_width.unwrap_or(0),
                    id_under_parent: k.id_under_parent,
                },
            );
        }
        for ik in &detect.id_keys {
            if !kinds.contains_key(&ik.kind) {
                return Err(ConfigError::at(
                    Place::Table {
                        header: "detect".into(),
                        key: Some("id_keys"),
                    },
                    format!(
                        "[detect] id_keys maps `{}` to kind `{}`, which is not defined under [kinds]",
                        ik.key, ik.kind
                    ),
                ));
            }
        }
        let kind_of = |k: &str| -> Option<String> {
            let key = canonical_key(k);
            aliases.get(&key).cloned()
        };
        let status_of = |kind: &str, s: &str| -> Option<String> {
            let k = kinds.get(kind)?;
            workflows.get(&k.workflow)?.status(s).map(|d| d.key.clone())
        };
        let mut gates = crate::gate::validate(raw.gates, &kind_of, &status_of)?;
        // A workflow's sign-off requirement is a gate on every kind that uses the workflow.
        for (wf, status, roles) in signoffs {
            let w = &workflows[&wf];
            let at = || Place::Table {
                header: format!("workflows.{wf}.signoff"),
                key: None,
            };
            let st = w.status(&status).ok_or_else(|| {
                ConfigError::at(
                    at(),
                    format!(
                        "workflow `{wf}` requires sign-offs for `{status}`, which is not one of its statuses"
                    ),
                )
            })?;
            if roles.is_empty() {
                return Err(ConfigError::at(
                    at(),
                    format!("workflow `{wf}`: signoff for `{status}` lists no roles"),
                ));
            }
            for k in kinds.values().filter(|k| k.workflow == wf) {
                gates.push(crate::gate::GateDef {
                    id: format!("signoff-{}-{}", k.key, st.key.replace('_', "-")),
                    kind: k.key.clone(),
                    into: vec![st.key.clone()],
                    severity: crate::gate::Severity::Enforcing,
                    criteria: vec![crate::gate::Criterion {
                        id: "signoffs".into(),
                        category: "signoff".into(),
                        predicate: crate::gate::Predicate::Signoffs {
                            roles: roles.clone(),
                        },
                        hint: Some(format!(
                            "each role signs with `evident signoff ID --role ROLE`: {}",
                            roles.join(", ")
                        )),
                    }],
                });
            }
        }
        let mut lanes: Vec<LaneDef> = Vec::new();
        for l in raw.lanes {
            let place = || Place::entry("lanes", &l.id);
            if lanes.iter().any(|o| o.id == l.id) {
                let mut twice = place();
                if let Place::Entry { nth, .. } = &mut twice {
                    *nth = 1;
                }
                return Err(ConfigError::at(
                    twice,
                    format!("lane `{}` is defined twice", l.id),
                ));
            }
            if let Some(e) = &l.evidence {
                e.validate().map_err(|m| {
                    ConfigError::at(place().key("evidence"), format!("lane `{}`: {m}", l.id))
                })?;
            }
            let cadence_secs = match &l.cadence {
                None => None,
                Some(c) => Some(parse_duration_secs(c).ok_or_else(|| {
                    ConfigError::at(
                        place().key("cadence"),
                        format!(
                            "lane `{}`: cadence `{c}` is not a duration; write it like 7d, 24h or 2w",
                            l.id
                        ),
                    )
                })?),
            };
            lanes.push(LaneDef {
                name: l.name.unwrap_or_else(|| l.id.clone()),
                id: l.id,
                owner_artifact: l.owner_artifact,
                evidence: l.evidence,
                next_action: l.next_action,
                cadence_secs,
                cadence: l.cadence,
            });
        }
        Ok(Config {
            gates,
            lanes,
            project: Project {
                name: p.name,
                roots: p.roots,
                exclude: p.exclude,
                max_file_size: p.max_file_size,
                id_scheme: p.id_scheme,
                store: p.store,
            },
            detect,
            workflows,
            kinds,
            aliases,
        })
    }

    /// Everything in this configuration that decides what a document indexes into (the size
    /// limit, detection rules, kinds and their spellings, statuses with their ranks), as one
    /// canonical text. An index pass records a hash of it and re-parses every document when it
    /// changes, so an edit to `evident.toml` (a kind added, a status renamed) takes effect at
    /// once instead of when each document next changes. Transitions, gates and lanes are left
    /// out: they never change what a document parses into. The text follows the types' `Debug`
    /// form, so a build that changes those types re-parses once, which is only ever safe.
    pub fn parse_inputs(&self) -> String {
        let mut aliases: Vec<(&String, &String)> = self.aliases.iter().collect();
        aliases.sort();
        let workflows: Vec<(&String, &String, &Vec<crate::workflow::StatusDef>)> = self
            .workflows
            .values()
            .map(|w| (&w.name, &w.initial, &w.statuses))
            .collect();
        format!(
            "max_file_size={}\n{:?}\n{:?}\n{aliases:?}\n{workflows:?}",
            self.project.max_file_size, self.detect, self.kinds
        )
    }

    /// Resolve a kind spelling (or alias) to its definition.
    pub fn kind(&self, spelling: &str) -> Option<&KindDef> {
        self.aliases
            .get(crate::status::canonical_key_cow(spelling).as_ref())
            .and_then(|k| self.kinds.get(k))
    }

    /// The gates guarding entry into `status` for `kind` (canonical keys).
    pub fn gates_into<'a>(
        &'a self,
        kind: &'a str,
        status: &'a str,
    ) -> impl Iterator<Item = &'a crate::gate::GateDef> + 'a {
        self.gates
            .iter()
            .filter(move |g| g.kind == kind && g.into.iter().any(|s| s == status))
    }

    /// How the configuration spells a kind's status (`Ready to Bounce` for the key
    /// `ready_to_bounce`), for human output; the key itself when either is unknown.
    pub fn status_label<'a>(&'a self, kind: &str, key: &'a str) -> &'a str {
        self.kind(kind)
            .and_then(|k| self.workflow_of(k).status(key))
            .map_or(key, |s| s.label.as_str())
    }

    /// The workflow of a kind.
    pub fn workflow_of(&self, kind: &KindDef) -> &Workflow {
        // Validated in `from_raw`: every kind's workflow exists.
        &self.workflows[&kind.workflow]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_name_their_line() {
        let base = preset("basic").unwrap();
        let line_of = |text: &str| -> Option<usize> {
            let e = Config::from_toml(text).expect_err("refused");
            e.line_in(text)
        };
        let find = |text: &str, needle: &str, nth: usize| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains(needle))
                .nth(nth)
                .map(|(i, _)| i + 1)
        };
        // A status listed twice: the second listing.
        let dup = base.replacen(
            "{ name = \"done\"",
            "{ name = \"todo\", rank = 5 },\n  { name = \"done\"",
            1,
        );
        assert_eq!(line_of(&dup), find(&dup, "\"todo\"", 2));
        assert!(line_of(&dup).unwrap() > 1);
        let spelled = base.replacen(
            "{ name = \"done\"",
            "{ name = \"ToDo\", rank = 5 },\n  { name = \"done\"",
            1,
        );
        assert_eq!(line_of(&spelled), find(&spelled, "\"ToDo\"", 0));
        // A kind naming a workflow that does not exist: the kind's table.
        let unknown = base.replacen("[kinds.story]", "[kinds.story]\nworkflow = \"nope\"", 1);
        assert_eq!(line_of(&unknown), find(&unknown, "[kinds.story]", 0));
        // A TOML syntax error keeps the parser's line.
        assert_eq!(line_of("[project]\nname = \n"), Some(2));
    }

    #[test]
    fn gate_and_lane_errors_name_the_line_of_the_value() {
        let base = preset("workplan").unwrap();
        let with = |extra: &str| format!("{base}\n{extra}");
        let check = |text: &str, needle: &str, nth: usize| {
            let e = Config::from_toml(text).expect_err("refused");
            let want = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(needle))
                .nth(nth)
                .map(|(i, _)| i + 1);
            assert!(want.is_some(), "{needle} not in the text");
            assert_eq!(e.line_in(text), want, "{e}");
        };
        let lane = "[[lanes]]\nid = \"ok\"\ncadence = \"1d\"\n\n[[lanes]]\nid = 'rel'\nowner_artifact = \"a.md\"\ncadence = \"banana\"\n";
        check(&with(lane), "banana", 0);
        let twice = "[[lanes]]\nid = \"rel\"\n[[lanes]]\nid = \"other\"\n[[lanes]]\nid = \"rel\"\n";
        check(&with(twice), "\"rel\"", 1);
        let evidence = "[[lanes]]\nid = \"rel\"\nevidence = { kind = \"nope\" }\n";
        check(&with(evidence), "evidence =", 0);
        let gate = |criteria: &str| {
            with(&format!(
                "[[gates]]\nid = \"g1\"\nkind = \"task\"\ninto = [\"done\"]\ncriteria = [{{ id = \"c1\", section = \"Description\" }}]\n\n[[gates]]\nid = \"g2\"\nkind = \"task\"\ninto = [\"done\"]\n{criteria}"
            ))
        };
        // A criterion written inline, and as a sub-table; an id is matched whole (`c1` is not
        // `c10`).
        check(
            &gate("criteria = [\n  { id = \"c10\", section = \"Description\" },\n  { id = \"c1\", field = \"owner\" },\n]\n"),
            "id = \"c1\",",
            1,
        );
        check(
            &gate("[[gates.criteria]]\nid = \"c1\"\nsection = \"Description\"\n\n[[gates.criteria]]\nid = \"c2\"\nmin = 3\n"),
            "\"c2\"",
            0,
        );
        // The key of the gate at fault, not the same key of the gate before it.
        let status = gate("criteria = [{ id = \"c1\", section = \"Description\" }]\n")
            .replacen(
                "into = [\"done\"]\ncriteria",
                "into = [\"finished\"]\ncriteria",
                2,
            )
            .replacen("into = [\"finished\"]", "into = [\"done\"]", 1);
        check(&status, "finished", 0);
        let kind = with("[[gates]]\nid = \"g\"\nkind = \"nope\"\ninto = [\"done\"]\ncriteria = [{ id = \"c\", section = \"S\" }]\n");
        check(&kind, "\"nope\"", 0);
        // A table's key.
        let roots = base.replacen("roots = [\".\"]", "roots = []", 1);
        check(&roots, "roots = []", 0);
    }

    #[test]
    fn every_preset_is_valid() {
        for (name, text) in PRESETS {
            let c = Config::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!c.kinds.is_empty(), "{name}");
        }
    }

    #[test]
    fn workplan_preset_ranks_match_the_reference() {
        let c = Config::from_toml(preset("workplan").unwrap()).unwrap();
        let w = &c.workflows["default"];
        let ranks: Vec<_> = ["todo", "in_progress", "blocked", "done", "cancelled"]
            .iter()
            .map(|s| w.status(s).unwrap().rank)
            .collect();
        assert_eq!(ranks, vec![0, 1, 1, 2, 2]);
    }

    #[test]
    fn cleargate_preset_knows_every_kind_and_the_loop() {
        let c = Config::from_toml(preset("cleargate").unwrap()).unwrap();
        for k in [
            "initiative",
            "epic",
            "story",
            "cr",
            "bug",
            "hotfix",
            "sprint",
        ] {
            assert!(c.kind(k).is_some(), "{k}");
        }
        let l = &c.workflows["story_loop"];
        for s in [
            "Ready to Bounce",
            "Bouncing",
            "QA Passed",
            "Architect Passed",
            "Sprint Review",
            "Done",
            "Escalated",
            "Parking Lot",
        ] {
            assert!(l.status(s).is_some(), "{s}");
        }
        let a = &c.workflows["artifact"];
        for t in [
            "Completed",
            "Done",
            "Verified",
            "Abandoned",
            "Closed",
            "Resolved",
        ] {
            assert!(a.status(t).unwrap().terminal, "{t}");
        }
    }

    #[test]
    fn gate_files_add_gates_and_name_their_own_lines() {
        let main = preset("basic").unwrap().replacen(
            "id_scheme = \"random\"",
            "id_scheme = \"random\"\ngate_files = [\"gates/extra.toml\"]",
            1,
        );
        let ok = |_: &str| -> Result<String, String> {
            Ok("[[gates]]\nid = \"extra\"\nkind = \"bug\"\ninto = [\"done\"]\n[[gates.criteria]]\nid = \"sev\"\nfield = \"severity\"\nset = true\n".into())
        };
        let c = Config::from_toml_with(&main, &ok).unwrap_or_else(|e| panic!("{e}\n{main}"));
        assert!(c.gates.iter().any(|g| g.id == "extra"));
        let bad = |_: &str| -> Result<String, String> { Ok("[[gates]]\nid = 1\n".into()) };
        let e = Config::from_toml_with(&main, &bad).unwrap_err();
        assert_eq!(
            (e.file(), e.line()),
            (Some("gates/extra.toml"), Some(2)),
            "{e}"
        );
        let missing = |f: &str| -> Result<String, String> { Err(format!("{f} does not exist")) };
        let e = Config::from_toml_with(&main, &missing).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::from_toml("[project]\nname = 1\n").unwrap_err();
        assert_eq!(e.line(), Some(2), "{e}");
        let e = Config::from_toml("[kinds.story]\nworkflow = \"nope\"\n").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownWorkflow { .. }), "{e}");
        let e = Config::from_toml("[project]\nroots = [\".\"]\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line(), Some(3), "{e}");
    }
}
