//! The consistency engine: `check` compares a checkout's documents with the store and reports
//! every difference with a stable code; `fix` applies what the files have ahead, writes what the
//! store has ahead back into the files (only the status bytes), and commits that writeback.
//!
//! Order of a `fix`: optional `git pull --ff-only`; the pull gate (a repository behind its
//! upstream gets no write at all); an index pass (new items, file edits forward, gone items);
//! then writeback of the drift that remains, skipping documents with uncommitted changes, and
//! one commit. A second `fix` finds nothing to do: no write, no commit, no event (I4).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use evident_codec::{apply_status_edit, parse_document, render_status_value, StatusEdit};
use evident_core::gate::Severity as GateSeverity;
use evident_core::truth::{merge_file_status, FileStatusDecision};
use evident_core::workflow::TransitionCheck;
use evident_core::{DiagCode, Severity, StatusDef};
use evident_store::{action, Drift, FileChange, ItemFilter, NewEvent};
use serde::Serialize;

use crate::fsutil::atomic_write;
use crate::gates::{self, Which};
use crate::index::{
    index_paths, index_planned, load_planned, plan, IndexOutcome, NoProgress, Plan,
};
use crate::{git, EngineError, Result, Workspace};

/// One finding of `check` or `fix`.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub item: Option<String>,
    pub path: String,
    pub line: u32,
    pub message: String,
    /// What `fix` does (in `check`) or did (in `fix`) about it.
    pub action: String,
    /// For status findings: the store's and the document's status (canonical keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_status: Option<String>,
}

impl Finding {
    fn new(
        code: DiagCode,
        item: Option<&str>,
        path: &str,
        line: u32,
        message: String,
        action: &str,
    ) -> Finding {
        Finding {
            code: code.code(),
            name: code.slug(),
            severity: code.severity(),
            item: item.map(str::to_string),
            path: path.to_string(),
            line,
            message,
            action: action.to_string(),
            store_status: None,
            file_status: None,
        }
    }

    fn statuses(mut self, store: &StatusDef, file: &StatusDef) -> Finding {
        self.store_status = Some(store.key.clone());
        self.file_status = Some(file.key.clone());
        self
    }

    fn severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }
}

/// What a `check` or `fix` found and did in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub repo: String,
    pub mode: &'static str,
    pub behind_upstream: Option<u64>,
    pub findings: Vec<Finding>,
    pub index: Option<IndexOutcome>,
    /// Documents whose status was written back.
    pub written: Vec<String>,
    /// The writeback commit.
    pub commit: Option<String>,
    /// With `--dry-run`: the changes `fix` would write.
    pub diff: Option<String>,
}

/// Stop the process here when `EVIDENT_FAILPOINT` names this point: the simulation's way of
/// crashing `fix` half-way, to prove the next run completes it.
fn failpoint(name: &str) {
    if std::env::var("EVIDENT_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::exit(86);
    }
}

impl Report {
    /// Does anything still need attention?
    pub fn needs_attention(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity >= Severity::Warning)
    }
}

/// Options of `fix`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixOptions {
    pub pull: bool,
    pub writeback: bool,
    pub dry_run: bool,
}

const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

fn status_of(ws: &Workspace, kind: &str, key: &str) -> Option<StatusDef> {
    let k = ws.config.kind(kind)?;
    ws.config.workflow_of(k).status(key).cloned()
}

/// Compare the checkout with the store without writing anything.
pub fn check(ws: &mut Workspace) -> Result<Report> {
    let behind = pull_gate(ws);
    let mut findings = Vec::new();
    if let Some(n) = behind.filter(|&n| n > 0) {
        findings.push(
            Finding::new(
                DiagCode::BehindUpstream,
                None,
                ".",
                0,
                format!("the repository is {n} commit(s) behind its upstream"),
                "none (fix writes nothing here until `git pull` or `evident fix --pull`)",
            )
            .severity(Severity::Info),
        );
    }
    let p = plan(ws, false)?;
    findings.extend(compare(ws, &p)?);
    findings.extend(unbacked(ws, false)?);
    Ok(Report {
        repo: ws.checkout.clone(),
        mode: "check",
        behind_upstream: behind,
        findings,
        index: None,
        written: vec![],
        commit: None,
        diff: None,
    })
}

