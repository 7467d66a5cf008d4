//! One index pass, written once for every backend. The truth-model merge, duplicate-id
//! detection, removal of undeclared items and the graph checks are the product's heart (I1, I2),
//! so they must not exist in one copy per database: each backend supplies the small set of
//! primitive reads and writes in [`IndexWriter`], run inside its own write transaction, and
//! [`apply_index`] decides everything.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use evident_core::truth::{merge_file_status, FileStatusDecision};
use evident_core::{DiagCode, Diagnostic, StatusDef};

use crate::model::*;
use crate::Result;

/// The upserts of an index pass, one text for both backends: `$N` is PostgreSQL's placeholder,
/// and SQLite reads it as a named parameter numbered by first appearance, which these texts
/// keep in order, so positional binding means the same on both.
pub(crate) const UPSERT_ITEM: &str =
    "INSERT INTO items (id, kind, title, status, status_rank, terminal, priority, priority_rank,
       parent, lane, owner, labels, depends_on, checkout, path, line, fields, sections, content_hash, updated_at, blocked,
       parent_line, depends_line)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title, status = excluded.status,
       status_rank = excluded.status_rank, terminal = excluded.terminal,
       priority = excluded.priority, priority_rank = excluded.priority_rank, parent = excluded.parent,
       lane = excluded.lane, owner = excluded.owner, labels = excluded.labels, depends_on = excluded.depends_on,
       checkout = excluded.checkout, path = excluded.path, line = excluded.line, fields = excluded.fields,
       sections = excluded.sections, content_hash = excluded.content_hash,
       parent_line = excluded.parent_line, depends_line = excluded.depends_line,
       updated_at = CASE WHEN items.content_hash = excluded.content_hash AND items.status = excluded.status
                         THEN items.updated_at ELSE excluded.updated_at END";
pub(crate) const UPSERT_SOURCE: &str =
    "INSERT INTO item_sources (checkout, id, path, line, file_status, drifted, status_line) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (checkout, id) DO UPDATE SET path = excluded.path, line = excluded.line,
       file_status = excluded.file_status, drifted = excluded.drifted, status_line = excluded.status_line";
pub(crate) const UPSERT_FILE: &str =
    "INSERT INTO files (checkout, path, size, mtime_ns, hash, broken, recheck) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (checkout, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
       hash = excluded.hash, broken = excluded.broken, recheck = excluded.recheck";

/// The items a checkout's document holds: those whose row names that checkout and path. Every
/// item row has its checkout's source row, at the same path (both are written together, and an
/// item whose source goes is released and, unless declared again, removed in the same pass),
/// so the sources' (checkout, path) index finds them: the items table needs no index of its
/// own for this (schema 7), one sorted index build fewer in a first index.
pub(crate) const ITEM_IDS_AT: &str = "SELECT s.id FROM item_sources s JOIN items i ON i.id = s.id
     WHERE s.checkout = $1 AND s.path = $2 AND i.checkout = $1 AND i.path = $2";

/// SET_META works on both backends (both spell an upsert this way).
pub(crate) const SET_META: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The status an item had when it was removed, when the journal's latest event for it is that
/// removal (see [`IndexWriter::removed_status`]); no row otherwise.
pub(crate) const REMOVED_STATUS: &str = "SELECT from_status FROM events
     WHERE seq = (SELECT max(seq) FROM events WHERE item = $1) AND action = 'removed'";

/// The `meta` key of a checkout's parse fingerprint.
pub(crate) fn fingerprint_key(checkout: &str) -> String {
    format!("parse_fingerprint:{checkout}")
}

/// An id a document declares (at `line`) that `winner`, before it by path, took in a pass.
struct LostId {
    id: String,
    line: u32,
    winner: String,
}

fn duplicate_id(id: &str, path: &str, line: u32, other: &str) -> Diagnostic {
    Diagnostic::new(
        DiagCode::DuplicateId,
        path,
        line,
        format!("id {id} is already declared by {other}; this one is not indexed"),
        "give one of them a new id (ids must be unique across the repository)",
    )
    .with_item(id)
}

