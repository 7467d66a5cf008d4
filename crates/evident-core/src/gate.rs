//! Gates: named criteria an item must meet to enter a status. Definitions come from
//! `evident.toml` (`[[gates]]`), are validated into [`GateDef`]s, and are evaluated here as pure
//! functions of what the engine gathered (fields, sections, body, children, dependencies,
//! verified evidence, sign-offs). No I/O: the engine verifies evidence and caches results.
//!
//! A predicate never claims more than it checked: a section "has 2 checkboxes" counts real
//! checkbox lines inside that section, and "no TBD" looks for the marker in a syntactic role
//! (`TBD:`, `(TBD)`, `[TBD]`, a line that is just `TBD`), not for the letters anywhere.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Place};
use crate::item::Section;
use crate::status::canonical_key;

/// How a failing gate is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failure refuses the move (unless `--force --reason`) and exits 1.
    Enforcing,
    /// A failure is reported as a warning; the move goes ahead.
    Advisory,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Enforcing => "enforcing",
            Severity::Advisory => "advisory",
        }
    }
}

/// What a section predicate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    /// List items (checkboxes included) and table rows.
    Items,
    Checkboxes,
    Checked,
    Unchecked,
    ListItems,
    TableRows,
}

/// A comparison on a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "test", content = "value")]
pub enum FieldTest {
    Set,
    Equals(String),
    OneOf(Vec<String>),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
}

/// One checkable statement about an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "predicate")]
pub enum Predicate {
    Field {
        field: String,
        test: FieldTest,
    },
    Section {
        section: String,
        min: usize,
        count: Count,
    },
    BodyContains {
        text: String,
    },
    BodyNotContains {
        text: String,
    },
    NoMarkers {
        markers: Vec<String>,
    },
    ChildrenTerminal,
    DependenciesDone,
    Evidence {
        kind: String,
        min: usize,
    },
    Signoffs {
        roles: Vec<String>,
    },
    /// Passes when any alternative passes (an OR-group).
    Any {
        any: Vec<Predicate>,
    },
}

/// A criterion: a predicate with a stable id, a category and a fix hint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    pub id: String,
    pub category: String,
    pub predicate: Predicate,
    pub hint: Option<String>,
}

/// A gate: the criteria an item of `kind` must meet to enter any of `into`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDef {
    pub id: String,
    pub kind: String,
    /// Canonical status keys this gate guards.
    pub into: Vec<String>,
    pub severity: Severity,
    pub criteria: Vec<Criterion>,
}

// ---------------------------------------------------------------------------------------------
// raw TOML shape

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGate {
    id: String,
    kind: String,
    into: Vec<String>,
    #[serde(default = "enforcing")]
    severity: Severity,
    criteria: Vec<RawCriterion>,
}