/// Fetch (best effort) and say how far behind the upstream HEAD is; `None` without git or an
/// upstream.
fn pull_gate(ws: &Workspace) -> Option<u64> {
    git::upstream(&ws.root)?;
    git::fetch(&ws.root, FETCH_TIMEOUT);
    git::behind(&ws.root)
}

/// Every difference between the checkout's documents and the store, read-only.
fn compare(ws: &mut Workspace, p: &Plan) -> Result<Vec<Finding>> {
    let checkout = ws.checkout.clone();
    let mut out = Vec::new();
    let mut reread = std::collections::HashSet::new();
    crate::index::starting_pass(p.to_read.len());
    // Read and parsed a chunk at a time, on the worker threads, then compared in order.
    for chunk in p.to_read.chunks(crate::index::CHUNK) {
        let changes = load_planned(ws, p, chunk);
        // Touched but byte-identical documents say what the store remembers: the drift query
        // below covers them.
        let updated: Vec<(String, evident_store::FileUpdate)> = chunk
            .iter()
            .zip(changes)
            .filter_map(|(&i, change)| match change {
                FileChange::Update(up) => Some((p.found[i].rel.clone(), up)),
                FileChange::Touched(..) => None,
            })
            .collect();
        // What the store holds about this chunk's documents and items, in one round.
        let paths: Vec<String> = updated
            .iter()
            .filter(|(_, up)| !up.broken)
            .map(|(rel, _)| rel.clone())
            .collect();
        let ids: Vec<String> = updated
            .iter()
            .filter(|(_, up)| !up.broken)
            .flat_map(|(_, up)| up.items.iter().map(|it| it.item.id.clone()))
            .collect();
        let mut stored = ws.store().compare_rows(&checkout, &paths, &ids)?;
        for (rel, up) in updated {
            reread.insert(rel.clone());
            if up.broken {
                continue; // parse errors are store diagnostics too once indexed; reported below
            }
            let declared: std::collections::HashSet<&str> =
                up.items.iter().map(|it| it.item.id.as_str()).collect();
            for gone in stored.ids_at.remove(&rel).unwrap_or_default() {
                if !declared.contains(gone.as_str()) {
                    out.push(Finding::new(
                        DiagCode::FileGone,
                        Some(&gone),
                        &rel,
                        0,
                        format!("{gone} is no longer declared in {rel}"),
                        "fix removes it from the store",
                    ));
                }
            }
            for it in &up.items {
                let id = it.item.id.as_str();
                let Some(state) = stored.items.get(id) else {
                    out.push(Finding::new(
                        DiagCode::NotIndexed,
                        Some(id),
                        &rel,
                        it.item.line,
                        format!("{id} is declared in {rel} but not in the store"),
                        "fix indexes it",
                    ));
                    continue;
                };
                let (Some(file), Some(eff)) =
                    (it.status.clone(), status_of(ws, &state.kind, &state.status))
                else {
                    continue;
                };
                if file.key == eff.key {
                    continue;
                }
                let last = state.file_status.clone();
                out.push(classify(
                    ws,
                    &state.kind,
                    id,
                    &rel,
                    it.item.status_line(),
                    &eff,
                    &file,
                    last.as_deref(),
                ));
            }
        }
    }
    for rel in &p.removed {
        for gone in ws.store().ids_at(&checkout, rel)? {
            out.push(Finding::new(
                DiagCode::FileGone,
                Some(&gone),
                rel,
                0,
                format!("{gone}'s document {rel} is gone"),
                "fix removes it from the store",
            ));
        }
    }
    // Documents that did not change since the last index: the store knows what they say.
    for d in ws.store().drift(&checkout)? {
        if reread.contains(&d.path) {
            continue;
        }
        if let Some(f) = drift_finding(ws, &d) {
            out.push(f);
        }
    }
    for d in ws.store().diagnostics()? {
        out.push(Finding {
            code: d.code.code(),
            name: d.code.slug(),
            severity: d.severity,
            item: d.item.clone(),
            path: d.path.clone(),
            line: d.line,
            message: d.message.clone(),
            action: format!("none ({})", d.hint),
            store_status: None,
            file_status: None,
        });
    }
    out.sort_by(|a, b| (&a.path, a.line, a.code).cmp(&(&b.path, b.line, b.code)));
    Ok(out)
}

