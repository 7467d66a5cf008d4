//! Walking the document roots: Markdown files only, `.gitignore` / `.ignore` files and
//! `.git/info/exclude` respected, hidden entries skipped (a root may still name a hidden folder,
//! as ClearGate's `.cleargate/...` roots do), symlinks followed but never out of the repository
//! and never round a loop.
//!
//! Our own walker rather than a general one because the warm index is bound by it: each folder
//! is read once, its ignore files are spotted among the entries already read (no extra system
//! calls where there are none), only Markdown files are stat-ed (and none at all when the caller
//! is going to read every one anyway: a first index), and folders (and large folders' documents)
//! are shared out between threads through one queue. Folders are read from their open handle
//! (`getdents`, through rustix) and documents stat-ed by name relative to it: no per-entry
//! allocation for entries that are not wanted, and no second walk of each document's full path
//! in the kernel (in a no-change index of 1,000 items, the standard library's per-entry
//! allocations and the page faults of the fresh heap behind them were a third of the walk).
//! Ignore rules are matched with the `ignore` crate's gitignore matcher.

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evident_core::{DiagCode, Diagnostic};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};

/// A document found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    /// Repository-relative, `/`-separated.
    pub rel: String,
    /// Size and modification time as the walk saw them (both 0 from a walk that did not stat;
    /// see [`walk`]). Reading a document takes them again from the open file.
    pub size: u64,
    pub mtime_ns: i64,
}

#[derive(Default)]
struct Output {
    found: Vec<Found>,
    diags: Vec<Diagnostic>,
}

impl Output {
    fn merge(mut self, mut other: Output) -> Output {
        self.found.append(&mut other.found);
        self.diags.append(&mut other.diags);
        self
    }
}

/// Ignore matchers in effect for a folder, outermost first.
type Stack = Vec<Arc<Gitignore>>;

struct Ctx {
    canon_root: PathBuf,
    /// `[project] exclude`, when it has patterns (matching costs, per entry).
    excludes: Option<Gitignore>,
    /// Evident's own store folder, never walked.
    store_dir: PathBuf,
    /// Stat each document (size and mtime, for change detection).
    stat: bool,
}

fn is_markdown(name: &str) -> bool {
    name.ends_with(".md") || name.ends_with(".markdown")
}

fn rel_of(root: &Path, p: &Path) -> Option<String> {
    let r = p.strip_prefix(root).ok()?;
    let s = r.to_str()?;
    Some(if std::path::MAIN_SEPARATOR == '/' {
        s.to_string()
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    })
}

pub(crate) fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn unreadable(rel: &str, msg: String) -> Diagnostic {
    Diagnostic::new(
        DiagCode::Unreadable,
        rel,
        0,
        msg,
        "fix the permissions or the symlink, or exclude the path in [project] exclude",
    )
}

/// Load the ignore files of `dir` (those present in `names`) as one matcher.
fn matcher_for(dir: &Path, names: &[&str]) -> Option<Arc<Gitignore>> {
    let mut b = GitignoreBuilder::new(dir);
    let mut any = false;
    for n in [".gitignore", ".ignore"] {
        if names.contains(&n) {
            any = true;
            let _ = b.add(dir.join(n));
        }
    }
    if !any {
        return None;
    }
    b.build().ok().filter(|g| !g.is_empty()).map(Arc::new)
}

/// Is `path` ignored by the stack (the deepest rule that matches decides, as in git)?
fn ignored(stack: &Stack, path: &Path, is_dir: bool) -> bool {
    for g in stack.iter().rev() {
        match g.matched(path, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
    }
    false
}

/// A folder waiting to be read.
struct Folder {
    dir: PathBuf,
    /// Repository-relative, `/`-separated; empty for the repository root.
    rel: String,
    stack: Stack,
    /// Canonical folders on the way down (a symlink back to one of them is a loop).
    ancestors: Vec<PathBuf>,
}

/// A document to stat, by its name in its open folder.
struct Doc {
    /// Repository-relative, `/`-separated.
    rel: String,
    /// Where its own name starts in `rel`.
    name_at: usize,
}

enum Task {
    Folder(Folder),
    /// Documents of one open folder.
    Stat(Arc<OwnedFd>, Vec<Doc>),
}

/// A folder with more documents than this has them stat-ed in chunks of this size, so a
/// second worker can share one large folder.
const STAT_CHUNK: usize = 64;

#[derive(Default)]
struct Queue {
    tasks: Vec<Task>,
    /// Workers running a task (which may add more).
    busy: usize,
    /// A task unwound (a bug): what was found is incomplete and must not be taken for the tree.
    failed: bool,
    out: Output,
}

/// The walk could not finish: a worker stopped on a bug. What it found is incomplete, and an
/// index pass must not read the missing documents as deleted.
#[derive(Debug)]
pub struct WalkFailed;

/// Held while a worker runs a task: if the task unwinds, the walk is marked failed and the other
/// workers are woken, so none waits for a task that will never report back.
struct Running<'a> {
    walk: &'a Walk,
    finished: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut q = self.walk.queue();
            q.busy -= 1;
            q.failed = true;
            self.walk.wake_all();
        }
    }
}

