//! Incremental indexing. A document is re-read only when its size or mtime changed (or it is
//! new, or flagged for recheck), and re-parsed only when its content hash changed; `--full`
//! re-parses everything and reaches the identical state. Reading and parsing run in parallel;
//! the store applies the whole pass in one transaction.

use evident_codec::parse_document_digested;
use evident_core::config::Config;
use evident_core::{DiagCode, Diagnostic};
use evident_store::{FileChange, FileState, FileUpdate, IndexBatch, IndexReport, IndexedItem};
use rayon::prelude::*;
use rustix::fs::{Mode, OFlags};
use serde::Serialize;
use std::os::fd::OwnedFd;

use crate::walk::{self, Found, Walk};
use crate::{Result, Workspace};

/// Progress of a long index, reported to whoever renders it.
pub trait Progress: Sync {
    fn start(&self, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexOutcome {
    /// Documents found by the walk.
    pub scanned: usize,
    /// Documents whose bytes were read.
    pub read: usize,
    /// Documents parsed (content changed, new, or `--full`).
    pub parsed: usize,
    /// Documents that disappeared.
    pub removed_files: usize,
    /// The parser or the configuration's parse inputs changed since the last pass, so every
    /// document was parsed again.
    pub inputs_changed: bool,
    #[serde(flatten)]
    pub report: IndexReport,
    /// Wall-clock milliseconds per phase: walk, read_parse, store.
    pub phase_ms: std::collections::BTreeMap<&'static str, f64>,
}

/// Files modified this recently may change again within the same mtime tick; their mtime is not
/// trusted, so the next index hashes them again.
const RACY_WINDOW_NS: i64 = 2_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

type Loaded = FileChange;

/// Documents parsed ahead of the store at most (see [`crate::ordered::ordered_map`]): enough
/// to keep parsing while a new store's schema is still being created (see `SqliteStore::open`),
/// few enough to bound memory.
const AHEAD: usize = 4096;
/// Documents stored between two progress reports.
const PROGRESS_STEP: u64 = 64;
/// The documents `check` reads and compares at a time.
pub(crate) const CHUNK: usize = 512;

/// Resolve parsed items against their workflows.
fn resolve(
    config: &Config,
    path: &str,
    parsed: evident_codec::ParsedDocument,
) -> (Vec<IndexedItem>, Vec<Diagnostic>) {
    let mut diags = parsed.diagnostics;
    let items = parsed
        .items
        .into_iter()
        .map(|p| {
            let mut it = p.item;
            let status = config.kind(&it.kind).and_then(|k| {
                let wf = config.workflow_of(k);
                if it.status.is_empty() {
                    Some(wf.initial_shared())
                } else {
                    let s = wf.status_shared(&it.status);
                    if s.is_none() {
                        diags.push(
                            Diagnostic::new(
                                DiagCode::UnknownStatus,
                                path,
                                it.status_line(),
                                format!(
                                    "{} has status `{}`, which is not in the {} workflow",
                                    it.id, it.status, wf.name
                                ),
                                wf.unknown_status_hint(&it.status, "use one of"),
                            )
                            .with_item(&it.id),
                        );
                    }
                    s
                }
            });
            let priority_rank = it
                .priority
                .as_deref()
                .and_then(evident_core::priority::rank);
            IndexedItem {
                encoded: evident_store::EncodedItem::take(&mut it),
                item: it,
                status,
                priority_rank,
            }
        })
        .collect();
    (items, diags)
}

/// The folder of the document read last, open, so the next document of the same folder is
/// opened by its name alone: documents arrive in path order, so most share the previous one's
/// folder, and the kernel then resolves one name instead of every component of the full path
/// (the lookups of full paths were ~5% of a parse worker's time in a first index of 10k items).
/// One per stretch of documents a worker reads in a pass, never kept between passes: a folder
/// replaced meanwhile must be looked up again.
#[derive(Default)]
pub(crate) struct FolderHandle {
    open: Option<(String, OwnedFd)>,
}

impl FolderHandle {
    /// Open the document at `rel` (repository-relative, `/`-separated) for reading.
    fn open(&mut self, ws_root: &std::path::Path, rel: &str) -> std::io::Result<std::fs::File> {
        let (folder, name) = match rel.rfind('/') {
            Some(k) => (&rel[..k], &rel[k + 1..]),
            None => ("", rel),
        };
        if self.open.as_ref().is_none_or(|(f, _)| f != folder) {
            self.open = None;
            let path = if folder.is_empty() {
                ws_root.to_path_buf()
            } else {
                ws_root.join(folder)
            };
            match rustix::fs::openat(
                rustix::fs::CWD,
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => self.open = Some((folder.to_string(), fd)),
                // Whatever the folder's trouble, opening the full path reports it as such.
                Err(_) => return std::fs::File::open(ws_root.join(rel)),
            }
        }
        let Some((_, dir)) = &self.open else {
            return std::fs::File::open(ws_root.join(rel));
        };
        rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map(std::fs::File::from)
            .map_err(std::io::Error::from)
    }
}

fn load(
    ws_root: &std::path::Path,
    config: &Config,
    f: &Found,
    old: Option<&FileState>,
    full: bool,
    folder: &mut FolderHandle,
) -> Loaded {
    let mut state = FileState {
        size: f.size,
        mtime_ns: f.mtime_ns,
        hash: [0u8; 16],
        broken: false,
        recheck: false,
    };
    let broken = |state: FileState, d: Diagnostic| {
        FileChange::Update(FileUpdate {
            path: f.rel.clone(),
            state: FileState {
                broken: true,
                ..state
            },
            broken: true,
            items: vec![],
            diagnostics: vec![d],
        })
    };
    let unreadable = |state: FileState, e: std::io::Error| {
        broken(
            state,
            Diagnostic::new(
                DiagCode::Unreadable,
                &f.rel,
                0,
                format!("cannot read: {e}"),
                "check the file's permissions",
            ),
        )
    };
    // Size and mtime are taken from the open file, before it is read: the walk may not have
    // stat-ed it (a first index), and if the file changes after this point the recorded mtime
    // is the older one, so the next pass reads it again.
    let mut file = match folder.open(ws_root, &f.rel) {
        Ok(file) => file,
        Err(e) => return unreadable(state, e),
    };
    match file.metadata() {
        Ok(m) => {
            state.size = m.len();
            state.mtime_ns = walk::mtime_ns(&m);
        }
        Err(e) => return unreadable(state, e),
    }
    // A document modified within the racy window could change again within the same mtime
    // tick; recording mtime 0 makes the next pass compare its content.
    if now_ns() - state.mtime_ns < RACY_WINDOW_NS {
        state.mtime_ns = 0;
    }
    let too_large = |state: FileState, size: u64| {
        broken(
            state,
            Diagnostic::new(
                DiagCode::TooLarge,
                &f.rel,
                0,
                format!(
                    "{size} bytes is over the limit of {} bytes; the file is not read",
                    config.project.max_file_size
                ),
                "split the document, exclude it, or raise [project] max_file_size",
            ),
        )
    };
    if state.size > config.project.max_file_size {
        let size = state.size;
        return too_large(state, size);
    }
    // Read through `take`: `File`'s own `read_to_end` would stat the file a second time to
    // size its buffer, which is already sized. The limit stops a file that grew meanwhile.
    let mut bytes = Vec::with_capacity(state.size as usize + 1);
    let limit = config.project.max_file_size.saturating_add(1);
    if let Err(e) =
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, limit), &mut bytes)
    {
        return unreadable(state, e);
    }
    if bytes.len() as u64 > config.project.max_file_size {
        return too_large(state, bytes.len() as u64);
    }
    drop(file);
    state.hash = evident_codec::digest(&bytes);
    state.size = bytes.len() as u64;
    if let Some(o) = old {
        if !full && !o.recheck && !o.broken && o.hash == state.hash {
            return FileChange::Touched(f.rel.clone(), state);
        }
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u32
                + 1;
            return broken(
                state,
                Diagnostic::new(
                    DiagCode::NotUtf8,
                    &f.rel,
                    line,
                    format!(
                        "not valid UTF-8 (first bad byte at offset {})",
                        e.valid_up_to()
                    ),
                    "save the file as UTF-8, or exclude it if it is not a document",
                ),
            );
        }
    };
    let parsed = parse_document_digested(&f.rel, text, config, Some(&state.hash));
    let is_broken = parsed.broken;
    let (items, diagnostics) = resolve(config, &f.rel, parsed);
    FileChange::Update(FileUpdate {
        path: f.rel.clone(),
        state: FileState {
            broken: is_broken,
            ..state
        },
        broken: is_broken,
        items,
        diagnostics,
    })
}