fn enforcing() -> Severity {
    Severity::Enforcing
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPredicate {
    field: Option<String>,
    set: Option<bool>,
    equals: Option<toml::Value>,
    one_of: Option<Vec<toml::Value>>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    section: Option<String>,
    min: Option<usize>,
    count: Option<Count>,
    body_contains: Option<String>,
    body_not_contains: Option<String>,
    no_markers: Option<Vec<String>>,
    children_terminal: Option<bool>,
    dependencies_done: Option<bool>,
    evidence: Option<String>,
    signoffs: Option<Vec<String>>,
    any: Option<Vec<RawPredicate>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCriterion {
    id: String,
    category: Option<String>,
    hint: Option<String>,
    #[serde(flatten)]
    predicate: RawPredicate,
}

fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn predicate(p: RawPredicate, at: &str) -> Result<Predicate, String> {
    let mut found: Vec<Predicate> = Vec::new();
    if let Some(field) = p.field.clone() {
        let mut tests = Vec::new();
        if p.set == Some(true) {
            tests.push(FieldTest::Set);
        }
        if let Some(v) = &p.equals {
            tests.push(FieldTest::Equals(scalar(v)));
        }
        if let Some(v) = &p.one_of {
            tests.push(FieldTest::OneOf(v.iter().map(scalar).collect()));
        }
        for (v, f) in [
            (p.gt, FieldTest::Gt as fn(f64) -> FieldTest),
            (p.gte, FieldTest::Gte),
            (p.lt, FieldTest::Lt),
            (p.lte, FieldTest::Lte),
        ] {
            if let Some(v) = v {
                tests.push(f(v));
            }
        }
        if tests.len() != 1 {
            return Err(format!(
                "{at}: `field = \"{field}\"` needs exactly one test: set = true, equals, one_of, gt, gte, lt or lte"
            ));
        }
        found.push(Predicate::Field {
            field,
            test: tests.remove(0),
        });
    } else if p.set.is_some()
        || p.equals.is_some()
        || p.one_of.is_some()
        || p.gt.is_some()
        || p.gte.is_some()
        || p.lt.is_some()
        || p.lte.is_some()
    {
        return Err(format!(
            "{at}: a field test (set, equals, one_of, gt, ...) needs `field = \"NAME\"`"
        ));
    }
    if let Some(section) = p.section.clone() {
        found.push(Predicate::Section {
            section,
            min: p.min.unwrap_or(0),
            count: p.count.unwrap_or(Count::Items),
        });
    } else if p.count.is_some() {
        return Err(format!("{at}: `count` needs `section = \"NAME\"`"));
    }
    if let Some(text) = p.body_contains.clone() {
        found.push(Predicate::BodyContains { text });
    }
    if let Some(text) = p.body_not_contains.clone() {
        found.push(Predicate::BodyNotContains { text });
    }
    if let Some(markers) = p.no_markers.clone() {
        if markers.is_empty() || markers.iter().any(|m| m.trim().is_empty()) {
            return Err(format!(
                "{at}: no_markers lists the markers to refuse, e.g. [\"TBD\", \"TODO\"]"
            ));
        }
        found.push(Predicate::NoMarkers { markers });
    }
    if p.children_terminal == Some(true) {
        found.push(Predicate::ChildrenTerminal);
    }
    if p.dependencies_done == Some(true) {
        found.push(Predicate::DependenciesDone);
    }
    if let Some(kind) = p.evidence.clone() {
        if !crate::evidence::KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "{at}: evidence kind `{kind}` is unknown; {}",
                crate::suggest::among(&kind, "use one of", crate::evidence::KINDS)
            ));
        }
        found.push(Predicate::Evidence {
            kind,
            min: p.min.unwrap_or(1).max(1),
        });
    } else if p.min.is_some() && p.section.is_none() {
        return Err(format!("{at}: `min` goes with `section` or `evidence`"));
    }
    if let Some(roles) = p.signoffs.clone() {
        if roles.is_empty() {
            return Err(format!("{at}: signoffs lists the roles that must sign"));
        }
        found.push(Predicate::Signoffs { roles });
    }
    if let Some(any) = p.any.clone() {
        if any.len() < 2 {
            return Err(format!(
                "{at}: `any` is an OR-group of at least two predicates"
            ));
        }
        let alts = any
            .into_iter()
            .enumerate()
            .map(|(i, a)| predicate(a, &format!("{at}, alternative {}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        found.push(Predicate::Any { any: alts });
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "{at}: no predicate; use one of field, section, body_contains, body_not_contains, no_markers, children_terminal, dependencies_done, evidence, signoffs, any"
        )),
        _ => Err(format!(
            "{at}: one predicate per criterion (found {}); use `any = [...]` for an OR-group or add another criterion",
            found.len()
        )),
    }
}