/// A walk that any number of threads work on together: every folder, and every chunk of a large
/// folder's documents, is a task in one queue. `evident index` starts one worker while its main
/// thread opens the store and reads the store's file states, and the main thread then joins in
/// (see [`crate::Workspace::open_walking`]), so both cores walk without a thread pool's start-up.
pub struct Walk {
    ctx: Ctx,
    queue: std::sync::Mutex<Queue>,
    wake: std::sync::Condvar,
    /// Counts changes that may let a waiting worker go on (see [`Walk::wait_for_task`]), so
    /// it can poll for one without taking the queue.
    changes: std::sync::atomic::AtomicU64,
}

impl Ctx {
    fn excluded(&self, path: &Path, is_dir: bool) -> bool {
        (is_dir && path == self.store_dir)
            || self
                .excludes
                .as_ref()
                .is_some_and(|g| matches!(g.matched(path, is_dir), Match::Ignore(_)))
    }

    /// Read one folder: its documents (stat-ed here, or returned as tasks when there are many)
    /// and its sub-folders, as tasks. Entries are read straight from the folder's open handle
    /// (`getdents`), and only sub-folders, links and Markdown files are named (one allocation
    /// each, their repository-relative path); documents are stat-ed by name relative to the
    /// handle, so the kernel never walks their full path again.
    fn read_folder(&self, f: Folder, out: &mut Output, tasks: &mut Vec<Task>) {
        let Folder {
            dir,
            rel: rel_dir,
            stack,
            ancestors,
        } = f;
        #[cfg(test)]
        if rel_dir.ends_with("a-worker-panics-here") {
            panic!("test: a walk worker stops on a bug");
        }
        let cannot_read = |e: rustix::io::Errno| {
            unreadable(
                &rel_dir,
                format!("cannot read folder: {}", std::io::Error::from(e)),
            )
        };
        let fd = match rustix::fs::openat(
            rustix::fs::CWD,
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                out.diags.push(cannot_read(e));
                return;
            }
        };
        // (repository-relative path, where the name starts in it, entry type)
        let mut entries: Vec<(String, usize, FileType)> = Vec::new();
        let mut ignore_files: Vec<&str> = Vec::new();
        let name_at = if rel_dir.is_empty() {
            0
        } else {
            rel_dir.len() + 1
        };
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut rd = RawDir::new(&fd, &mut buf);
        while let Some(e) = rd.next() {
            let e = match e {
                Ok(e) => e,
                Err(e) => {
                    out.diags.push(cannot_read(e));
                    break;
                }
            };
            let name = e.file_name().to_bytes();
            if name.first() == Some(&b'.') {
                // Hidden entries are skipped; only the ignore files among them matter.
                match name {
                    b".gitignore" => ignore_files.push(".gitignore"),
                    b".ignore" => ignore_files.push(".ignore"),
                    _ => {}
                }
                continue;
            }
            let ft = e.file_type();
            let wanted = match ft {
                FileType::Directory | FileType::Symlink | FileType::Unknown => true,
                FileType::RegularFile => name.ends_with(b".md") || name.ends_with(b".markdown"),
                _ => false,
            };
            if !wanted {
                continue;
            }
            // Names are nearly always UTF-8; the lossy conversion's scan is the slow path.
            let name = match std::str::from_utf8(name) {
                Ok(n) => std::borrow::Cow::Borrowed(n),
                Err(_) => String::from_utf8_lossy(name),
            };
            let mut rel = String::with_capacity(name_at + name.len());
            if name_at > 0 {
                rel.push_str(&rel_dir);
                rel.push('/');
            }
            rel.push_str(&name);
            entries.push((rel, name_at, ft));
        }
        let stack: Stack = match matcher_for(&dir, &ignore_files) {
            Some(g) => {
                let mut s = stack.clone();
                s.push(g);
                s
            }
            None => stack,
        };
        // Ignore rules and excludes match full paths; with none in effect, none is built.
        let matching = !stack.is_empty() || self.excludes.is_some();
        let fd = Arc::new(fd);
        let mut docs: Vec<Doc> = Vec::new();
        for (rel, name_at, ft) in entries {
            let name = &rel[name_at..];
            let ft = match entry_type(&fd, name, ft) {
                Ok(ft) => ft,
                Err(e) => {
                    out.diags.push(unreadable(&rel, e.to_string()));
                    continue;
                }
            };
            let is_link = ft == FileType::Symlink;
            let (is_dir, linked_ancestors) = if is_link {
                let path = dir.join(name);
                let target = match path.canonicalize() {
                    Ok(t) if t.starts_with(&self.canon_root) => t,
                    _ => {
                        out.diags.push(Diagnostic::new(
                            DiagCode::PathEscape,
                            &rel,
                            0,
                            "symlink points outside the repository (or nowhere); it is not followed",
                            "remove the link, point it inside the repository, or exclude it",
                        ));
                        continue;
                    }
                };
                if target.is_dir() {
                    // A link back to a folder on the current path would loop forever.
                    let here = dir.canonicalize().unwrap_or_else(|_| dir.clone());
                    if here.starts_with(&target) || ancestors.iter().any(|a| a == &target) {
                        // Both named from the repository root, as every other diagnostic path.
                        let back = rel_of(&self.canon_root, &target)
                            .filter(|t| !t.is_empty())
                            .unwrap_or_else(|| ".".into());
                        out.diags.push(unreadable(
                            &rel,
                            format!("symlink loop: {rel} points back to {back}, a folder above it"),
                        ));
                        continue;
                    }
                    let mut anc = ancestors.clone();
                    anc.push(target);
                    (true, Some(anc))
                } else if target.is_file() {
                    (false, None)
                } else {
                    continue;
                }
            } else if ft == FileType::Directory {
                (true, None)
            } else if ft == FileType::RegularFile {
                (false, None)
            } else {
                continue;
            };
            if is_dir {
                let path = dir.join(name);
                if ignored(&stack, &path, true) || self.excluded(&path, true) {
                    continue;
                }
                tasks.push(Task::Folder(Folder {
                    dir: path,
                    rel,
                    stack: stack.clone(),
                    ancestors: linked_ancestors.unwrap_or_else(|| ancestors.clone()),
                }));
            } else if is_markdown(name) {
                if matching {
                    let path = dir.join(name);
                    if ignored(&stack, &path, false) || self.excluded(&path, false) {
                        continue;
                    }
                }
                if !self.stat && !is_link {
                    out.found.push(Found {
                        rel,
                        size: 0,
                        mtime_ns: 0,
                    });
                    continue;
                }
                docs.push(Doc { rel, name_at });
            }
        }
        if docs.len() > STAT_CHUNK {
            while docs.len() > STAT_CHUNK {
                let rest = docs.split_off(STAT_CHUNK);
                tasks.push(Task::Stat(fd.clone(), std::mem::replace(&mut docs, rest)));
            }
            tasks.push(Task::Stat(fd, docs));
        } else {
            stat_docs(&fd, docs, out);
        }
    }
}