/// What an index pass would read: the walk compared with what the store saw last time.
pub struct Plan {
    pub found: Vec<Found>,
    pub states: evident_store::FileStates,
    /// Indexes into `found` of the documents to read, in path order.
    pub to_read: Vec<usize>,
    pub removed: Vec<String>,
    pub walk_diagnostics: Vec<evident_core::Diagnostic>,
    pub scanned: usize,
    pub walk_time: std::time::Duration,
    /// Every document is parsed again: `--full`, or [`Plan::inputs_changed`].
    pub full: bool,
    /// The parser or the configuration's parse inputs changed since this checkout's last pass.
    pub inputs_changed: bool,
    /// The current [`parse_fingerprint`], recorded by the pass.
    pub fingerprint: String,
}

/// Walk the roots and compare with the stored file states; nothing is written.
pub fn plan(ws: &mut Workspace, full: bool) -> Result<Plan> {
    let checkout = ws.checkout.clone();
    let t0 = std::time::Instant::now();
    // A store this process just created has seen nothing: every document will be read (and
    // stat-ed then), so the walk only lists them.
    let stat = !ws.store().is_new();
    // A walk that ran while the workspace opened serves, unless it skipped the stat-s this store
    // needs (its file appeared in between). Otherwise walk now, on a helper thread, while this
    // one loads what the store saw last time and then joins the walk.
    // A new parser or a configuration edit can change what an unchanged document parses into:
    // then every document is parsed again, as with `--full` (worked out during the walk).
    let fingerprint = parse_fingerprint(&ws.config);
    let (stored, walked) = match ws.take_prewalk().filter(|p| p.stat || !stat) {
        Some(p) => (p.seen, p.walk.finish()),
        None => {
            let p = &ws.config.project;
            let walk = Walk::started(&ws.root, &p.roots, &p.exclude, stat, None);
            let stored = crate::workspace::seen(ws.store(), &checkout);
            walk.work();
            (stored, walk.finish())
        }
    };
    let (found, walk_diagnostics) = walked?;
    let (states, recorded) = stored?;
    // Documents this checkout indexed before were parsed with other inputs (the recorded
    // fingerprint differs), or with inputs nobody recorded (only `new` or `move` have indexed
    // their own documents, and those partial passes record none): either way every document is
    // parsed again, but only the first is a change to report.
    let reparse = !states.is_empty() && recorded.as_deref() != Some(fingerprint.as_str());
    let inputs_changed = reparse && recorded.is_some();
    let full = full || reparse;
    let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    seen.reserve(found.len());
    let mut to_read: Vec<usize> = (0..found.len())
        .filter(|&i| seen.insert(found[i].rel.as_str()))
        .filter(|&i| {
            let f = &found[i];
            match states.get(&f.rel) {
                None => true,
                Some(s) => full || s.recheck || s.size != f.size || s.mtime_ns != f.mtime_ns,
            }
        })
        .collect();
    // Documents are applied in path order: the first declaration of an id by path wins.
    to_read.sort_unstable_by(|&a, &b| found[a].rel.cmp(&found[b].rel));
    let mut removed: Vec<String> = states
        .keys()
        .filter(|p| !seen.contains(p.as_str()))
        .cloned()
        .collect();
    removed.sort();
    let scanned = seen.len();
    drop(seen);
    Ok(Plan {
        found,
        states,
        to_read,
        removed,
        walk_diagnostics,
        scanned,
        walk_time: t0.elapsed(),
        full,
        inputs_changed,
        fingerprint,
    })
}