/// Validate raw gates against the known kinds and their statuses (`status_of(kind, spelling)`
/// gives the canonical key, or `None` when the kind has no such status).
pub(crate) fn validate(
    raw: Vec<RawGate>,
    kind_of: &dyn Fn(&str) -> Option<String>,
    status_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Vec<GateDef>, ConfigError> {
    let mut out: Vec<GateDef> = Vec::new();
    for g in raw {
        let place = || Place::entry("gates", &g.id);
        let refuse = |place: Place, message: String| Err(ConfigError::at(place, message));
        if out.iter().any(|o| o.id == g.id) {
            let mut twice = place();
            if let Place::Entry { nth, .. } = &mut twice {
                *nth = 1;
            }
            return refuse(twice, format!("gate `{}` is defined twice", g.id));
        }
        let Some(kind) = kind_of(&g.kind) else {
            return refuse(
                place().key("kind"),
                format!(
                    "gate `{}` is for kind `{}`, which is not defined",
                    g.id, g.kind
                ),
            );
        };
        if g.into.is_empty() {
            return refuse(
                place().key("into"),
                format!("gate `{}` guards no status; set into = [\"STATUS\"]", g.id),
            );
        }
        let mut into = Vec::new();
        for s in &g.into {
            match status_of(&kind, s) {
                Some(k) => into.push(k),
                None => {
                    return refuse(
                        place().key("into"),
                        format!(
                            "gate `{}` guards `{s}`, which is not a status of {kind}",
                            g.id
                        ),
                    )
                }
            }
        }
        if g.criteria.is_empty() {
            return refuse(place(), format!("gate `{}` has no criteria", g.id));
        }
        let mut criteria: Vec<Criterion> = Vec::new();
        for c in g.criteria {
            let at_criterion = || {
                let mut p = place();
                if let Place::Entry { criterion, .. } = &mut p {
                    *criterion = Some(c.id.clone());
                }
                p
            };
            if criteria.iter().any(|o| o.id == c.id) {
                return refuse(
                    at_criterion(),
                    format!("gate `{}` lists criterion `{}` twice", g.id, c.id),
                );
            }
            let at = format!("gate `{}`, criterion `{}`", g.id, c.id);
            let predicate = match predicate(c.predicate, &at) {
                Ok(p) => p,
                Err(m) => return refuse(at_criterion(), m),
            };
            criteria.push(Criterion {
                predicate,
                category: c.category.unwrap_or_else(|| g.id.clone()),
                id: c.id,
                hint: c.hint,
            });
        }
        out.push(GateDef {
            id: g.id,
            kind,
            into,
            severity: g.severity,
            criteria,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// evaluation

/// What the engine gathered about an item for evaluation.
#[derive(Debug, Clone, Default)]
pub struct GateInput<'a> {
    pub fields: Option<&'a serde_json::Map<String, serde_json::Value>>,
    pub sections: &'a [Section],
    /// The item's body text (its Markdown below the frontmatter or task block).
    pub body: &'a str,
    /// (child id, terminal).
    pub children: Vec<(String, bool)>,
    /// (dependency id, `Some(terminal)`, or `None` when unknown).
    pub dependencies: Vec<(String, Option<bool>)>,
    /// Evidence kinds whose entries verified, one per verified entry.
    pub verified_evidence: Vec<String>,
    /// Evidence entries that did not verify: (kind, why).
    pub failed_evidence: Vec<(String, String)>,
    /// Roles that have signed off.
    pub signoff_roles: Vec<String>,
}

/// One criterion's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionResult {
    pub id: String,
    pub category: String,
    pub pass: bool,
    /// What was found, in a sentence.
    pub detail: String,
    pub hint: Option<String>,
}

/// A gate's outcome for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub severity: Severity,
    pub into: Vec<String>,
    pub pass: bool,
    pub criteria: Vec<CriterionResult>,
    /// The gate guards the status the item already holds: it should still meet it (a status
    /// edited into a file, or evidence that stopped verifying, leaves a claim unbacked).
    #[serde(default)]
    pub held: bool,
    /// The item entered that status through a journaled override (`move --force --reason`), so a
    /// failure here is the accepted exception, not an unbacked claim.
    #[serde(default)]
    pub overridden: bool,
}

impl GateResult {
    /// A failure that counts: enforcing, and not a held status entered by an override.
    pub fn blocks(&self) -> bool {
        !self.pass && self.severity == Severity::Enforcing && !self.overridden
    }

    /// Ids of the failing criteria.
    pub fn failing(&self) -> Vec<&str> {
        self.criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.id.as_str())
            .collect()
    }
}

fn field_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn is_set(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.trim().is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Lines of `text` outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fence: Option<&str> = None;
    text.lines().filter(move |l| {
        let t = l.trim_start();
        let marker = if t.starts_with("```") {
            Some("```")
        } else if t.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                false
            }
            (Some(f), Some(m)) if f == m => {
                fence = None;
                false
            }
            (Some(_), _) => false,
            (None, None) => true,
        }
    })
}