/// An entry's type: as its folder reported it, or from the entry itself (not followed) on a
/// file system that reports none.
fn entry_type(dir: &OwnedFd, name: &str, reported: FileType) -> std::io::Result<FileType> {
    if reported != FileType::Unknown {
        return Ok(reported);
    }
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(FileType::from_raw_mode(st.st_mode))
}

/// Stat documents by name in their open folder, following a link to its target.
fn stat_docs(dir: &OwnedFd, docs: Vec<Doc>, out: &mut Output) {
    out.found.reserve(docs.len());
    for d in docs {
        match rustix::fs::statat(dir, &d.rel[d.name_at..], AtFlags::empty()) {
            Ok(st) => out.found.push(Found {
                size: st.st_size as u64,
                // As `mtime_ns` reads it from std's metadata: 0 before the epoch.
                mtime_ns: if st.st_mtime < 0 {
                    0
                } else {
                    st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64
                },
                rel: d.rel,
            }),
            Err(e) => out
                .diags
                .push(unreadable(&d.rel, std::io::Error::from(e).to_string())),
        }
    }
}

impl Walk {
    /// Prepare a walk of `roots` (relative to `root`); nothing is read until a thread calls
    /// [`Walk::work`]. With `stat` false, documents are listed from their folders' entries
    /// alone, without their size and mtime: for a caller that reads every one of them (a first
    /// index saves a system call per document).
    pub fn new(root: &Path, roots: &[String], exclude: &[String], stat: bool) -> Walk {
        let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let excludes = (!exclude.is_empty()).then(|| {
            let mut eb = GitignoreBuilder::new(root);
            for e in exclude {
                let _ = eb.add_line(None, e);
            }
            eb.build().unwrap_or_else(|_| Gitignore::empty())
        });
        let ctx = Ctx {
            canon_root,
            excludes,
            store_dir: root.join(".evident"),
            stat,
        };
        // Rules that apply everywhere: .git/info/exclude.
        let mut base: Stack = Vec::new();
        let info_exclude = root.join(".git/info/exclude");
        if info_exclude.is_file() {
            let mut b = GitignoreBuilder::new(root);
            let _ = b.add(&info_exclude);
            if let Ok(g) = b.build() {
                base.push(Arc::new(g));
            }
        }
        let mut tasks = Vec::new();
        for r in roots {
            let start = root.join(r);
            if !start.is_dir() {
                continue;
            }
            // Ignore files between the repository root and a nested root apply too.
            let mut stack = base.clone();
            if let Ok(rel) = start.strip_prefix(root) {
                let mut dir = root.to_path_buf();
                let mut chain = vec![dir.clone()];
                for c in rel.components() {
                    dir.push(c);
                    chain.push(dir.clone());
                }
                chain.pop();
                for d in chain {
                    let names: Vec<&str> = [".gitignore", ".ignore"]
                        .into_iter()
                        .filter(|n| d.join(n).is_file())
                        .collect();
                    if let Some(g) = matcher_for(&d, &names) {
                        stack.push(g);
                    }
                }
            }
            let canon = start.canonicalize().unwrap_or_else(|_| start.clone());
            let rel = rel_of(root, &start)
                .filter(|r| r != ".")
                .unwrap_or_default();
            tasks.push(Task::Folder(Folder {
                dir: start,
                rel,
                stack,
                ancestors: vec![canon],
            }));
        }
        Walk {
            ctx,
            queue: std::sync::Mutex::new(Queue {
                tasks,
                ..Default::default()
            }),
            wake: std::sync::Condvar::new(),
            changes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The queue, whatever a thread that panicked while holding it left (its counters stay
    /// meaningful: every critical section is a few assignments).
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Work on the walk until no task is left and no other worker is running one (which could
    /// add more). Any number of threads may call this at once.
    pub fn work(&self) {
        let mut q = self.queue();
        loop {
            if q.failed {
                return;
            }
            if let Some(task) = q.tasks.pop() {
                q.busy += 1;
                drop(q);
                let mut running = Running {
                    walk: self,
                    finished: false,
                };
                let mut out = Output::default();
                let mut tasks = Vec::new();
                match task {
                    Task::Folder(f) => self.ctx.read_folder(f, &mut out, &mut tasks),
                    Task::Stat(dir, docs) => stat_docs(&dir, docs, &mut out),
                }
                running.finished = true;
                q = self.queue();
                q.busy -= 1;
                if !tasks.is_empty() {
                    q.tasks.append(&mut tasks);
                    self.wake_all();
                }
                let done = std::mem::take(&mut q.out);
                q.out = done.merge(out);
            } else if q.busy == 0 {
                self.wake_all();
                return;
            } else {
                q = self.wait_for_task(q);
            }
        }
    }

    /// Wait until another worker adds a task or finishes. Poll for a while first, then sleep:
    /// a worker put to sleep on an idle core of a virtual machine is woken up to half a
    /// millisecond late, often longer than what is left of the walk.
    fn wait_for_task<'a>(
        &'a self,
        q: std::sync::MutexGuard<'a, Queue>,
    ) -> std::sync::MutexGuard<'a, Queue> {
        let seen = self.changes.load(std::sync::atomic::Ordering::Acquire);
        drop(q);
        let polling = std::time::Instant::now();
        while polling.elapsed() < HELPER_POLL {
            // Yield rather than spin: on a busy machine another thread may need this core.
            std::thread::yield_now();
            if self.changes.load(std::sync::atomic::Ordering::Acquire) != seen {
                return self.queue();
            }
        }
        let q = self.queue();
        // Every change is made holding the queue, so none can slip in between this check and
        // the wait.
        if self.changes.load(std::sync::atomic::Ordering::Acquire) != seen {
            return q;
        }
        self.wake.wait(q).unwrap_or_else(|e| e.into_inner())
    }

    /// Tell waiting workers the queue changed. Called holding the queue.
    fn wake_all(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.wake.notify_all();
    }

    /// Stop the walk: workers return after their current task, and [`Walk::finish`] reports it
    /// incomplete (for a caller that will not use it, such as when the store failed to open).
    pub fn cancel(&self) {
        let mut q = self.queue();
        q.failed = true;
        self.wake_all();
    }

    /// What the walk found, once every worker has returned from [`Walk::work`]: documents in no
    /// particular order (possibly twice when roots overlap), and diagnostics for what could not
    /// be walked.
    pub fn finish(&self) -> Result<(Vec<Found>, Vec<Diagnostic>), WalkFailed> {
        let out = {
            let mut q = self.queue();
            if q.failed || q.busy > 0 || !q.tasks.is_empty() {
                return Err(WalkFailed);
            }
            std::mem::take(&mut q.out)
        };
        let mut diags = out.diags;
        diags.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
        diags.dedup_by(|a, b| a.path == b.path && a.message == b.message);
        Ok((out.found, diags))
    }
}

/// A thread started before there is anything to walk (before the command line is even parsed),
/// that joins the first walk handed to it: starting a thread takes longer than reading the
/// configuration, so a walk handed to a thread started only then begins late. Dropped unused,
/// it ends.
pub struct WalkHelper(std::sync::mpsc::Sender<Arc<Walk>>);

/// How long a [`WalkHelper`] polls for its walk, and a worker for a task, before it sleeps.
const HELPER_POLL: std::time::Duration = std::time::Duration::from_millis(3);

static WALK_DONE_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Have `hook` called on a [`WalkHelper`]'s thread once its walk is done (or it got none): work
/// for a thread that has nothing left to do while the command goes on (the binary faults in the
/// page cache of a store being built there, `evident_alloc::warm_sqlite_page_cache`). The first
/// hook set stays.
pub fn on_walk_done(hook: fn()) {
    let _ = WALK_DONE_HOOK.set(hook);
}

impl WalkHelper {
    /// Start the thread (`None` if the system refuses one: the walk then runs without it), on
    /// a core other than the caller's (see [`crate::threads`]).
    pub fn start() -> Option<WalkHelper> {
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Walk>>();
        crate::threads::spawn(std::thread::Builder::new().name("walk".into()), move || {
            // Poll before sleeping: a thread woken on an idle core of a virtual machine
            // starts up to half a millisecond later, longer than a small walk takes. The
            // walk arrives within a millisecond or two (once the configuration is read).
            // No heap is faulted in meanwhile for the walk to allocate from: the C library
            // serves a large block from a mapping of its own and unmaps it when it is freed, so
            // the walk never reused those pages (faulting in 256 KiB cost a no-change `index` of
            // 1k items ~30 page faults of ~300, for no time saved; in 16 KiB blocks it saved the
            // walk no faults either).
            let polling = std::time::Instant::now();
            let walk = loop {
                match rx.try_recv() {
                    Ok(w) => break Some(w),
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => break None,
                    Err(std::sync::mpsc::TryRecvError::Empty) => {}
                }
                if polling.elapsed() < HELPER_POLL {
                    std::thread::yield_now();
                } else {
                    break rx.recv().ok();
                }
            };
            if let Some(w) = walk {
                w.work();
            }
            if let Some(hook) = WALK_DONE_HOOK.get() {
                hook();
            }
        })
        .ok()?;
        Some(WalkHelper(tx))
    }

    /// Hand the walk over. Nobody waits for the thread: a caller's own [`Walk::work`] returns
    /// only once no task is left and no worker is running one, so the walk is complete then
    /// whether this thread took part, is still starting, or has stopped.
    pub(crate) fn join(self, walk: &Arc<Walk>) {
        let _ = self.0.send(walk.clone());
    }
}

impl Walk {
    /// Prepare a walk (see [`Walk::new`]) and hand it to `helper`, or to a helper started now,
    /// so it is under way while the caller does other work before joining it with
    /// [`Walk::work`].
    pub fn started(
        root: &Path,
        roots: &[String],
        exclude: &[String],
        stat: bool,
        helper: Option<WalkHelper>,
    ) -> Arc<Walk> {
        let walk = Arc::new(Walk::new(root, roots, exclude, stat));
        if let Some(h) = helper.or_else(WalkHelper::start) {
            h.join(&walk);
        }
        walk
    }
}

/// Walk `roots` (relative to `root`) on this thread and one more; see [`Walk`].
pub fn walk(
    root: &Path,
    roots: &[String],
    exclude: &[String],
    stat: bool,
) -> Result<(Vec<Found>, Vec<Diagnostic>), WalkFailed> {
    let w = Walk::started(root, roots, exclude, stat, None);
    w.work();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(root)).unwrap_or_default();
        std::fs::write(p, text).unwrap_or_default();
    }