/// What decides how documents parse: the parser's revision and the configuration's parse
/// inputs, hashed (recorded by each index pass; see [`IndexBatch::parse_fingerprint`]) with the
/// documents' own digest (XXH3-128). It was BLAKE3, whose first use in a process asks the CPU
/// for its features: ~25 µs of `cpuid` on these virtual machines, in every `index`. A store
/// that recorded the old fingerprint re-parses its documents once, as after a parser change.
pub fn parse_fingerprint(config: &Config) -> String {
    let inputs = config.parse_inputs();
    let mut bytes = Vec::with_capacity(4 + inputs.len());
    bytes.extend_from_slice(&evident_codec::PARSER_REVISION.to_le_bytes());
    bytes.extend_from_slice(inputs.as_bytes());
    evident_codec::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Each kind's statuses, for the index pass (see [`IndexBatch::statuses`]).
fn kind_statuses(
    config: &Config,
) -> std::collections::HashMap<String, Vec<evident_core::StatusDef>> {
    config
        .kinds
        .values()
        .map(|k| (k.key.clone(), config.workflow_of(k).statuses.clone()))
        .collect()
}

/// Documents a pass reads from which it counts as large (see [`on_large_pass`]): ~1k items
/// (540 documents) index as fast with either of the binary's allocators, 10k items (5,240
/// documents) ~13% faster with mimalloc, while a warm no-change pass is ~12% faster with the C
/// library's.
pub const LARGE_PASS: usize = 256;

static LARGE_PASS_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Have `hook` called before each pass that reads [`LARGE_PASS`] documents or more, before its
/// worker threads start, and when a workspace opens a store of [`LARGE_STORE_BYTES`] or more:
/// the binary switches its allocator there (`evident_alloc`). The library
/// itself never chooses one. The first hook set stays.
pub fn on_large_pass(hook: fn()) {
    let _ = LARGE_PASS_HOOK.set(hook);
}

/// A store file from which every command on it counts as large work (see [`on_large_pass`]):
/// reading 100k items' file states into memory, or listing them, allocates as much as parsing
/// does (a warm no-change index of 100k items: ~94 ms with mimalloc, ~103-110 ms with the C
/// library's allocator; at 10k items, 14.3 ms with the C library's and 16.2 ms with mimalloc).
/// A store of 1k items is ~1.5 MB, of 10k ~10 MB, of 100k ~99 MB.
pub const LARGE_STORE_BYTES: u64 = 32 << 20;

/// Set when the process ends with the command it runs (see [`process_ends_with_command`]).
static ENDS_WITH_COMMAND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Declare that this process ends when its command does (the CLI; never a server): the
/// per-document buffers of an index pass (every path walked and every file state read) are
/// then left for the OS to reclaim at exit instead of freed one block at a time, as compilers
/// do with their large structures. Freeing them was ~5% of a warm no-change index of 1k items
/// (1,083 blocks, ~170k instructions). Nothing else is skipped: stores still close.
pub fn process_ends_with_command() {
    ENDS_WITH_COMMAND.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`process_ends_with_command`] was declared.
pub(crate) fn process_ends() -> bool {
    ENDS_WITH_COMMAND.load(std::sync::atomic::Ordering::Relaxed)
}

/// Drop `v`, or leave it to the OS when the process ends with its command (see
/// [`process_ends_with_command`]); for plain memory only, never for what holds a resource.
pub(crate) fn release<T>(v: T) {
    if process_ends() {
        std::mem::forget(v);
    }
}

/// A pass is about to read `documents` documents.
pub(crate) fn starting_pass(documents: usize) {
    if documents >= LARGE_PASS {
        large_work_ahead();
    }
}

/// Call the hook set by [`on_large_pass`], if any.
pub(crate) fn large_work_ahead() {
    if let Some(hook) = LARGE_PASS_HOOK.get() {
        hook();
    }
}

/// Read and parse the planned documents `which` (indexes into the plan's documents), in that
/// order, on the worker threads when there are several (no store access).
pub fn load_planned(ws: &Workspace, plan: &Plan, which: &[usize]) -> Vec<FileChange> {
    let (root, config) = (&ws.root, &ws.config);
    let one = |folder: &mut FolderHandle, &i: &usize| {
        let f = &plan.found[i];
        load(root, config, f, plan.states.get(&f.rel), plan.full, folder)
    };
    if which.len() < 8 {
        let mut folder = FolderHandle::default();
        which.iter().map(|i| one(&mut folder, i)).collect()
    } else {
        which
            .par_iter()
            .map_init(FolderHandle::default, one)
            .collect()
    }
}

/// Bring the store's index in step with the documents of this checkout.
pub fn index(ws: &mut Workspace, full: bool, progress: &dyn Progress) -> Result<IndexOutcome> {
    let p = plan(ws, full)?;
    index_planned(ws, p, progress)
}

/// Apply an index pass already planned by [`plan`] (which decided whether it is a full one).
pub fn index_planned(
    ws: &mut Workspace,
    plan: Plan,
    progress: &dyn Progress,
) -> Result<IndexOutcome> {
    let checkout = ws.checkout.clone();
    let t0 = std::time::Instant::now();
    let Plan {
        found,
        states,
        to_read,
        removed,
        walk_diagnostics,
        scanned,
        walk_time: t_walk,
        full,
        inputs_changed,
        fingerprint,
    } = plan;
    let to_read: Vec<&Found> = to_read.iter().map(|&i| &found[i]).collect();
    let mut outcome = IndexOutcome {
        scanned,
        inputs_changed,
        ..Default::default()
    };
    outcome.read = to_read.len();
    starting_pass(to_read.len());
    outcome.removed_files = removed.len();
    progress.start(to_read.len() as u64);
    let batch = IndexBatch {
        checkout,
        reread: to_read.iter().map(|f| f.rel.clone()).collect(),
        removed,
        walk_diagnostics: Some(walk_diagnostics),
        parse_fingerprint: Some(fingerprint),
        statuses: kind_statuses(&ws.config),
    };
    // Resolving the actor may spawn git; an unchanged repository records no event, so skip it.
    let ctx = if batch.is_empty() {
        evident_store::EventContext {
            actor: String::new(),
            machine: String::new(),
            source: "file".into(),
            correlation_id: String::new(),
            at: String::new(),
        }
    } else {
        ws.event_context("file")
    };
    let parsed = std::sync::atomic::AtomicUsize::new(0);
    let t_read_start = t0.elapsed();
    let applied = if to_read.is_empty() {
        // Nothing to read (a no-change pass): no parse workers to start.
        ws.store()
            .apply_index(&batch, &mut std::iter::empty(), &ctx)
    } else {
        let root = ws.root.clone();
        let config = ws.config.clone();
        let (root, config, states, parsed) = (&root, &config, &states, &parsed);
        let store = ws.store();
        crate::ordered::ordered_map(
            &to_read,
            AHEAD,
            FolderHandle::default,
            |folder, f| load(root, config, f, states.get(&f.rel), full, folder),
            |loaded| {
                let mut unreported = 0;
                let mut stream = loaded.inspect(|l| {
                    if matches!(l, FileChange::Update(_)) {
                        parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    unreported += 1;
                    if unreported == PROGRESS_STEP {
                        progress.advance(std::mem::take(&mut unreported));
                    }
                });
                let applied = store.apply_index(&batch, &mut stream, &ctx);
                drop(stream);
                progress.advance(unreported);
                applied
            },
        )
    };
    let report = match applied {
        // Another process created the store while this first index built one: index again,
        // into that store (it is no longer new, so this happens once).
        Err(evident_store::StoreError::Superseded { .. }) => {
            progress.finish();
            let again = self::plan(ws, full)?;
            return index_planned(ws, again, progress);
        }
        other => other?,
    };
    progress.finish();
    outcome.parsed = parsed.into_inner();
    outcome.report = report;
    let t_rest = t0.elapsed() - t_read_start;
    for (k, d) in [("walk", t_walk), ("read_parse_store", t_rest)] {
        outcome
            .phase_ms
            .insert(k, (d.as_secs_f64() * 10_000.0).round() / 10.0);
    }
    drop(to_read);
    release(found);
    release(states);
    Ok(outcome)
}

/// Re-parse specific documents (around `new` and `move`), whether or not their bytes changed,
/// so their items and diagnostics are current. Paths are repository-relative.
pub fn index_paths(ws: &mut Workspace, paths: &[String], source: &str) -> Result<IndexReport> {
    let checkout = ws.checkout.clone();
    let states = ws.store().file_states_of(&checkout, paths)?;
    let mut batch = IndexBatch {
        checkout,
        statuses: kind_statuses(&ws.config),
        ..Default::default()
    };
    let mut changes = Vec::new();
    let mut folder = FolderHandle::default();
    for rel in paths {
        let abs = ws.abs(rel);
        match std::fs::metadata(&abs) {
            Ok(m) => {
                let f = Found {
                    rel: rel.clone(),
                    size: m.len(),
                    mtime_ns: m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos() as i64)
                        .unwrap_or(0),
                };
                batch.reread.insert(rel.clone());
                changes.push(load(
                    &ws.root,
                    &ws.config,
                    &f,
                    states.get(rel),
                    true,
                    &mut folder,
                ));
            }
            Err(_) if states.contains_key(rel) => batch.removed.push(rel.clone()),
            Err(_) => {}
        }
    }
    let ctx = ws.event_context(source);
    match ws
        .store()
        .apply_index(&batch, &mut changes.into_iter(), &ctx)
    {
        // Another process created the store meanwhile (see `index_planned`): read again.
        Err(evident_store::StoreError::Superseded { .. }) => index_paths(ws, paths, source),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::FolderHandle;
    use std::io::Read;

    fn read(h: &mut FolderHandle, root: &std::path::Path, rel: &str) -> std::io::Result<String> {
        let mut s = String::new();
        h.open(root, rel)?.read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn a_folder_handle_opens_documents_across_folders_as_their_full_paths_would() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("c")).unwrap();
        for (rel, text) in [
            ("top.md", "top"),
            ("a/b/one.md", "one"),
            ("a/b/two.md", "two"),
        ] {
            std::fs::write(root.join(rel), text).unwrap();
        }
        std::fs::write(root.join("c/three.md"), "three").unwrap();
        let mut h = FolderHandle::default();
        // The same folder twice, another, back to the first, and the root.
        assert_eq!(read(&mut h, root, "a/b/one.md").unwrap(), "one");
        assert_eq!(read(&mut h, root, "a/b/two.md").unwrap(), "two");
        assert_eq!(read(&mut h, root, "c/three.md").unwrap(), "three");
        assert_eq!(read(&mut h, root, "a/b/one.md").unwrap(), "one");
        assert_eq!(read(&mut h, root, "top.md").unwrap(), "top");
        // A missing document in a folder already open, and a missing folder: the errors a full
        // path gives.
        let gone = read(&mut h, root, "top-gone.md").unwrap_err();
        assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
        let no_folder = read(&mut h, root, "nowhere/x.md").unwrap_err();
        assert_eq!(no_folder.kind(), std::io::ErrorKind::NotFound);
        // A folder replaced after it was opened is not the one read by a later handle.
        std::fs::remove_dir_all(root.join("c")).unwrap();
        std::fs::create_dir_all(root.join("c")).unwrap();
        std::fs::write(root.join("c/three.md"), "new three").unwrap();
        assert_eq!(
            read(&mut FolderHandle::default(), root, "c/three.md").unwrap(),
            "new three"
        );
        // A folder given as a document is refused as opening it directly would be.
        let a_folder = read(&mut h, root, "a/b").map(|_| ()).unwrap_err();
        let direct = std::fs::File::open(root.join("a/b"))
            .and_then(|mut f| f.read_to_string(&mut String::new()))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(a_folder.kind(), direct.kind());
    }
}