/// Count what a section predicate counts in a section's text.
pub fn count_in(text: &str, what: Count) -> usize {
    let mut n = 0;
    for l in prose_lines(text) {
        let t = l.trim_start();
        let item = t
            .strip_prefix("- ")
            .or_else(|| t.strip_prefix("* "))
            .or_else(|| t.strip_prefix("+ "))
            .or_else(|| {
                let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
                (digits > 0)
                    .then(|| {
                        t[digits..]
                            .strip_prefix(". ")
                            .or(t[digits..].strip_prefix(") "))
                    })
                    .flatten()
            });
        let (checked, unchecked) = match item {
            Some(rest) => {
                let r = rest.trim_start();
                (
                    r.starts_with("[x]") || r.starts_with("[X]"),
                    r.starts_with("[ ]"),
                )
            }
            None => (false, false),
        };
        let is_table_row =
            t.starts_with('|') && !t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'));
        n += match what {
            Count::Items => usize::from(item.is_some() || is_table_row),
            Count::Checkboxes => usize::from(checked || unchecked),
            Count::Checked => usize::from(checked),
            Count::Unchecked => usize::from(unchecked),
            Count::ListItems => usize::from(item.is_some()),
            Count::TableRows => usize::from(is_table_row),
        };
    }
    // A table's first row is its header.
    if matches!(what, Count::Items | Count::TableRows) {
        n = n.saturating_sub(tables_in(text));
    }
    n
}

/// How many tables (runs of `|` lines followed by a separator row) a text holds.
fn tables_in(text: &str) -> usize {
    let lines: Vec<&str> = prose_lines(text).map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| {
            w[0].starts_with('|')
                && w[1].starts_with('|')
                && w[1].contains('-')
                && w[1].chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
        })
        .count()
}

/// Where `marker` appears in a syntactic role: `MARKER:`, `(MARKER)`, `[MARKER]`, a line (or a
/// list item) that is just the marker, or the value of a `Key: MARKER` line. 1-based line numbers within `text`.
pub fn marker_lines(text: &str, marker: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut fence: Option<bool> = None;
    for l in text.lines() {
        n += 1;
        let t = l.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = if fence.is_some() { None } else { Some(true) };
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let bare = t
            .trim_start_matches(['-', '*', '+', ' '])
            .trim_start_matches("[ ]")
            .trim();
        let value_is_marker = t
            .rsplit_once(':')
            .is_some_and(|(_, v)| v.trim().trim_end_matches('.') == marker);
        let hit = bare == marker
            || value_is_marker
            || t.contains(&format!("{marker}:"))
            || t.contains(&format!("({marker})"))
            || t.contains(&format!("[{marker}]"));
        if hit {
            out.push(n);
        }
    }
    out
}

/// A section name as compared: case-insensitive, without a leading number (`2. Existing
/// Surfaces`, `§3 Definition of Done`), so sections are addressed by name, never by position.
pub fn section_key(name: &str) -> String {
    name.trim()
        .trim_start_matches(|c: char| {
            c == '§' || c.is_ascii_digit() || matches!(c, '.' | ')' | ' ')
        })
        .trim()
        .to_lowercase()
}