    fn rels(root: &Path, roots: &[&str], exclude: &[&str]) -> Vec<String> {
        let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        let mut v: Vec<String> = walk(root, &roots, &exclude, true)
            .unwrap_or_else(|_| panic!("the walk failed"))
            .0
            .into_iter()
            .map(|f| f.rel)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nested_ignore_files_negation_and_excludes() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        write(r, ".gitignore", "build/\n*.draft.md\n");
        write(r, "a.md", "");
        write(r, "x.draft.md", "");
        write(r, "build/b.md", "");
        write(r, "docs/.gitignore", "private/\n!keep.draft.md\n");
        write(r, "docs/keep.draft.md", "");
        write(r, "docs/private/p.md", "");
        write(r, "docs/c.markdown", "");
        write(r, "docs/notes.txt", "");
        write(r, ".hidden/h.md", "");
        write(r, ".evident/e.md", "");
        write(r, "vendor/v.md", "");
        write(r, ".git/info/exclude", "secret.md\n");
        write(r, "secret.md", "");
        assert_eq!(
            rels(r, &["."], &["vendor/"]),
            vec!["a.md", "docs/c.markdown", "docs/keep.draft.md"]
        );
        // A nested root still obeys the ignore files above it; a hidden root is walked.
        assert_eq!(
            rels(r, &["docs"], &[]),
            vec!["docs/c.markdown", "docs/keep.draft.md"]
        );
        assert_eq!(rels(r, &[".hidden"], &[]), vec![".hidden/h.md"]);
        // Documents are named from the repository root however deep the root, and an exclude
        // pattern may name files as well as folders.
        write(r, "docs/deep/er/d.md", "");
        assert_eq!(rels(r, &["docs/deep/er"], &[]), vec!["docs/deep/er/d.md"]);
        assert_eq!(
            rels(r, &["./docs"], &["c.markdown"]),
            vec!["docs/deep/er/d.md", "docs/keep.draft.md"]
        );
    }