/// A changed document's status against the store's.
#[allow(clippy::too_many_arguments)]
fn classify(
    ws: &Workspace,
    kind: &str,
    id: &str,
    path: &str,
    line: u32,
    eff: &StatusDef,
    file: &StatusDef,
    last: Option<&str>,
) -> Finding {
    let finding = match merge_file_status(Some(eff), last, file) {
        FileStatusDecision::Apply => {
            let allowed = ws
                .config
                .kind(kind)
                .map(|k| ws.config.workflow_of(k).check(eff, file))
                .is_none_or(|c| !matches!(c, TransitionCheck::NotAllowed));
            if allowed {
                Finding::new(
                    DiagCode::FileAhead,
                    Some(id),
                    path,
                    line,
                    format!("{id}: the file says `{}`, the store `{}`", file.key, eff.key),
                    "fix applies it to the store",
                )
            } else {
                Finding::new(
                    DiagCode::TransitionNotAllowed,
                    Some(id),
                    path,
                    line,
                    format!("{id}: `{}` → `{}` is not an allowed transition", eff.key, file.key),
                    "fix applies it (files own their edits); use `evident move` to validate transitions",
                )
            }
        }
        FileStatusDecision::RefuseRegression => Finding::new(
            DiagCode::StatusLoweredInFile,
            Some(id),
            path,
            line,
            format!("{id}: the file lowers `{}` to `{}` without a reopen", eff.key, file.key),
            "kept in the store; run `evident reopen` to lower it",
        ),
        _ if file.rank < eff.rank => Finding::new(
            DiagCode::StoreAhead,
            Some(id),
            path,
            line,
            format!("{id}: the store is ahead of the file (store `{}`, file `{}`); regression prevented", eff.key, file.key),
            "fix writes the store's status back",
        ),
        _ => Finding::new(
            DiagCode::EqualRankConflict,
            Some(id),
            path,
            line,
            format!("{id}: store `{}` and file `{}` have equal rank; the store's stands", eff.key, file.key),
            "fix writes the store's status back",
        ),
    };
    finding.statuses(eff, file)
}

fn drift_finding(ws: &Workspace, d: &Drift) -> Option<Finding> {
    let eff = status_of(ws, &d.kind, &d.status)?;
    let file = status_of(ws, &d.kind, &d.file_status)?;
    Some(classify(
        ws,
        &d.kind,
        &d.id,
        &d.path,
        d.finding_line(),
        &eff,
        &file,
        Some(&d.file_status),
    ))
}