fn eval(p: &Predicate, input: &GateInput<'_>) -> (bool, String) {
    match p {
        Predicate::Field { field, test } => {
            let v = input.fields.and_then(|f| f.get(field));
            let text = v.and_then(field_text);
            match test {
                FieldTest::Set => {
                    let ok = v.is_some_and(is_set);
                    (
                        ok,
                        if ok {
                            format!("`{field}` is set")
                        } else {
                            format!("`{field}` is not set")
                        },
                    )
                }
                FieldTest::Equals(want) => {
                    let ok = text
                        .as_deref()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case(want.trim()));
                    (
                        ok,
                        format!(
                            "`{field}` is {}, needs {want}",
                            text.as_deref().unwrap_or("not set")
                        ),
                    )
                }
                FieldTest::OneOf(want) => {
                    let ok = text.as_deref().is_some_and(|t| {
                        want.iter().any(|w| t.trim().eq_ignore_ascii_case(w.trim()))
                    });
                    (
                        ok,
                        format!(
                            "`{field}` is {}, needs one of {}",
                            text.as_deref().unwrap_or("not set"),
                            want.join(", ")
                        ),
                    )
                }
                FieldTest::Gt(x) | FieldTest::Gte(x) | FieldTest::Lt(x) | FieldTest::Lte(x) => {
                    let num = text.as_deref().and_then(|t| t.trim().parse::<f64>().ok());
                    let (op, ok) = match (test, num) {
                        (_, None) => ("", false),
                        (FieldTest::Gt(_), Some(n)) => (">", n > *x),
                        (FieldTest::Gte(_), Some(n)) => ("≥", n >= *x),
                        (FieldTest::Lt(_), Some(n)) => ("<", n < *x),
                        (_, Some(n)) => ("≤", n <= *x),
                    };
                    match num {
                        None => (
                            false,
                            format!(
                                "`{field}` is {}, not a number",
                                text.as_deref().unwrap_or("not set")
                            ),
                        ),
                        Some(n) => (ok, format!("`{field}` is {n}, needs {op} {x}")),
                    }
                }
            }
        }
        Predicate::Section {
            section,
            min,
            count,
        } => {
            let want = section_key(section);
            let found = input.sections.iter().find(|s| section_key(&s.name) == want);
            match found {
                None => (false, format!("no `## {section}` section")),
                Some(s) => {
                    let n = count_in(&s.text, *count);
                    let what = match count {
                        Count::Items => "items",
                        Count::Checkboxes => "checkboxes",
                        Count::Checked => "checked boxes",
                        Count::Unchecked => "unchecked boxes",
                        Count::ListItems => "list items",
                        Count::TableRows => "table rows",
                    };
                    (
                        n >= *min,
                        format!("`## {section}` has {n} {what}, needs at least {min}"),
                    )
                }
            }
        }
        Predicate::BodyContains { text } => {
            let ok = input.body.contains(text.as_str());
            (
                ok,
                if ok {
                    format!("the body mentions `{text}`")
                } else {
                    format!("the body does not mention `{text}`")
                },
            )
        }
        Predicate::BodyNotContains { text } => {
            let ok = !input.body.contains(text.as_str());
            (
                ok,
                if ok {
                    format!("the body does not mention `{text}`")
                } else {
                    format!("the body mentions `{text}`")
                },
            )
        }
        Predicate::NoMarkers { markers } => {
            let mut hits = Vec::new();
            for m in markers {
                for l in marker_lines(input.body, m) {
                    hits.push(format!("{m} (body line {l})"));
                }
                if let Some(fields) = input.fields {
                    for (k, v) in fields {
                        if field_text(v).is_some_and(|t| t.trim() == m) {
                            hits.push(format!("{m} (field `{k}`)"));
                        }
                    }
                }
            }
            if hits.is_empty() {
                (true, format!("no {} markers", markers.join("/")))
            } else {
                (false, format!("open markers: {}", hits.join(", ")))
            }
        }
        Predicate::ChildrenTerminal => {
            let open: Vec<&str> = input
                .children
                .iter()
                .filter(|(_, t)| !t)
                .map(|(id, _)| id.as_str())
                .collect();
            if open.is_empty() {
                (
                    true,
                    format!("all {} children are finished", input.children.len()),
                )
            } else {
                (false, format!("children still open: {}", open.join(", ")))
            }
        }
        Predicate::DependenciesDone => {
            let open: Vec<String> = input
                .dependencies
                .iter()
                .filter(|(_, t)| *t != Some(true))
                .map(|(id, t)| {
                    if t.is_none() {
                        format!("{id} (unknown)")
                    } else {
                        id.clone()
                    }
                })
                .collect();
            if open.is_empty() {
                (
                    true,
                    format!("all {} dependencies are done", input.dependencies.len()),
                )
            } else {
                (false, format!("dependencies not done: {}", open.join(", ")))
            }
        }
        Predicate::Evidence { kind, min } => {
            let n = input
                .verified_evidence
                .iter()
                .filter(|k| *k == kind)
                .count();
            let failed: Vec<&str> = input
                .failed_evidence
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, why)| why.as_str())
                .collect();
            let mut detail = format!("{n} verified `{kind}` evidence, needs {min}");
            if !failed.is_empty() {
                detail.push_str(&format!("; not verified: {}", failed.join("; ")));
            }
            (n >= *min, detail)
        }
        Predicate::Signoffs { roles } => {
            let have: Vec<String> = input
                .signoff_roles
                .iter()
                .map(|r| canonical_key(r))
                .collect();
            let missing: Vec<&str> = roles
                .iter()
                .filter(|r| !have.contains(&canonical_key(r)))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                (true, format!("signed off by {}", roles.join(", ")))
            } else {
                (
                    false,
                    format!("sign-off missing from {}", missing.join(", ")),
                )
            }
        }
        Predicate::Any { any } => {
            let results: Vec<(bool, String)> = any.iter().map(|a| eval(a, input)).collect();
            let ok = results.iter().any(|(p, _)| *p);
            let details: Vec<String> = results.into_iter().map(|(_, d)| d).collect();
            (ok, format!("any of: {}", details.join(" | ")))
        }
    }
}