/// Tell a document that lost ids to one before it by path that those are not indexed, and have
/// the next pass parse it again (as every document with a duplicate id is), so it takes an id
/// back once the other declaration is gone.
fn report_displaced(
    w: &mut dyn IndexWriter,
    checkout: &str,
    path: &str,
    lost: &[LostId],
) -> Result<()> {
    for l in lost {
        w.insert_diagnostic(
            checkout,
            &duplicate_id(&l.id, path, l.line, &l.winner),
            "file",
        )?;
    }
    w.mark_recheck(checkout, path)
}

/// What the store holds for an item being re-indexed.
pub(crate) struct Existing {
    pub status: String,
    pub rank: Option<i64>,
    pub terminal: bool,
    /// What this checkout's file said when it last read the item.
    pub last_file_status: Option<String>,
    pub checkout: String,
    pub path: String,
    pub content_hash: String,
    pub parent: Option<String>,
    /// JSON array.
    pub depends_on: String,
    pub line: u32,
}

/// One item's row as written by an index pass.
pub(crate) struct ItemWrite<'a> {
    pub it: &'a IndexedItem,
    pub status: &'a str,
    pub rank: Option<i64>,
    pub terminal: bool,
    pub checkout: &'a str,
    pub path: &'a str,
    pub at: &'a str,
    /// The `blocked` flag a newly inserted row starts with (an update keeps the stored one;
    /// either way [`IndexWriter::refresh_blocked`] or [`IndexWriter::set_blocked`] settles it).
    pub blocked: bool,
}

/// An item's position in the graph, for the cycle and dangling-reference checks.
pub(crate) struct GraphRow {
    pub id: String,
    pub parent: Option<String>,
    pub deps: Vec<String>,
    /// Shared: a first index has one checkout, and a workplan's tasks one path.
    pub checkout: Arc<str>,
    pub path: Arc<str>,
    pub line: u32,
    /// The lines of its `parent` and `depends_on` fields (the item's `line` where unknown).
    pub lines: evident_core::item::FieldLines,
}