    /// Large folders are stat-ed in chunks by whichever worker is free: every document is found
    /// once, with its own size, however many threads work on the walk.
    #[test]
    fn any_number_of_workers_find_each_document_once() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        let mut expected: Vec<(String, u64)> = Vec::new();
        for d in 0..3 {
            for i in 0..(STAT_CHUNK * 2 + 7) {
                let rel = format!("f{d}/sub/n{i}.md");
                write(r, &rel, &"x".repeat(i));
                expected.push((rel, i as u64));
            }
        }
        expected.sort();
        for workers in [1, 2, 4] {
            let w = Walk::new(r, &[".".to_string()], &[], true);
            std::thread::scope(|s| {
                for _ in 1..workers {
                    s.spawn(|| w.work());
                }
                w.work();
            });
            let (found, diags) = w.finish().unwrap_or_else(|_| panic!("the walk failed"));
            let mut got: Vec<(String, u64)> = found.into_iter().map(|f| (f.rel, f.size)).collect();
            got.sort();
            assert_eq!(got, expected, "{workers} workers");
            assert!(diags.is_empty());
        }
    }

    /// A worker that stops on a bug neither leaves the others waiting forever nor lets its
    /// partial result pass for the whole tree (an index would read the missing documents as
    /// deleted).
    /// The warm index compares the walk's size and mtime with what reading a document records
    /// (std's metadata of the open file): they must agree to the nanosecond, through a link too.
    #[test]
    fn stat_values_are_those_reading_records() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        for i in 0..(STAT_CHUNK + 3) {
            write(r, &format!("big/n{i}.md"), &"y".repeat(i * 7));
        }
        write(r, "small/a.md", "# a\n");
        write(r, "small/old.md", "# old\n");
        let old = std::time::UNIX_EPOCH + std::time::Duration::new(1_234_567_890, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(r.join("small/old.md"))
            .and_then(|f| f.set_modified(old))
            .unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(r.join("small/old.md"), r.join("small/link.md"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (found, diags) =
            walk(r, &[".".to_string()], &[], true).unwrap_or_else(|_| panic!("the walk failed"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(found.len(), STAT_CHUNK + 3 + 3);
        for f in &found {
            let m = std::fs::metadata(r.join(&f.rel)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((f.size, f.mtime_ns), (m.len(), mtime_ns(&m)), "{}", f.rel);
        }
        let link = found.iter().find(|f| f.rel == "small/link.md");
        assert_eq!(
            link.map(|f| f.mtime_ns),
            Some(1_234_567_890_123_456_789),
            "a link is stat-ed through to its target"
        );
    }

    /// Some file systems report no entry types; each entry is then asked for its own.
    #[test]
    fn entry_types_are_asked_for_when_the_folder_reports_none() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        write(r, "d/doc.md", "x");
        std::os::unix::fs::symlink(r.join("d/doc.md"), r.join("d/link.md"))
            .unwrap_or_else(|e| panic!("{e}"));
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            r.join("d").as_path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(r.join("d/sub")).unwrap_or_else(|e| panic!("{e}"));
        let ask = |name: &str| entry_type(&fd, name, FileType::Unknown).ok();
        assert_eq!(ask("doc.md"), Some(FileType::RegularFile));
        assert_eq!(ask("link.md"), Some(FileType::Symlink));
        assert_eq!(ask("sub"), Some(FileType::Directory));
        assert_eq!(ask("missing.md"), None);
        assert_eq!(
            entry_type(&fd, "whatever", FileType::Directory).ok(),
            Some(FileType::Directory),
            "a reported type is taken as it is"
        );
    }

    /// A walk handed to a helper started earlier is complete once the caller's own `work`
    /// returns, however far the helper got; a helper never handed one ends.
    #[test]
    fn a_helper_started_early_shares_the_walk() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        let mut expected = Vec::new();
        for i in 0..(STAT_CHUNK * 3) {
            let rel = format!("d{}/n{i}.md", i % 4);
            write(r, &rel, "x");
            expected.push(rel);
        }
        expected.sort();
        for _ in 0..20 {
            let w = Arc::new(Walk::new(r, &[".".to_string()], &[], true));
            if let Some(h) = WalkHelper::start() {
                h.join(&w);
            }
            w.work();
            let (found, diags) = w.finish().unwrap_or_else(|_| panic!("the walk failed"));
            let mut got: Vec<String> = found.into_iter().map(|f| f.rel).collect();
            got.sort();
            assert_eq!(got, expected);
            assert!(diags.is_empty());
        }
        drop(WalkHelper::start());
    }

    /// A cancelled walk (its store failed to open) stops its workers and is never taken for the
    /// tree.
    #[test]
    fn a_cancelled_walk_is_reported_incomplete() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(t.path(), "a/b.md", "x");
        let w = Walk::new(t.path(), &[".".to_string()], &[], true);
        w.cancel();
        w.work();
        assert!(w.finish().is_err());
    }

    #[test]
    fn a_worker_that_panics_fails_the_walk_instead_of_hanging_it() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = t.path();
        for i in 0..200 {
            write(r, &format!("docs/n{i}.md"), "x");
        }
        write(r, "docs/a-worker-panics-here/p.md", "x");
        let w = Walk::new(r, &[".".to_string()], &[], true);
        let panicked = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2).map(|_| s.spawn(|| w.work())).collect();
            handles
                .into_iter()
                .map(|h| h.join().is_err())
                .filter(|e| *e)
                .count()
                > 0
                || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.work())).is_err()
        });
        assert!(panicked);
        assert!(w.finish().is_err());
    }
}
