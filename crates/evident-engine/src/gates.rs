//! Gates in the engine: gather what each criterion reads (the item's fields, sections and body,
//! its children and dependencies, its evidence verified against the repository, its sign-offs),
//! evaluate the gates of `evident.toml` (pure, in `evident_core::gate`), and cache each result
//! in the store under a key made of everything the evaluation read. An item whose inputs did
//! not change is never evaluated again, and no file is ever written to hold a result.
//!
//! Also here: evidence listing and adding, sign-off and review, the readiness report, and flow
//! lanes, all built on the same gathering and cache.

use std::collections::{BTreeMap, HashMap};

use evident_core::evidence::{declared, EvidenceSpec};
use evident_core::gate::{evaluate, GateDef, GateInput, GateResult, Severity};
use evident_core::workflow::TransitionCheck;
use evident_store::{GateCacheEntry, ItemFilter, ItemRow};
use serde::Serialize;

use crate::evidence::{fingerprint, safe_path, verify, Verdict};
use crate::ops::{kind_def, not_found};
use crate::{git, EngineError, Result, Workspace};

/// One piece of evidence and how it verified.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceCheck {
    pub item: String,
    /// `file` (declared in the document) or `store` (added with `evident evidence add`).
    pub source: &'static str,
    pub kind: String,
    pub spec: Option<EvidenceSpec>,
    pub verdict: Verdict,
    pub detail: String,
}

/// The evidence declared for an item: (source, parsed spec or why it is unusable).
fn evidence_specs(
    item: &ItemRow,
    stored: &[evident_store::StoredEvidence],
) -> Vec<(&'static str, std::result::Result<EvidenceSpec, String>)> {
    let mut v: Vec<_> = declared(&item.fields)
        .into_iter()
        .map(|r| ("file", r))
        .collect();
    for s in stored {
        let spec: std::result::Result<EvidenceSpec, String> =
            serde_json::from_str::<serde_json::Value>(&s.spec)
                .map_err(|e| e.to_string())
                .and_then(|j| EvidenceSpec::from_json(&j));
        v.push(("store", spec));
    }
    v
}

/// What the gates of one item read, gathered once.
struct Gathered {
    item: ItemRow,
    children: Vec<(String, bool)>,
    dependencies: Vec<(String, Option<bool>)>,
    evidence: Vec<(&'static str, std::result::Result<EvidenceSpec, String>)>,
    /// Roles signed since the last review, and the sign-off records' seqs (for the key).
    roles: Vec<String>,
    signoff_seqs: Vec<i64>,
}

/// Lookups shared across many items (filled once per run for `--all`).
#[derive(Default)]
struct Context {
    head: Option<String>,
    terminal: HashMap<String, bool>,
    children: HashMap<String, Vec<(String, bool)>>,
    stored_evidence: HashMap<String, Vec<evident_store::StoredEvidence>>,
    signoffs: HashMap<String, Vec<evident_store::Signoff>>,
    cache: HashMap<(String, String), GateCacheEntry>,
}

impl Context {
    /// Load everything for the whole store in a few queries.
    fn load_all(ws: &mut Workspace) -> Result<Context> {
        let all = ws.store().list_items(&ItemFilter::default())?;
        let mut c = Context {
            head: head_if_needed(ws),
            ..Default::default()
        };
        for it in &all {
            c.terminal.insert(it.id.clone(), it.terminal);
            if let Some(p) = &it.parent {
                c.children
                    .entry(p.clone())
                    .or_default()
                    .push((it.id.clone(), it.terminal));
            }
        }
        for e in ws.store().evidence(None)? {
            c.stored_evidence.entry(e.item.clone()).or_default().push(e);
        }
        for s in ws.store().signoffs(None)? {
            c.signoffs.entry(s.item.clone()).or_default().push(s);
        }
        for e in ws.store().gate_cache(None)? {
            c.cache.insert((e.item.clone(), e.gate.clone()), e);
        }
        Ok(c)
    }