/// The primitive operations of an index pass, inside one backend write transaction.
pub(crate) trait IndexWriter {
    /// Whether the store holds no item at all (a first, bulk index).
    fn store_is_empty(&mut self) -> Result<bool>;
    /// Called once before streaming into an empty store, and once after, with `false`.
    fn bulk_load(&mut self, starting: bool) -> Result<()>;
    fn replace_walk_diagnostics(&mut self, checkout: &str, diags: &[Diagnostic]) -> Result<()>;
    /// Set (insert or replace) one `meta` row.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    fn insert_diagnostic(&mut self, checkout: &str, d: &Diagnostic, scope: &str) -> Result<()>;
    fn delete_file_diagnostics(&mut self, checkout: &str, path: &str) -> Result<()>;
    /// Ids of the items whose source document is `path` in `checkout`.
    fn item_ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>>;
    fn delete_sources_at(&mut self, checkout: &str, path: &str) -> Result<()>;
    fn touch_file(&mut self, checkout: &str, path: &str, st: &FileState) -> Result<()>;
    fn existing(&mut self, id: &str, checkout: &str) -> Result<Option<Existing>>;
    fn insert_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<i64>;
    #[allow(clippy::too_many_arguments)]
    /// `status_line`: where the document writes the status (`None` where it writes none).
    fn upsert_source(
        &mut self,
        checkout: &str,
        id: &str,
        path: &str,
        line: u32,
        file_status: Option<&str>,
        drifted: bool,
        status_line: Option<u32>,
    ) -> Result<()>;
    /// Recompute every checkout's `drifted` flag for `id`, whose effective status is `status`.
    fn refresh_drift(&mut self, id: &str, status: &str) -> Result<()>;
    fn upsert_item(&mut self, w: &ItemWrite<'_>) -> Result<()>;
    /// Replace `id`'s dependency edges (`known`: the item had edges before).
    fn replace_deps(&mut self, id: &str, deps: &[String], known: bool) -> Result<()>;
    /// Forget which items `checkout`'s document at `path` declared, except `declared`.
    fn prune_sources(&mut self, checkout: &str, path: &str, declared: &[&str]) -> Result<()>;
    fn upsert_file(
        &mut self,
        checkout: &str,
        path: &str,
        st: &FileState,
        broken: bool,
        recheck: bool,
    ) -> Result<()>;
    fn delete_file(&mut self, checkout: &str, path: &str) -> Result<()>;
    /// Have the next pass parse `path` again whatever its bytes.
    fn mark_recheck(&mut self, checkout: &str, path: &str) -> Result<()>;
    /// Delete an item and its edges; its status before, if it existed.
    fn remove_item(&mut self, id: &str) -> Result<Option<String>>;
    /// Whether some item depends on `id` or names it as parent.
    fn is_referenced(&mut self, id: &str) -> Result<bool>;
    fn item_known(&mut self, id: &str) -> Result<bool>;
    /// The status an item had when it was removed, if the journal's latest event for it is
    /// its removal (its document went away and it was not declared again since).
    fn removed_status(&mut self, id: &str) -> Result<Option<String>>;
    /// Recompute `blocked` for `ids` and their dependents, or for every item.
    fn refresh_blocked(&mut self, ids: Option<&[String]>) -> Result<()>;
    /// Set one item's `blocked` flag, decided by the caller.
    fn set_blocked(&mut self, id: &str, blocked: bool) -> Result<()>;
    fn graph_rows(&mut self) -> Result<Vec<GraphRow>>;
    fn clear_graph_diagnostics(&mut self) -> Result<()>;
    /// A first load's graph checks over `rows` (every item): a backend that can run them while
    /// it finishes the load, and record their diagnostics before it commits, takes the rows
    /// (`None`); otherwise they come back, for the pass to check now.
    fn check_graph_later(&mut self, rows: Vec<GraphRow>) -> Result<Option<Vec<GraphRow>>> {
        Ok(Some(rows))
    }
}

pub(crate) fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn dangling_parent(id: &str, parent: &str, path: &str, line: u32) -> Diagnostic {
    Diagnostic::new(
        DiagCode::DanglingParent,
        path,
        line,
        format!("{id} names parent {parent}, which is not a known item"),
        format!("create {parent}, fix the parent field, or remove it"),
    )
    .with_item(id)
}

fn dangling_dependency(id: &str, dep: &str, path: &str, line: u32) -> Diagnostic {
    Diagnostic::new(
        DiagCode::DanglingDependency,
        path,
        line,
        format!("{id} depends on {dep}, which is not a known item"),
        format!("create {dep}, or remove it from depends_on"),
    )
    .with_item(id)
}

/// The graph checks over every item: dangling parents and dependencies, and cycles.
pub(crate) fn graph_diagnostics(rows: &[GraphRow]) -> Vec<(String, Diagnostic)> {
    let mut out = Vec::new();
    let ids: FxHashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut edges: Vec<(&str, Vec<&str>)> = Vec::with_capacity(rows.len());
    let mut parents: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut at: FxHashMap<&str, &GraphRow> = FxHashMap::default();
    at.reserve(rows.len());
    for r in rows {
        at.insert(&r.id, r);
        if let Some(p) = &r.parent {
            if !ids.contains(p.as_str()) {
                out.push((
                    r.checkout.to_string(),
                    dangling_parent(&r.id, p, &r.path, r.lines.parent.unwrap_or(r.line)),
                ));
            } else {
                parents.push((&r.id, vec![p.as_str()]));
            }
        }
        for dep in &r.deps {
            if !ids.contains(dep.as_str()) {
                out.push((
                    r.checkout.to_string(),
                    dangling_dependency(&r.id, dep, &r.path, r.lines.depends_on.unwrap_or(r.line)),
                ));
            }
        }
        if !r.deps.is_empty() {
            edges.push((&r.id, r.deps.iter().map(String::as_str).collect()));
        }
    }
    for (what, graph, by_parent) in [
        ("depends on", edges, false),
        ("is a descendant of", parents, true),
    ] {
        for cycle in evident_core::graph::cycles_in(graph) {
            let first = &cycle[0];
            // Named at the field that makes the first link: `parent` or `depends_on`.
            let (checkout, path, line) = match at.get(first.as_str()) {
                Some(r) => {
                    let field = if by_parent {
                        r.lines.parent
                    } else {
                        r.lines.depends_on
                    };
                    (&*r.checkout, r.path.as_ref(), field.unwrap_or(r.line))
                }
                None => ("", "", 0),
            };
            let mut chain = cycle.clone();
            chain.push(first.clone());
            let d = Diagnostic::new(
                DiagCode::DependencyCycle,
                path,
                line,
                format!("cycle: {} ({} itself)", chain.join(" → "), what),
                "remove one of the links to break the cycle",
            )
            .with_item(first);
            out.push((checkout.to_string(), d));
        }
    }
    out
}

/// What a first (bulk) index remembers of each item it inserted, so the `blocked` flags and the
/// graph checks are settled in memory instead of by reading every row back.
#[derive(Default)]
struct ColdGraph {
    rows: Vec<GraphRow>,
    /// Per row: terminal, status `blocked`, and the flag it was inserted with.
    flags: Vec<(bool, bool, bool)>,
    by_id: FxHashMap<String, usize>,
}

impl ColdGraph {
    /// The `blocked` flag from what is known so far: a dependency not seen yet counts as open.
    fn blocked_now(&self, terminal: bool, status_blocked: bool, deps: &[String]) -> bool {
        !terminal
            && (status_blocked
                || deps.iter().any(|d| match self.by_id.get(d) {
                    Some(&j) => !self.flags[j].0,
                    None => true,
                }))
    }