/// Reconcile the checkout with the store.
pub fn fix(ws: &mut Workspace, opts: FixOptions) -> Result<Report> {
    let mut findings = Vec::new();
    if opts.pull && !opts.dry_run && git::upstream(&ws.root).is_some() {
        if let Err(e) = git::pull_ff_only(&ws.root) {
            findings.push(Finding::new(
                DiagCode::PullFailed,
                None,
                ".",
                0,
                format!("git pull --ff-only failed: {e}"),
                "continued without pulling",
            ));
        }
    }
    let behind = pull_gate(ws);
    let mut report = Report {
        repo: ws.checkout.clone(),
        mode: "fix",
        behind_upstream: behind,
        findings: vec![],
        index: None,
        written: vec![],
        commit: None,
        diff: None,
    };
    if let Some(n) = behind.filter(|&n| n > 0) {
        findings.push(Finding::new(
            DiagCode::BehindUpstream,
            None,
            ".",
            0,
            format!("the repository is {n} commit(s) behind its upstream; pull before fixing so remote progress is not clobbered"),
            "nothing written in this repository",
        ));
        let p = plan(ws, false)?;
        findings.extend(compare(ws, &p)?.into_iter().map(|mut f| {
            f.action = "none (behind upstream)".into();
            f
        }));
        findings.extend(unbacked(ws, false)?);
        report.findings = findings;
        return Ok(report);
    }
    // One walk serves both the comparison and the index pass.
    let p = plan(ws, false)?;
    let before = compare(ws, &p)?;
    if opts.dry_run {
        let drift = planned_drift(ws, &before);
        let (diff, _) = writeback(ws, &drift, true)?;
        report.diff = Some(diff);
        findings.extend(before.into_iter().map(|mut f| {
            f.action = format!("would: {}", f.action.trim_start_matches("fix "));
            f
        }));
        findings.extend(unbacked(ws, false)?);
        report.findings = findings;
        return Ok(report);
    }
    report.index = Some(index_planned(ws, p, &NoProgress)?);
    let mut after_index: Vec<Finding> = Vec::new();
    if opts.writeback {
        let checkout = ws.checkout.clone();
        let drift: Vec<Drift> = ws.store().drift(&checkout)?;
        let drift: Vec<Drift> = drift
            .into_iter()
            .filter(|d| {
                // Only what the store has ahead or at equal rank; refused lowerings stay visible.
                matches!((status_of(ws, &d.kind, &d.status), status_of(ws, &d.kind, &d.file_status)), (Some(e), Some(f)) if e.rank >= f.rank)
            })
            .collect();
        // A writeback that died before its commit left these documents written but uncommitted.
        let pending = ws.store().pending_writeback(&checkout)?;
        let is_repo = git::is_repo(&ws.root);
        let dirty = {
            let paths: Vec<&str> = drift
                .iter()
                .map(|d| d.path.as_str())
                .chain(pending.iter().map(String::as_str))
                .collect();
            if paths.is_empty() || !is_repo {
                Default::default()
            } else {
                git::dirty(&ws.root, &paths)
            }
        };
        let (clean, skipped): (Vec<Drift>, Vec<Drift>) = drift
            .into_iter()
            .partition(|d| !dirty.contains(&d.path) || pending.contains(&d.path));
        for d in &skipped {
            after_index.push(Finding::new(
                DiagCode::UncommittedChanges,
                Some(&d.id),
                &d.path,
                d.finding_line(),
                format!(
                    "{} has uncommitted changes; {} stays `{}` there (store `{}`)",
                    d.path, d.id, d.file_status, d.status
                ),
                "writeback skipped; commit or stash, then run fix again",
            ));
        }
        let mut intent: Vec<String> = pending.clone();
        intent.extend(clean.iter().map(|d| d.path.clone()));
        intent.sort();
        intent.dedup();
        if !intent.is_empty() {
            ws.store().set_pending_writeback(&checkout, &intent)?;
        }
        failpoint("fix:before-write");
        let (_, written) = writeback(ws, &clean, false)?;
        failpoint("fix:after-write");
        let recovered: Vec<String> = pending
            .iter()
            .filter(|p| dirty.contains(*p) && !written.contains(p))
            .cloned()
            .collect();
        if !written.is_empty() || !recovered.is_empty() {
            let ctx = ws.event_context("fix");
            for d in clean.iter().filter(|d| written.contains(&d.path)) {
                let reason = format!("status written back into {}", d.path);
                let e = NewEvent {
                    item: &d.id,
                    action: action::WRITEBACK,
                    from: Some(&d.file_status),
                    to: Some(&d.status),
                    reason: Some(&reason),
                };
                ws.store().append_event(&e, &ctx)?;
            }
            let mut touched: Vec<String> = written.clone();
            touched.extend(recovered.iter().cloned());
            index_paths(ws, &touched, "fix")?;
            failpoint("fix:after-index");
            if is_repo {
                let paths: Vec<&str> = touched.iter().map(String::as_str).collect();
                let mut body: String = clean
                    .iter()
                    .filter(|d| written.contains(&d.path))
                    .map(|d| format!("{}: {} → {}\n", d.id, d.file_status, d.status))
                    .collect();
                for p in &recovered {
                    body.push_str(&format!("{p}: completes an interrupted writeback\n"));
                }
                let trailer = format!("Evident-Run: {}", ctx.correlation_id);
                match git::commit(
                    &ws.root,
                    &paths,
                    "chore(evident): sync status from store",
                    body.trim_end(),
                    &trailer,
                ) {
                    Ok(sha) => report.commit = Some(sha),
                    Err(e) => after_index.push(Finding::new(
                        DiagCode::CommitFailed,
                        None,
                        ".",
                        0,
                        format!("the writeback commit failed: {e}"),
                        "files were written; commit them yourself or fix git and run fix again",
                    )),
                }
            }
            report.written = touched;
        }
        let commit_failed = after_index
            .iter()
            .any(|f| f.code == DiagCode::CommitFailed.code());
        if !intent.is_empty() && !commit_failed {
            ws.store().set_pending_writeback(&checkout, &[])?;
        }
    }
    // What was found, with what was done about it.
    for mut f in before {
        f.action = match f.code {
            "EV201" => "indexed".into(),
            "EV202" => "removed from the store".into(),
            "EV203" | "EV206" => "applied to the store".into(),
            "EV204" | "EV205" if !opts.writeback => "none (--no-writeback)".into(),
            "EV204" | "EV205" if report.written.contains(&f.path) => "written back".into(),
            "EV117" if report.written.contains(&f.path) => {
                "the store's status written back (run `evident reopen` to lower it)".into()
            }
            "EV204" | "EV205" => "not written back".into(),
            _ => f.action,
        };
        let done = matches!(
            f.action.as_str(),
            "indexed" | "removed from the store" | "applied to the store" | "written back"
        ) || f.action.starts_with("the store's status written back");
        if done {
            f.severity = Severity::Info;
        }
        findings.push(f);
    }
    findings.extend(after_index);
    findings.extend(unbacked(ws, true)?);
    report.findings = findings;
    Ok(report)
}