    /// Load what one item needs.
    fn load_one(ws: &mut Workspace, item: &ItemRow) -> Result<Context> {
        let mut c = Context {
            head: head_if_needed(ws),
            ..Default::default()
        };
        let kids = ws.store().list_items(&ItemFilter {
            parent: Some(item.id.clone()),
            ..Default::default()
        })?;
        c.children.insert(
            item.id.clone(),
            kids.iter().map(|k| (k.id.clone(), k.terminal)).collect(),
        );
        for d in &item.depends_on {
            if let Some(dep) = ws.store().get_item(d)? {
                c.terminal.insert(dep.id.clone(), dep.terminal);
            }
        }
        c.stored_evidence
            .insert(item.id.clone(), ws.store().evidence(Some(&item.id))?);
        c.signoffs
            .insert(item.id.clone(), ws.store().signoffs(Some(&item.id))?);
        for e in ws.store().gate_cache(Some(&item.id))? {
            c.cache.insert((e.item.clone(), e.gate.clone()), e);
        }
        Ok(c)
    }

    fn gather(&self, item: ItemRow) -> Gathered {
        let children = self.children.get(&item.id).cloned().unwrap_or_default();
        let dependencies = item
            .depends_on
            .iter()
            .map(|d| (d.clone(), self.terminal.get(d).copied()))
            .collect();
        let stored = self
            .stored_evidence
            .get(&item.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let evidence = evidence_specs(&item, stored);
        let records = self
            .signoffs
            .get(&item.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // A review with gaps voids the sign-offs before it.
        let from = records
            .iter()
            .rposition(|s| s.kind == "review")
            .map(|i| i + 1)
            .unwrap_or(0);
        let valid = &records[from..];
        Gathered {
            children,
            dependencies,
            evidence,
            roles: valid.iter().map(|s| s.role.clone()).collect(),
            signoff_seqs: records.iter().map(|s| s.seq).collect(),
            item,
        }
    }
}

/// HEAD, when some gate reads evidence (code evidence is verified against HEAD); no git call
/// otherwise.
fn head_if_needed(ws: &Workspace) -> Option<String> {
    fn reads_evidence(p: &evident_core::gate::Predicate) -> bool {
        match p {
            evident_core::gate::Predicate::Evidence { .. } => true,
            evident_core::gate::Predicate::Any { any } => any.iter().any(reads_evidence),
            _ => false,
        }
    }
    let needed = ws
        .config
        .gates
        .iter()
        .flat_map(|g| &g.criteria)
        .any(|c| reads_evidence(&c.predicate));
    if needed {
        git::head(&ws.root)
    } else {
        None
    }
}

/// The key of everything an evaluation of `gate` on `g` reads.
fn input_key(ws: &Workspace, gate: &GateDef, g: &Gathered, head: Option<&str>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(serde_json::to_string(gate).unwrap_or_default().as_bytes());
    h.update(b"\0");
    h.update(g.item.content_hash.as_bytes());
    h.update(b"\0");
    for (id, t) in &g.children {
        h.update(format!("c:{id}:{t}\0").as_bytes());
    }
    for (id, t) in &g.dependencies {
        h.update(format!("d:{id}:{t:?}\0").as_bytes());
    }
    for (src, e) in &g.evidence {
        match e {
            Ok(spec) => {
                h.update(format!("e:{src}:{}\0", fingerprint(&ws.root, spec, head)).as_bytes())
            }
            Err(why) => h.update(format!("e:{src}:bad:{why}\0").as_bytes()),
        };
    }
    for s in &g.signoff_seqs {
        h.update(format!("s:{s}\0").as_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The Markdown body of an item: below the frontmatter for a one-item document, else its
/// sections.
fn body_of(ws: &Workspace, item: &ItemRow) -> String {
    let from_sections = || {
        item.sections
            .iter()
            .map(|s| format!("## {}\n{}\n", s.name, s.text))
            .collect::<String>()
    };
    let Ok(text) = std::fs::read_to_string(ws.abs(&item.path)) else {
        return from_sections();
    };
    if item.line == 1 && text.starts_with("---") {
        let mut lines = text.split_inclusive('\n');
        let mut offset = lines.next().map(str::len).unwrap_or(0);
        for l in lines {
            offset += l.len();
            if l.trim_end() == "---" {
                let rest = &text[offset..];
                // A workplan file holds task blocks of their own: its body is its sections.
                if !rest.contains("```task") {
                    return rest.to_string();
                }
                break;
            }
        }
    }
    from_sections()
}

fn verify_all(ws: &Workspace, g: &Gathered) -> Vec<EvidenceCheck> {
    g.evidence
        .iter()
        .map(|(src, e)| match e {
            Ok(spec) => {
                let (verdict, detail) = verify(&ws.root, spec);
                EvidenceCheck {
                    item: g.item.id.clone(),
                    source: src,
                    kind: spec.kind.clone(),
                    spec: Some(spec.clone()),
                    verdict,
                    detail,
                }
            }
            Err(why) => EvidenceCheck {
                item: g.item.id.clone(),
                source: src,
                kind: "invalid".into(),
                spec: None,
                verdict: Verdict::Error,
                detail: why.clone(),
            },
        })
        .collect()
}

fn run_gate(ws: &Workspace, gate: &GateDef, g: &Gathered, checks: &[EvidenceCheck]) -> GateResult {
    let body = body_of(ws, &g.item);
    let input = GateInput {
        fields: Some(&g.item.fields),
        sections: &g.item.sections,
        body: &body,
        children: g.children.clone(),
        dependencies: g.dependencies.clone(),
        verified_evidence: checks
            .iter()
            .filter(|c| c.verdict == Verdict::Verified)
            .map(|c| c.kind.clone())
            .collect(),
        failed_evidence: checks
            .iter()
            .filter(|c| c.verdict != Verdict::Verified)
            .map(|c| (c.kind.clone(), c.detail.clone()))
            .collect(),
        signoff_roles: g.roles.clone(),
    };
    evaluate(gate, &input)
}

/// Which gates to check for an item.
#[derive(Debug, Clone)]
pub enum Which {
    /// The gates guarding the status the item holds (it should still meet them) and those
    /// guarding the statuses ahead of it.
    Ahead,
    /// Only the gates guarding the status the item holds: is its claim backed?
    Held,
    /// The gates guarding entry into this status (any spelling).
    Into(String),
}

/// The gates to evaluate for an item, each with whether it guards the status the item holds.
fn gates_for<'a>(
    ws: &'a Workspace,
    item: &ItemRow,
    which: &Which,
) -> Result<Vec<(&'a GateDef, bool)>> {
    let kind = kind_def(ws, &item.kind)?;
    let wf = ws.config.workflow_of(kind);
    let holds = |g: &GateDef| g.into.contains(&item.status);
    Ok(match which {
        Which::Into(s) => {
            let st = wf.status(s).ok_or_else(|| {
                EngineError::user(format!("`{s}` is not a status of {}", item.kind))
                    .hint(wf.unknown_status_hint(s, "statuses"))
            })?;
            ws.config
                .gates_into(&kind.key, &st.key)
                .map(|g| (g, false))
                .collect()
        }
        Which::Held => ws
            .config
            .gates
            .iter()
            .filter(|g| g.kind == kind.key && holds(g))
            .map(|g| (g, true))
            .collect(),
        Which::Ahead => {
            let rank = item.status_rank.unwrap_or(i64::MIN);
            ws.config
                .gates
                .iter()
                .filter(|g| g.kind == kind.key)
                .filter(|g| {
                    holds(g)
                        || g.into
                            .iter()
                            .any(|s| wf.status(s).is_some_and(|d| d.rank > rank))
                })
                .map(|g| (g, holds(g)))
                .collect()
        }
    })
}

/// Did the item enter the status it holds through a journaled override? Looked up only when a
/// held gate fails (one query for that item).
fn entered_by_override(ws: &mut Workspace, id: &str) -> Result<bool> {
    use evident_store::action;
    Ok(ws
        .store()
        .events(Some(id), None)?
        .iter()
        .find(|e| {
            [
                action::CREATED,
                action::TRANSITION,
                action::REOPEN,
                action::OVERRIDE,
            ]
            .contains(&e.action.as_str())
        })
        .is_some_and(|e| e.action == action::OVERRIDE))
}

/// An item's gate results.
#[derive(Debug, Clone, Serialize)]
pub struct ItemGates {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: String,
    /// No enforcing gate fails.
    pub pass: bool,
    pub gates: Vec<GateResult>,
    pub evidence: Vec<EvidenceCheck>,
}

/// Gate results for a set of items, with how many evaluations ran and how many came from the
/// cache.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub items: Vec<ItemGates>,
    pub evaluated: usize,
    pub cached: usize,
}

impl GateReport {
    pub fn enforcing_failures(&self) -> usize {
        self.items
            .iter()
            .flat_map(|i| &i.gates)
            .filter(|g| g.blocks())
            .count()
    }
}

/// Check gates for `ids` (or every item when `None`), caching each fresh result in the store.
pub fn check(ws: &mut Workspace, ids: Option<&[String]>, which: &Which) -> Result<GateReport> {
    evaluate_gates(ws, ids, which, true)
}

/// Check gates without writing anything (cached results are still read): for `evident check`,
/// which never writes the store.
pub fn check_read_only(
    ws: &mut Workspace,
    ids: Option<&[String]>,
    which: &Which,
) -> Result<GateReport> {
    evaluate_gates(ws, ids, which, false)
}

fn evaluate_gates(
    ws: &mut Workspace,
    ids: Option<&[String]>,
    which: &Which,
    persist: bool,
) -> Result<GateReport> {
    let (items, ctx) = match ids {
        None => {
            let ctx = Context::load_all(ws)?;
            let all = ws.store().list_items(&ItemFilter::default())?;
            (all.into_iter().map(|i| i.id).collect::<Vec<_>>(), Some(ctx))
        }
        // Many items: the shared lookups cost less than a few queries per item.
        Some(ids) if ids.len() > 64 => (ids.to_vec(), Some(Context::load_all(ws)?)),
        Some(ids) => (ids.to_vec(), None),
    };
    let mut report = GateReport {
        items: Vec::new(),
        evaluated: 0,
        cached: 0,
    };
    let mut fresh: Vec<GateCacheEntry> = Vec::new();
    for id in items {
        let item = ws
            .store()
            .get_item(&id)?
            .ok_or_else(|| not_found(ws, &id))?;
        let gates: Vec<(GateDef, bool)> = gates_for(ws, &item, which)?
            .into_iter()
            .map(|(g, held)| (g.clone(), held))
            .collect();
        if gates.is_empty() && ids.is_none() {
            continue;
        }
        let local;
        let ctx = match &ctx {
            Some(c) => c,
            None => {
                local = Context::load_one(ws, &item)?;
                &local
            }
        };
        let g = ctx.gather(item);
        let mut checks: Option<Vec<EvidenceCheck>> = None;
        let mut results = Vec::new();
        for (gate, held) in &gates {
            let key = input_key(ws, gate, &g, ctx.head.as_deref());
            let hit = ctx
                .cache
                .get(&(g.item.id.clone(), gate.id.clone()))
                .filter(|e| e.input_key == key)
                .and_then(|e| serde_json::from_str::<GateResult>(&e.result).ok());
            let r = match hit {
                Some(r) => {
                    report.cached += 1;
                    r
                }
                None => {
                    report.evaluated += 1;
                    let ch = checks.get_or_insert_with(|| verify_all(ws, &g));
                    let r = run_gate(ws, gate, &g, ch);
                    fresh.push(GateCacheEntry {
                        item: g.item.id.clone(),
                        gate: gate.id.clone(),
                        input_key: key,
                        result: serde_json::to_string(&r).unwrap_or_default(),
                        evaluated_at: ws.now(),
                    });
                    r
                }
            };
            results.push(GateResult { held: *held, ..r });
        }
        if results.iter().any(|r| r.held && r.blocks()) && entered_by_override(ws, &g.item.id)? {
            for r in results.iter_mut().filter(|r| r.held) {
                r.overridden = true;
            }
        }
        let pass = results.iter().all(|r| !r.blocks());
        report.items.push(ItemGates {
            id: g.item.id.clone(),
            kind: g.item.kind.clone(),
            title: g.item.title.clone(),
            status: g.item.status.clone(),
            pass,
            gates: results,
            evidence: checks.unwrap_or_default(),
        });
    }
    if persist {
        ws.store().put_gate_cache(&fresh)?;
    }
    Ok(report)
}

/// The guard `move` runs: the gates into `to` for `id`. Enforcing failures come back as an
/// error listing the failing criteria and their hints unless `force` (then they are returned,
/// for the override's reason); advisory failures come back as results to warn about.
pub fn guard(ws: &mut Workspace, id: &str, to: &str) -> Result<Vec<GateResult>> {
    // No gate guards the status: nothing to read (no query, no git).
    let Some((kind, _)) = ws.store().kind_status(id)? else {
        return Err(not_found(ws, id));
    };
    let kind = kind_def(ws, &kind)?.key.clone();
    if ws.config.gates_into(&kind, to).next().is_none() {
        return Ok(vec![]);
    }
    let r = check(ws, Some(&[id.to_string()]), &Which::Into(to.to_string()))?;
    Ok(r.items
        .into_iter()
        .flat_map(|i| i.gates)
        .filter(|g| !g.pass)
        .collect())
}

/// Format failing criteria for a message: `gate/criterion: detail (hint: ...)`.
pub fn describe_failures(results: &[GateResult]) -> String {
    let mut out = Vec::new();
    for r in results {
        for c in r.criteria.iter().filter(|c| !c.pass) {
            let mut s = format!("{}/{}: {}", r.gate, c.id, c.detail);
            if let Some(h) = &c.hint {
                s.push_str(&format!(" (fix: {h})"));
            }
            out.push(s);
        }
    }
    out.join("; ")
}

// ---------------------------------------------------------------------------------------------
// evidence

/// Verify the evidence of one item, or of every item that has any.
pub fn verify_evidence(ws: &mut Workspace, id: Option<&str>) -> Result<Vec<EvidenceCheck>> {
    let mut out = Vec::new();
    let ctx = match id {
        Some(id) => {
            let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
            let ctx = Context::load_one(ws, &item)?;
            out.extend(verify_all(ws, &ctx.gather(item)));
            return Ok(out);
        }
        None => Context::load_all(ws)?,
    };
    let all = ws.store().list_items(&ItemFilter::default())?;
    for row in all {
        let has_store = ctx.stored_evidence.contains_key(&row.id);
        let item = ws
            .store()
            .get_item(&row.id)?
            .ok_or_else(|| not_found(ws, &row.id))?;
        if !has_store && !item.fields.contains_key("evidence") {
            continue;
        }
        out.extend(verify_all(ws, &ctx.gather(item)));
    }
    Ok(out)
}

/// Record evidence for an item (checked for completeness and for paths that leave the
/// repository before anything is stored).
pub fn add_evidence(ws: &mut Workspace, id: &str, spec: &EvidenceSpec) -> Result<EvidenceCheck> {
    spec.validate().map_err(|e| {
        EngineError::user(e).hint("see `evident evidence add --help` for each kind's fields")
    })?;
    for p in spec.paths() {
        safe_path(&ws.root, p).map_err(|e| {
            EngineError::user(format!("evidence path refused: {e}"))
                .hint("give a path inside the repository, relative to its root")
        })?;
    }
    if !ws.store().item_exists(id)? {
        return Err(not_found(ws, id));
    }
    let json = serde_json::to_string(spec).unwrap_or_default();
    let ctx = ws.event_context("cli");
    ws.store().add_evidence(id, &json, &ctx)?;
    let (verdict, detail) = verify(&ws.root, spec);
    Ok(EvidenceCheck {
        item: id.to_string(),
        source: "store",
        kind: spec.kind.clone(),
        spec: Some(spec.clone()),
        verdict,
        detail,
    })
}

// ---------------------------------------------------------------------------------------------
// sign-off and review

/// Roles some gate of `kind` asks for.
fn known_roles(ws: &Workspace, kind: &str) -> Vec<String> {
    fn collect(p: &evident_core::gate::Predicate, out: &mut Vec<String>) {
        match p {
            evident_core::gate::Predicate::Signoffs { roles } => out.extend(roles.iter().cloned()),
            evident_core::gate::Predicate::Any { any } => any.iter().for_each(|a| collect(a, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for g in ws.config.gates.iter().filter(|g| g.kind == kind) {
        for c in &g.criteria {
            collect(&c.predicate, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Record a sign-off by the acting identity.
pub fn signoff(
    ws: &mut Workspace,
    id: &str,
    role: &str,
    note: Option<&str>,
) -> Result<evident_store::Signoff> {
    let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    let kind = kind_def(ws, &item.kind)?.key.clone();
    let roles = known_roles(ws, &kind);
    let role_key = evident_core::status::canonical_key(role);
    let found = roles
        .iter()
        .find(|r| evident_core::status::canonical_key(r) == role_key)
        .cloned();
    let role = match found {
        Some(r) => r,
        None if roles.is_empty() => {
            return Err(EngineError::user(format!(
                "no gate of {kind} asks for sign-offs, so there is nothing to sign"
            ))
            .hint("declare the roles in evident.toml (a workflow's `signoff` table or a `signoffs` criterion)"))
        }
        None => {
            return Err(EngineError::user(format!("`{role}` is not a sign-off role for {kind}"))
                .hint(format!("roles: {}", roles.join(", "))))
        }
    };
    let ctx = ws.event_context("cli");
    Ok(ws.store().signoff(id, "signoff", &role, note, &ctx)?)
}

/// What `review` did.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    pub id: String,
    pub gaps: String,
    pub moved: crate::ops::MoveOutcome,
}

/// Record a reviewer's gaps (voiding earlier sign-offs) and send the item back: to `to`, or to
/// the status the workflow declares as the way back from the current one.
pub fn review(ws: &mut Workspace, id: &str, gaps: &str, to: Option<&str>) -> Result<ReviewOutcome> {
    let gaps = gaps.trim();
    if gaps.is_empty() {
        return Err(EngineError::user("--gaps is empty")
            .hint("list the specific gaps the owner must address"));
    }
    let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    let kind = kind_def(ws, &item.kind)?.clone();
    let wf = ws.config.workflow_of(&kind).clone();
    let cur = wf.status(&item.status).cloned().ok_or_else(|| {
        EngineError::user(format!(
            "{id} has status `{}`, which its workflow does not know",
            item.status
        ))
    })?;
    let target = match to {
        Some(t) => wf.status(t).cloned().ok_or_else(|| {
            EngineError::user(format!("`{t}` is not a status of {}", item.kind))
                .hint(wf.unknown_status_hint(t, "statuses"))
        })?,
        None => wf
            .allowed_targets(&cur)
            .into_iter()
            .find(|s| wf.check(&cur, s) == TransitionCheck::DeclaredRegression)
            .cloned()
            .ok_or_else(|| {
                EngineError::user(format!(
                    "the {} workflow declares no way back from {}",
                    wf.name, cur.label
                ))
                .hint("pass --to STATUS to say where the item goes back to")
            })?,
    };
    if target.rank >= cur.rank {
        return Err(EngineError::user(format!(
            "a review sends {id} back, but {} is not behind {}",
            target.label, cur.label
        ))
        .hint("pass --to with an earlier status"));
    }
    let ctx = ws.event_context("cli");
    ws.store().signoff(id, "review", "", Some(gaps), &ctx)?;
    let reason = format!("review gaps: {gaps}");
    let mode = crate::ops::MoveMode::Reopen;
    let moved = crate::ops::move_item(ws, id, &target.key, mode, Some(&reason))?;
    Ok(ReviewOutcome {
        id: id.to_string(),
        gaps: gaps.to_string(),
        moved,
    })
}

// ---------------------------------------------------------------------------------------------
// readiness

#[derive(Debug, Clone, Serialize)]
pub struct CategoryScore {
    pub category: String,
    pub passed: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailingCheck {
    pub item: String,
    pub gate: String,
    pub criterion: String,
    pub category: String,
    pub severity: Severity,
    pub detail: String,
    pub hint: Option<String>,
    /// The gate guards the status the item already holds: the claim is not backed.
    pub held: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub action: String,
    /// How many failing checks it addresses.
    pub checks: usize,
}

/// `evident readiness`: N/M criteria met, by category, each failing check, the top actions.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub scope: String,
    pub ready: bool,
    pub passed: usize,
    pub total: usize,
    pub items: usize,
    pub categories: Vec<CategoryScore>,
    pub failing: Vec<FailingCheck>,
    pub top_actions: Vec<Action>,
    pub evaluated: usize,
    pub cached: usize,
}

/// The items in a readiness scope: `all`, a kind, or an item with its descendants.
fn scope_ids(ws: &mut Workspace, scope: &str) -> Result<Option<Vec<String>>> {
    if scope == "all" {
        return Ok(None);
    }
    if let Some(k) = ws.config.kind(scope).map(|k| k.key.clone()) {
        let items = ws.store().list_items(&ItemFilter {
            kinds: vec![k],
            ..Default::default()
        })?;
        return Ok(Some(items.into_iter().map(|i| i.id).collect()));
    }
    if ws.store().item_exists(scope)? {
        let mut out = vec![scope.to_string()];
        let mut i = 0;
        while i < out.len() {
            let kids = ws.store().list_items(&ItemFilter {
                parent: Some(out[i].clone()),
                ..Default::default()
            })?;
            for k in kids {
                if !out.contains(&k.id) {
                    out.push(k.id);
                }
            }
            i += 1;
        }
        return Ok(Some(out));
    }
    let kinds: Vec<&str> = ws.config.kinds.keys().map(String::as_str).collect();
    let near = evident_core::suggest::closest(scope, kinds.iter().copied().chain(["all"]));
    Err(
        EngineError::user(format!("`{scope}` is neither an item, a kind, nor `all`")).hint(
            format!(
                "{}pass --scope all, a kind ({}), or an item id",
                evident_core::suggest::did_you_mean(&near),
                kinds.join(", ")
            ),
        ),
    )
}

pub fn readiness(ws: &mut Workspace, scope: &str) -> Result<Readiness> {
    let ids = scope_ids(ws, scope)?;
    let report = check(ws, ids.as_deref(), &Which::Ahead)?;
    let mut cats: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failing = Vec::new();
    let (mut passed, mut total) = (0, 0);
    let mut ready = true;
    for it in &report.items {
        // A held status entered by a journaled override is the accepted exception: not scored.
        for g in it.gates.iter().filter(|g| !g.overridden) {
            for c in &g.criteria {
                let e = cats.entry(c.category.clone()).or_default();
                e.1 += 1;
                total += 1;
                if c.pass {
                    e.0 += 1;
                    passed += 1;
                } else {
                    if g.severity == Severity::Enforcing {
                        ready = false;
                    }
                    failing.push(FailingCheck {
                        item: it.id.clone(),
                        gate: g.gate.clone(),
                        criterion: c.id.clone(),
                        category: c.category.clone(),
                        severity: g.severity,
                        detail: c.detail.clone(),
                        hint: c.hint.clone(),
                        held: g.held,
                    });
                }
            }
        }
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failing {
        let a = f
            .hint
            .clone()
            .unwrap_or_else(|| format!("{}: {}", f.criterion, f.detail));
        *counts.entry(a).or_default() += 1;
    }
    let mut top_actions: Vec<Action> = counts
        .into_iter()
        .map(|(action, checks)| Action { action, checks })
        .collect();
    top_actions.sort_by(|a, b| b.checks.cmp(&a.checks).then(a.action.cmp(&b.action)));
    top_actions.truncate(5);
    Ok(Readiness {
        scope: scope.to_string(),
        ready,
        passed,
        total,
        items: report.items.len(),
        categories: cats
            .into_iter()
            .map(|(category, (passed, total))| CategoryScore {
                category,
                passed,
                total,
            })
            .collect(),
        failing,
        top_actions,
        evaluated: report.evaluated,
        cached: report.cached,
    })
}

// ---------------------------------------------------------------------------------------------
// lanes

#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    pub id: String,
    pub name: String,
    pub owner_artifact: Option<String>,
    pub evidence: Option<EvidenceCheck>,
    pub next_action: Option<String>,
    /// The next action's status when it names an item.
    pub next_action_status: Option<String>,
    pub cadence: Option<String>,
    /// When the owner artifact last changed (RFC 3339), from git or the file's mtime.
    pub updated_at: Option<String>,
    pub current: bool,
    /// Why the lane is not current.
    pub reasons: Vec<String>,
}

pub fn lanes(ws: &mut Workspace) -> Result<Vec<LaneStatus>> {
    let now = crate::claims::now_ms(ws)? / 1000;
    let mut out = Vec::new();
    for l in ws.config.lanes.clone() {
        let mut reasons = Vec::new();
        let mut updated: Option<i64> = None;
        match &l.owner_artifact {
            None => reasons.push("no owner artifact".to_string()),
            Some(p) => match safe_path(&ws.root, p) {
                Err(e) => reasons.push(format!("owner artifact: {e}")),
                Ok(full) if !full.exists() => {
                    reasons.push(format!("owner artifact {p} does not exist"))
                }
                Ok(full) if !full.is_file() => {
                    reasons.push(format!("owner artifact {p} is not a file"))
                }
                Ok(full) => {
                    updated = git::last_commit_time(&ws.root, p).or_else(|| {
                        std::fs::metadata(&full)
                            .ok()
                            .and_then(|m| m.modified().ok())
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs() as i64)
                    });
                }
            },
        }
        let evidence = l.evidence.as_ref().map(|spec| {
            let (verdict, detail) = verify(&ws.root, spec);
            EvidenceCheck {
                item: format!("lane:{}", l.id),
                source: "file",
                kind: spec.kind.clone(),
                spec: Some(spec.clone()),
                verdict,
                detail,
            }
        });
        match &evidence {
            None => reasons.push("no evidence source".to_string()),
            Some(e) if e.verdict != Verdict::Verified => {
                reasons.push(format!("evidence not verified: {}", e.detail))
            }
            _ => {}
        }
        let mut next_action_status = None;
        match l.next_action.as_deref().map(str::trim) {
            None | Some("") => reasons.push("no next action".to_string()),
            Some(a) => match ws.store().get_item(a)? {
                Some(it) => {
                    if it.terminal {
                        reasons.push(format!("next action {} is already {}", it.id, it.status));
                    }
                    next_action_status = Some(it.status);
                }
                // Text is a next action too; an item id (a kind's prefix, a dash, no spaces)
                // that names no item is stale or misspelt.
                None if !a.contains(char::is_whitespace)
                    && ws.config.kinds.values().any(|k| {
                        a.strip_prefix(k.prefix.as_str())
                            .is_some_and(|r| r.starts_with('-') && r.len() > 1)
                    }) =>
                {
                    reasons.push(format!("next action {a} names no known item"))
                }
                None => {}
            },
        }
        if let (Some(c), Some(u)) = (l.cadence_secs, updated) {
            let age = now - u;
            if age > c as i64 {
                reasons.push(format!(
                    "last updated {} days ago, older than its cadence ({})",
                    age / 86_400,
                    l.cadence.clone().unwrap_or_default()
                ));
            }
        }
        out.push(LaneStatus {
            id: l.id.clone(),
            name: l.name.clone(),
            owner_artifact: l.owner_artifact.clone(),
            evidence,
            next_action: l.next_action.clone(),
            next_action_status,
            cadence: l.cadence.clone(),
            updated_at: updated.and_then(|s| {
                chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            current: reasons.is_empty(),
            reasons,
        });
    }
    Ok(out)
}