    /// The document (and line) that declared `id`, if it was indexed already.
    fn declared_at(&self, id: &str) -> Option<(&str, u32)> {
        self.by_id
            .get(id)
            .map(|&j| (&*self.rows[j].path, self.rows[j].line))
    }

    fn push(&mut self, row: GraphRow, terminal: bool, status_blocked: bool, inserted: bool) {
        self.by_id.insert(row.id.clone(), self.rows.len());
        self.rows.push(row);
        self.flags.push((terminal, status_blocked, inserted));
    }

    /// Rows whose flag must change now that every item is known.
    fn corrections(&self) -> Vec<(&str, bool)> {
        self.rows
            .iter()
            .zip(&self.flags)
            .filter(|(r, _)| !r.deps.is_empty())
            .filter_map(|(r, &(terminal, status_blocked, inserted))| {
                let now = self.blocked_now(terminal, status_blocked, &r.deps);
                (now != inserted).then_some((r.id.as_str(), now))
            })
            .collect()
    }
}

fn status_of_row(status: &str, rank: Option<i64>, terminal: bool) -> Option<StatusDef> {
    rank.map(|rank| StatusDef {
        key: status.to_string(),
        name: status.to_string(),
        label: status.to_string(),
        rank,
        terminal,
    })
}

/// An item indexed for the first time in an incremental pass.
struct NewItem {
    id: String,
    parent: Option<String>,
    deps: Vec<String>,
    path: String,
    line: u32,
    lines: evident_core::item::FieldLines,
}

/// The walk found the same unreadable paths as last time (compared by path and message).
pub(crate) fn same_walk(old: Vec<(String, String)>, new: &[Diagnostic]) -> bool {
    let mut new: Vec<(String, String)> = new
        .iter()
        .map(|d| (d.path.clone(), d.message.clone()))
        .collect();
    new.sort();
    old == new
}

/// Run one index pass through `w` (already inside a write transaction; the caller commits).
/// Documents the writer is done with, freed on a thread of their own: a pass's writer is its
/// slowest part (the store takes one writer), and freeing each parsed document (its strings,
/// allocated by the parse workers) was ~3.6% of a first index's writer instructions at 1k
/// items (callgrind: 47.2M → 45.5M with the documents left unfreed). Freed rather than left to
/// the exit, so that the parse workers reuse the memory. A pass of fewer than [`SPENT_BATCH`]
/// documents frees them where it is.
#[derive(Default)]
struct Spent {
    batch: Vec<FileUpdate>,
    freer: Option<std::sync::mpsc::SyncSender<Vec<FileUpdate>>>,
    /// No thread could be started: free here.
    here: bool,
}

/// Documents handed to the freeing thread at a time.
const SPENT_BATCH: usize = 64;

impl Spent {
    fn push(&mut self, up: FileUpdate) {
        if self.here {
            return;
        }
        self.batch.push(up);
        if self.batch.len() < SPENT_BATCH {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(SPENT_BATCH));
        if self.freer.is_none() {
            // A few batches may wait (bounded: a freer that falls behind slows the writer
            // rather than holding every document of a large pass).
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<FileUpdate>>(8);
            let started = std::thread::Builder::new()
                .name("free".into())
                .spawn(move || rx.into_iter().for_each(drop));
            match started {
                Ok(_) => self.freer = Some(tx),
                Err(_) => {
                    self.here = true;
                    return;
                }
            }
        }
        if let Some(tx) = &self.freer {
            if let Err(e) = tx.send(batch) {
                // The thread is gone: free here from now on.
                drop(e.0);
                self.freer = None;
                self.here = true;
            }
        }
    }
}

pub(crate) fn apply_index(
    w: &mut dyn IndexWriter,
    batch: &IndexBatch,
    changes: &mut dyn Iterator<Item = FileChange>,
    ctx: &EventContext,
) -> Result<IndexReport> {
    let mut report = IndexReport::default();
    let checkout = batch.checkout.as_str();
    if let Some(walk) = &batch.walk_diagnostics {
        w.replace_walk_diagnostics(checkout, walk)?;
    }
    if batch.is_empty() {
        return Ok(report);
    }
    if let Some(fp) = &batch.parse_fingerprint {
        w.set_meta(&fingerprint_key(checkout), fp)?;
    }
    // An empty store (first index) has nothing to look up, release or merge against.
    let cold = w.store_is_empty()?;
    // Items whose source document is re-read or gone are released; whatever is not declared
    // again by the end of the pass is removed.
    let mut released: FxHashSet<String> = FxHashSet::default();
    if !cold {
        for p in &batch.removed {
            released.extend(w.item_ids_at(checkout, p)?);
            w.delete_file_diagnostics(checkout, p)?;
            w.delete_sources_at(checkout, p)?;
        }
    }
    if cold {
        w.bulk_load(true)?;
    }
    // Which document declared each id first, for the duplicate check (a first index asks its
    // graph, which holds the same).
    let mut claimed: FxHashMap<String, (String, u32)> = FxHashMap::default();
    let cold_checkout: Arc<str> = Arc::from(checkout);
    // Items whose status or dependencies may have changed: their `blocked` flags (and their
    // dependents') are refreshed before commit.
    let mut touched_ids: Vec<String> = Vec::new();
    let mut any_update = false;
    // Dependencies, parents or the set of ids changed: the graph checks must run again.
    let mut graph_dirty = cold;
    let mut new_items: Vec<NewItem> = Vec::new();
    let mut cold_graph = ColdGraph::default();
    // Documents that lost an id to a document before them by path (first by path wins, as in a
    // full pass) and are not re-parsed by the time the pass learns it.
    let mut displaced: FxHashMap<String, Vec<LostId>> = FxHashMap::default();
    let mut spent = Spent::default();
    for change in changes {
        let mut up = match change {
            FileChange::Touched(p, st) => {
                w.touch_file(checkout, &p, &st)?;
                if let Some(lost) = displaced.remove(&p) {
                    report_displaced(w, checkout, &p, &lost)?;
                }
                continue;
            }
            FileChange::Update(u) => u,
        };
        // A document parsed again declares its ids anew (a broken one keeps none it lost).
        displaced.remove(&up.path);
        let mut cold_path: Option<Arc<str>> = None;
        any_update = true;
        if !cold {
            w.delete_file_diagnostics(checkout, &up.path)?;
            if !up.broken {
                released.extend(w.item_ids_at(checkout, &up.path)?);
            }
        }
        let mut recheck = false;
        for d in &up.diagnostics {
            w.insert_diagnostic(checkout, d, "file")?;
        }
        if !up.broken {
            for it in up.items.iter_mut() {
                let id = it.item.id.as_str();
                let existing = if cold {
                    None
                } else {
                    w.existing(id, checkout)?
                };
                let first = if cold {
                    cold_graph.declared_at(id)
                } else {
                    claimed.get(id).map(|(p, l)| (p.as_str(), *l))
                };
                let duplicate_of = if let Some((first, line)) = first {
                    // Two declarations in one document (two task blocks): name the line.
                    Some(if first == up.path {
                        format!("{first}:{line}")
                    } else {
                        first.to_string()
                    })
                } else {
                    match &existing {
                        // Another document of this checkout declared the id, is not gone and has
                        // not given it up in this pass. The first by path keeps it: an earlier
                        // one (unchanged, or re-read with the same bytes, or broken), or this
                        // document, which takes it from a later one; that one is told (now, or
                        // when the pass reaches it unchanged) unless it is parsed again.
                        Some(Existing {
                            checkout: c,
                            path: p,
                            line,
                            ..
                        }) if c == checkout && p != &up.path && !released.contains(id) => {
                            if p.as_str() < up.path.as_str() {
                                Some(p.clone())
                            } else {
                                displaced.entry(p.clone()).or_default().push(LostId {
                                    id: id.to_string(),
                                    line: *line,
                                    winner: up.path.clone(),
                                });
                                None
                            }
                        }
                        _ => None,
                    }
                };
                if let Some(other) = duplicate_of {
                    recheck = true;
                    let d = duplicate_id(id, &up.path, it.item.line, &other);
                    w.insert_diagnostic(checkout, &d, "file")?;
                    continue;
                }
                if !cold {
                    claimed.insert(id.to_string(), (up.path.clone(), it.item.line));
                }
                let deps_json = it.encoded.depends_on.as_str();
                let shape_changed = match &existing {
                    None => true,
                    Some(e) => {
                        e.parent != it.item.parent
                            || e.depends_on != deps_json
                            || e.path != up.path
                            || e.line != it.item.line
                    }
                };
                if existing.is_none() && !cold {
                    // A new item only needs the full graph pass if something already referred
                    // to it (decided below).
                    new_items.push(NewItem {
                        id: id.to_string(),
                        parent: it.item.parent.clone(),
                        deps: it.item.depends_on.clone(),
                        path: up.path.clone(),
                        line: it.item.line,
                        lines: it.item.field_lines,
                    });
                } else {
                    graph_dirty |= shape_changed;
                }
                released.remove(id);
                // Merge the file's status with the effective one (the truth model). An item that
                // comes back after its removal is merged with the status it had then, as if
                // this checkout had never read it: a lower status in the file is a stale copy
                // (kept at the old status, the file drifts until `fix`), never a regression.
                let restored = match (&existing, &it.status) {
                    (None, Some(_)) if !cold => w
                        .removed_status(id)?
                        .and_then(|s| batch.status_def(&it.item.kind, &s).cloned()),
                    _ => None,
                };
                let eff = existing
                    .as_ref()
                    .and_then(|e| status_of_row(&e.status, e.rank, e.terminal))
                    .or_else(|| restored.clone());
                let (status, rank, terminal, file_status) = match &it.status {
                    None => match &existing {
                        Some(e) => (
                            e.status.clone(),
                            e.rank,
                            e.terminal,
                            e.last_file_status.clone(),
                        ),
                        None => (it.item.status.clone(), None, false, None),
                    },
                    Some(fs) => {
                        let decision = match (&existing, &eff) {
                            (Some(_), None) => FileStatusDecision::Apply,
                            _ => merge_file_status(
                                eff.as_ref(),
                                existing
                                    .as_ref()
                                    .and_then(|e| e.last_file_status.as_deref()),
                                fs,
                            ),
                        };
                        match decision {
                            FileStatusDecision::Keep | FileStatusDecision::RefuseRegression
                                if existing.is_none() =>
                            {
                                // Restored (see above) at the status it had.
                                let r = restored.clone().unwrap_or_else(|| StatusDef::clone(fs));
                                let lower = r.key != fs.key;
                                let e = NewEvent {
                                    item: id,
                                    action: action::CREATED,
                                    from: None,
                                    to: Some(&r.key),
                                    reason: lower.then_some(
                                        "declared again after its removal; kept at the status it had (its file's is lower, and only a reopen lowers a status)",
                                    ),
                                };
                                w.insert_event(&e, ctx)?;
                                report.created += 1;
                                (
                                    r.key.clone(),
                                    Some(r.rank),
                                    r.terminal,
                                    Some(fs.key.clone()),
                                )
                            }
                            FileStatusDecision::Create | FileStatusDecision::Apply => {
                                let created =
                                    decision == FileStatusDecision::Create || existing.is_none();
                                let (act, from, reason) = if created {
                                    (action::CREATED, None, None)
                                } else {
                                    (
                                        action::TRANSITION,
                                        existing.as_ref().map(|e| e.status.as_str()),
                                        Some("status edited in file"),
                                    )
                                };
                                let e = NewEvent {
                                    item: id,
                                    action: act,
                                    from,
                                    to: Some(&fs.key),
                                    reason,
                                };
                                w.insert_event(&e, ctx)?;
                                if created {
                                    report.created += 1;
                                } else {
                                    report.status_applied += 1;
                                }
                                (
                                    fs.key.clone(),
                                    Some(fs.rank),
                                    fs.terminal,
                                    Some(fs.key.clone()),
                                )
                            }
                            FileStatusDecision::Keep => {
                                let e = existing
                                    .as_ref()
                                    .map(|e| (e.status.clone(), e.rank, e.terminal));
                                let (s, r, t) =
                                    e.unwrap_or((fs.key.clone(), Some(fs.rank), fs.terminal));
                                (s, r, t, Some(fs.key.clone()))
                            }
                            FileStatusDecision::RefuseRegression => {
                                report.status_refused += 1;
                                let (s, r, t) = existing
                                    .as_ref()
                                    .map(|e| (e.status.clone(), e.rank, e.terminal))
                                    .unwrap_or((fs.key.clone(), Some(fs.rank), fs.terminal));
                                let d = Diagnostic::new(
                                    DiagCode::StatusLoweredInFile,
                                    &up.path,
                                    it.item.status_line(),
                                    format!("{id}: the file says `{}` but the item is `{s}`; a status is only lowered by a reopen", fs.key),
                                    format!("run `evident reopen {id} {} --reason \"...\"`, or restore `{s}` in the file", fs.key),
                                )
                                .with_item(id);
                                w.insert_diagnostic(checkout, &d, "file")?;
                                // Remember what the file says: the document now lags the store,
                                // and `fix` writes the store's status back unless a reopen
                                // comes first.
                                (s, r, t, Some(fs.key.clone()))
                            }
                        }
                    }
                };
                if !cold && (shape_changed || existing.as_ref().is_some_and(|e| e.status != status))
                {
                    touched_ids.push(id.to_string());
                }
                if existing.is_none() && it.status.is_none() {
                    // Unknown status in a new item's file: still journal its creation.
                    let e = NewEvent {
                        item: id,
                        action: action::CREATED,
                        from: None,
                        to: Some(&status),
                        reason: None,
                    };
                    w.insert_event(&e, ctx)?;
                    report.created += 1;
                }
                if let Some(e) = &existing {
                    if e.content_hash != it.item.content_hash
                        || e.path != up.path
                        || e.checkout != checkout
                    {
                        report.updated += 1;
                    }
                }
                let status_blocked = cold && status == "blocked";
                let blocked =
                    cold && cold_graph.blocked_now(terminal, status_blocked, &it.item.depends_on);
                let drifted = file_status.as_deref().is_some_and(|f| f != status);
                w.upsert_source(
                    checkout,
                    id,
                    &up.path,
                    it.item.line,
                    file_status.as_deref(),
                    drifted,
                    it.item.field_lines.status,
                )?;
                if existing.as_ref().is_some_and(|e| e.status != status) {
                    // The effective status moved: other checkouts' documents may now lag.
                    w.refresh_drift(id, &status)?;
                }
                w.upsert_item(&ItemWrite {
                    it,
                    status: &status,
                    rank,
                    terminal,
                    checkout,
                    path: &up.path,
                    at: &ctx.at,
                    blocked,
                })?;
                w.replace_deps(id, &it.item.depends_on, existing.is_some())?;
                if cold {
                    // The row is written: its graph fields move into the in-memory graph.
                    let path = cold_path
                        .get_or_insert_with(|| Arc::from(up.path.as_str()))
                        .clone();
                    cold_graph.push(
                        GraphRow {
                            id: std::mem::take(&mut it.item.id),
                            parent: it.item.parent.take(),
                            deps: std::mem::take(&mut it.item.depends_on),
                            checkout: cold_checkout.clone(),
                            path,
                            line: it.item.line,
                            lines: it.item.field_lines,
                        },
                        terminal,
                        status_blocked,
                        blocked,
                    );
                }
            }
            if !cold {
                // This checkout's document no longer declares these items.
                let declared: Vec<&str> = up.items.iter().map(|it| it.item.id.as_str()).collect();
                w.prune_sources(checkout, &up.path, &declared)?;
            }
        }
        w.upsert_file(checkout, &up.path, &up.state, up.broken, recheck)?;
        spent.push(up);
    }
    drop(spent);
    // Documents that lost an id and were not read in this pass at all.
    let mut displaced: Vec<(String, Vec<LostId>)> = displaced.into_iter().collect();
    displaced.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, lost) in displaced {
        report_displaced(w, checkout, &p, &lost)?;
    }
    for p in &batch.removed {
        w.delete_file(checkout, p)?;
    }
    let mut gone: Vec<&String> = released.iter().collect();
    gone.sort();
    for id in gone {
        let status = w.remove_item(id)?;
        let e = NewEvent {
            item: id,
            action: action::REMOVED,
            from: status.as_deref(),
            to: None,
            reason: Some("no longer declared in any document"),
        };
        w.insert_event(&e, ctx)?;
        report.removed += 1;
    }
    graph_dirty |= !released.is_empty();
    if !graph_dirty && !new_items.is_empty() {
        // Nothing referred to a brand-new id, so it cannot close a cycle: check only its own
        // references. Otherwise (a reference was dangling until now) run the full pass.
        for n in &new_items {
            if w.is_referenced(&n.id)? {
                graph_dirty = true;
                break;
            }
        }
        if !graph_dirty {
            for n in &new_items {
                if let Some(p) = &n.parent {
                    if !w.item_known(p)? {
                        let line = n.lines.parent.unwrap_or(n.line);
                        let d = dangling_parent(&n.id, p, &n.path, line);
                        w.insert_diagnostic(checkout, &d, "graph")?;
                    }
                }
                for dep in &n.deps {
                    if !w.item_known(dep)? {
                        let line = n.lines.depends_on.unwrap_or(n.line);
                        let d = dangling_dependency(&n.id, dep, &n.path, line);
                        w.insert_diagnostic(checkout, &d, "graph")?;
                    }
                }
            }
        }
    }
    if cold {
        // Every row was inserted with the flag its dependencies gave when it was written; only
        // those that depended on an item indexed later can be wrong.
        for (id, blocked) in cold_graph.corrections() {
            w.set_blocked(id, blocked)?;
        }
    } else if graph_dirty {
        w.refresh_blocked(None)?;
    } else if any_update || !batch.removed.is_empty() {
        touched_ids.extend(released.iter().cloned());
        if !touched_ids.is_empty() {
            w.refresh_blocked(Some(&touched_ids))?;
        }
    }
    if graph_dirty {
        w.clear_graph_diagnostics()?;
        let rows = if cold {
            w.check_graph_later(std::mem::take(&mut cold_graph.rows))?
        } else {
            Some(w.graph_rows()?)
        };
        for (checkout, d) in rows.as_deref().map(graph_diagnostics).unwrap_or_default() {
            w.insert_diagnostic(&checkout, &d, "graph")?;
        }
    }
    if cold {
        // The secondary indexes are built last, once, over the finished rows.
        w.bulk_load(false)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn update(i: usize, status: &Arc<evident_core::StatusDef>) -> FileUpdate {
        let item = crate::testing::todo_task(&format!("T-{i}"), &format!("T-{i}.md"));
        crate::testing::one_item_update(item, Some(status.clone()))
    }

    /// Every document handed over is freed, on the freeing thread for whole batches and where
    /// it is for the rest, and none is kept once the pass is over.
    #[test]
    fn spent_documents_are_all_freed_in_batches_or_in_place() {
        let status = Arc::new(evident_core::StatusDef {
            key: "todo".into(),
            name: "Todo".into(),
            label: "todo".into(),
            rank: 0,
            terminal: false,
        });
        for n in [0, 1, SPENT_BATCH - 1, SPENT_BATCH, 3 * SPENT_BATCH + 5] {
            let mut spent = Spent::default();
            for i in 0..n {
                spent.push(update(i, &status));
            }
            assert_eq!(spent.freer.is_some(), n >= SPENT_BATCH, "{n} documents");
            drop(spent);
            let start = std::time::Instant::now();
            while Arc::strong_count(&status) > 1 {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(10),
                    "{} of {n} documents never freed",
                    Arc::strong_count(&status) - 1
                );
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}