/// EV211: items holding a status guarded by an enforcing gate they do not meet (a status edited
/// into a file skips `move`'s guard; evidence can stop verifying after the move). Only items in
/// guarded statuses are evaluated, through the gate cache, and none (no query at all) when no
/// enforcing gate is configured. `persist` caches fresh results (`fix`); `check` writes nothing.
fn unbacked(ws: &mut Workspace, persist: bool) -> Result<Vec<Finding>> {
    let mut guarded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in ws
        .config
        .gates
        .iter()
        .filter(|g| g.severity == GateSeverity::Enforcing)
    {
        guarded
            .entry(g.kind.clone())
            .or_default()
            .extend(g.into.iter().cloned());
    }
    let mut at: HashMap<String, (String, u32)> = HashMap::new();
    let mut ids = Vec::new();
    for (kind, statuses) in guarded {
        let filter = ItemFilter {
            kinds: vec![kind],
            statuses: statuses.into_iter().collect(),
            ..Default::default()
        };
        for it in ws.store().list_items(&filter)? {
            at.insert(it.id.clone(), (it.path.clone(), it.line));
            ids.push(it.id);
        }
    }
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let report = if persist {
        gates::check(ws, Some(&ids), &Which::Held)?
    } else {
        gates::check_read_only(ws, Some(&ids), &Which::Held)?
    };
    let mut out = Vec::new();
    for it in report.items {
        let failing: Vec<String> = it
            .gates
            .iter()
            .filter(|g| g.blocks())
            .map(|g| format!("{} ({})", g.gate, g.failing().join(", ")))
            .collect();
        if failing.is_empty() {
            continue;
        }
        let (path, line) = at.remove(&it.id).unwrap_or_default();
        let label = status_of(ws, &it.kind, &it.status)
            .map(|s| s.label)
            .unwrap_or_else(|| it.status.clone());
        out.push(Finding::new(
            DiagCode::UnbackedStatus,
            Some(&it.id),
            &path,
            line,
            format!(
                "{} is `{label}` but does not meet its gate: {}",
                it.id,
                failing.join("; ")
            ),
            &format!(
                "none: meet the gate (`evident gate check {}` lists what fails), or lower the status with `evident reopen {} STATUS --reason R`",
                it.id, it.id
            ),
        ));
    }
    Ok(out)
}