/// Evaluate a gate.
pub fn evaluate(gate: &GateDef, input: &GateInput<'_>) -> GateResult {
    let criteria: Vec<CriterionResult> = gate
        .criteria
        .iter()
        .map(|c| {
            let (pass, detail) = eval(&c.predicate, input);
            CriterionResult {
                id: c.id.clone(),
                category: c.category.clone(),
                pass,
                detail,
                hint: c.hint.clone(),
            }
        })
        .collect();
    GateResult {
        gate: gate.id.clone(),
        severity: gate.severity,
        into: gate.into.clone(),
        pass: criteria.iter().all(|c| c.pass),
        criteria,
        held: false,
        overridden: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found_by_name_not_number() {
        assert_eq!(section_key("2. Existing Surfaces"), "existing surfaces");
        assert_eq!(section_key("§3 Definition of Done"), "definition of done");
        assert_eq!(section_key(" Acceptance Criteria "), "acceptance criteria");
    }

    #[test]
    fn markers_count_only_in_a_syntactic_role() {
        let body = "TBD\n- TBD\nOwner: TBD: ask ops\nsee (TBD) and [TODO]\nSTUBBORN words like TBDX\n```\nTBD in code\n```\nTBD";
        assert_eq!(marker_lines(body, "TBD"), [1, 2, 3, 4, 9]);
        assert_eq!(marker_lines(body, "TODO"), [4]);
        assert!(marker_lines("The TBD committee met.", "TBD").is_empty());
    }

    #[test]
    fn sections_count_checkboxes_list_items_and_table_rows() {
        let t = "- [x] one\n- [ ] two\n* three\n1. four\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n```\n- not counted\n```";
        assert_eq!(count_in(t, Count::Checkboxes), 2);
        assert_eq!(count_in(t, Count::Checked), 1);
        assert_eq!(count_in(t, Count::Unchecked), 1);
        assert_eq!(count_in(t, Count::ListItems), 4);
        assert_eq!(count_in(t, Count::TableRows), 2);
        assert_eq!(count_in(t, Count::Items), 6);
    }

    fn gate(toml_text: &str) -> Result<Vec<GateDef>, String> {
        #[derive(Deserialize)]
        struct W {
            gates: Vec<RawGate>,
        }
        let w: W = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        validate(
            w.gates,
            &|k| (k == "story").then(|| k.to_string()),
            &|_, s| {
                ["todo", "ready", "done"]
                    .contains(&s)
                    .then(|| s.to_string())
            },
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn definitions_are_validated() {
        let ok = gate("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nfield='severity'\nset=true\n").unwrap();
        assert_eq!(ok[0].criteria[0].category, "g");
        for (bad, needle) in [
            ("[[gates]]\nid='g'\nkind='epic'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nfield='x'\nset=true\n", "not defined"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['nope']\n[[gates.criteria]]\nid='a'\nfield='x'\nset=true\n", "not a status"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nfield='x'\n", "exactly one test"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nfield='x'\nset=true\nsection='S'\n", "one predicate"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\n", "no predicate"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nevidence='video'\n", "unknown"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nsecton='x'\n", "unknown field"),
            ("[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n[[gates.criteria]]\nid='a'\nany=[{section='S'}]\n", "at least two"),
        ] {
            let e = gate(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn graph_field_and_body_predicates_pass_and_fail() {
        let g = &gate(
            "[[gates]]\nid='g'\nkind='story'\ninto=['done']\n\
             [[gates.criteria]]\nid='kids'\nchildren_terminal=true\n\
             [[gates.criteria]]\nid='deps'\ndependencies_done=true\n\
             [[gates.criteria]]\nid='eq'\nfield='risk'\nequals='low'\n\
             [[gates.criteria]]\nid='gt'\nfield='coverage'\ngt=80\n\
             [[gates.criteria]]\nid='nothing'\nbody_not_contains='DO NOT MERGE'\n",
        )
        .unwrap()[0];
        let mut fields = serde_json::Map::new();
        fields.insert("risk".into(), "Low".into());
        fields.insert("coverage".into(), "91.5".into());
        let mut input = GateInput {
            fields: Some(&fields),
            body: "all good",
            children: vec![("T-1".into(), true)],
            dependencies: vec![("S-1".into(), Some(true))],
            ..Default::default()
        };
        assert!(evaluate(g, &input).pass);
        let mut worse = fields.clone();
        worse.insert("risk".into(), "high".into());
        worse.insert("coverage".into(), "eighty".into());
        input.fields = Some(&worse);
        input.body = "DO NOT MERGE yet";
        input.children.push(("T-2".into(), false));
        input.dependencies.push(("GHOST".into(), None));
        let r = evaluate(g, &input);
        assert_eq!(r.failing(), ["kids", "deps", "eq", "gt", "nothing"]);
        assert!(r.criteria[0].detail.contains("T-2"));
        assert!(r.criteria[1].detail.contains("GHOST (unknown)"));
        assert!(r.criteria[3].detail.contains("not a number"));
        // No fields at all: every field test fails rather than passing vacuously.
        input.fields = None;
        assert!(!evaluate(g, &input).criteria[2].pass);
    }

    #[test]
    fn predicates_evaluate() {
        let g = &gate(
            "[[gates]]\nid='g'\nkind='story'\ninto=['ready']\n\
             [[gates.criteria]]\nid='sev'\nfield='severity'\none_of=['high','low']\n\
             [[gates.criteria]]\nid='pts'\nfield='points'\nlte=8\n\
             [[gates.criteria]]\nid='files'\nsection='Files'\nmin=2\n\
             [[gates.criteria]]\nid='tbd'\nno_markers=['TBD']\n\
             [[gates.criteria]]\nid='or'\nany=[{body_contains='Scenario:'}, {section='Acceptance', min=1}]\n\
             [[gates.criteria]]\nid='ev'\nevidence='test'\n\
             [[gates.criteria]]\nid='so'\nsignoffs=['architecture','security']\n",
        )
        .unwrap()[0];
        let mut fields = serde_json::Map::new();
        fields.insert("severity".into(), "High".into());
        fields.insert("points".into(), 5.into());
        let sections = vec![Section {
            name: "Files".into(),
            line: 3,
            text: "- a.rs\n- b.rs".into(),
        }];
        let mut input = GateInput {
            fields: Some(&fields),
            sections: &sections,
            body: "## Files\n- a.rs\n- b.rs\nScenario: pays\n",
            verified_evidence: vec!["test".into()],
            signoff_roles: vec!["Architecture".into(), "security".into()],
            ..Default::default()
        };
        let r = evaluate(g, &input);
        assert!(r.pass, "{r:#?}");
        input.body = "## Files\n- a.rs\nOwner: TBD\n";
        input.signoff_roles.pop();
        input.verified_evidence.clear();
        input
            .failed_evidence
            .push(("test".into(), "report.xml: `x` failed".into()));
        let r = evaluate(g, &input);
        assert_eq!(r.failing(), ["tbd", "or", "ev", "so"]);
        assert!(
            r.criteria[5].detail.contains("`x` failed"),
            "{}",
            r.criteria[5].detail
        );
    }
}