/// The drift a dry run would write back: the store-ahead findings, as drift rows.
fn planned_drift(ws: &mut Workspace, findings: &[Finding]) -> Vec<Drift> {
    let mut out = Vec::new();
    for f in findings
        .iter()
        .filter(|f| f.code == "EV204" || f.code == "EV205")
    {
        let (Some(id), Some(status), Some(file_status)) =
            (&f.item, &f.store_status, &f.file_status)
        else {
            continue;
        };
        let Ok(Some((kind, _))) = ws.store().kind_status(id) else {
            continue;
        };
        out.push(Drift {
            id: id.clone(),
            kind,
            status: status.clone(),
            status_rank: None,
            file_status: file_status.clone(),
            path: f.path.clone(),
            line: f.line,
            status_line: None,
        });
    }
    out
}

/// Write the store's statuses into the documents of `drift` (or, with `dry_run`, only describe
/// it). Returns the diff text and the paths written. Documents that fail to parse are skipped.
fn writeback(ws: &mut Workspace, drift: &[Drift], dry_run: bool) -> Result<(String, Vec<String>)> {
    let mut by_path: BTreeMap<&str, Vec<&Drift>> = BTreeMap::new();
    for d in drift {
        by_path.entry(d.path.as_str()).or_default().push(d);
    }
    let mut diff = String::new();
    let mut written = Vec::new();
    for (rel, items) in by_path {
        let abs = ws.abs(rel);
        let Ok(text) = std::fs::read_to_string(&abs) else {
            continue;
        };
        let doc = parse_document(rel, &text, &ws.config);
        if doc.broken {
            continue;
        }
        let mut edits: Vec<StatusEdit> = Vec::new();
        for d in &items {
            let Some(p) = doc.items.iter().find(|p| p.item.id == d.id) else {
                continue;
            };
            let Some(to) = status_of(ws, &d.kind, &d.status) else {
                continue;
            };
            match render_status_value(&text, &p.status_span, &to.key, &to.name) {
                Ok(e) => edits.push(e),
                Err(_) => continue,
            }
        }
        if edits.is_empty() {
            continue;
        }
        edits.sort_by_key(|e| std::cmp::Reverse(e.start));
        let mut new_text = text.clone();
        for e in &edits {
            new_text = apply_status_edit(&new_text, e);
        }
        if new_text == text {
            continue;
        }
        diff.push_str(&line_diff(rel, &text, &new_text));
        if dry_run {
            continue;
        }
        let check = parse_document(rel, &new_text, &ws.config);
        if check.broken || check.items.len() != doc.items.len() {
            return Err(EngineError::user(format!(
                "writing statuses into {rel} would not round-trip; nothing was written to it"
            ))
            .at(rel.to_string())
            .hint("please report this with the document attached"));
        }
        atomic_write(&abs, new_text.as_bytes())?;
        written.push(rel.to_string());
    }
    Ok((diff, written))
}

/// A minimal unified-style diff of whole lines that differ (status edits never add lines).
fn line_diff(rel: &str, old: &str, new: &str) -> String {
    let mut s = format!("--- a/{rel}\n+++ b/{rel}\n");
    let (o, n): (Vec<&str>, Vec<&str>) = (old.split('\n').collect(), new.split('\n').collect());
    for (i, (a, b)) in o.iter().zip(n.iter()).enumerate() {
        if a != b {
            s.push_str(&format!(
                "@@ line {} @@\n-{}\n+{}\n",
                i + 1,
                a.trim_end_matches('\r'),
                b.trim_end_matches('\r')
            ));
        }
    }
    s
}
