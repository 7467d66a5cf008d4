//! Walking the document roots: Markdown files only, `.gitignore` respected (via the `ignore`
//! crate, ripgrep's walker), hidden folders skipped unless a root names one, symlinks followed
//! but never out of the repository, loops reported rather than followed.

use std::path::Path;
use std::sync::Mutex;

use evident_core::{DiagCode, Diagnostic};
use ignore::{ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

/// A document found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    /// Repository-relative, `/`-separated.
    pub rel: String,
    pub size: u64,
    pub mtime_ns: i64,
}

fn is_markdown(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("md") | Some("markdown")
    )
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

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Walk `roots` (relative to `root`), returning documents in no particular order (possibly
/// twice when roots overlap), and diagnostics for what could not be walked.
pub fn walk(root: &Path, roots: &[String], exclude: &[String]) -> (Vec<Found>, Vec<Diagnostic>) {
    let found = Mutex::new(Vec::new());
    let diags = Mutex::new(Vec::new());
    let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut starts = roots.iter().map(|r| root.join(r)).filter(|p| p.exists());
    let Some(first) = starts.next() else {
        return (vec![], vec![]);
    };
    let mut b = WalkBuilder::new(first);
    for s in starts {
        b.add(s);
    }
    let mut ov = ignore::overrides::OverrideBuilder::new(root);
    // Evident's own store folder is never a document root.
    let _ = ov.add("!.evident/");
    for e in exclude {
        let _ = ov.add(&format!("!{e}"));
    }
    if let Ok(o) = ov.build() {
        b.overrides(o);
    }
    b.follow_links(true)
        .require_git(false)
        .hidden(true)
        .threads(2);
    let mut builder = Collector {
        root,
        canon_root: &canon_root,
        found: &found,
        diags: &diags,
    };
    b.build_parallel().visit(&mut builder);
    // Unordered; overlapping roots may list a document twice (the index deduplicates).
    let found = found.into_inner().unwrap_or_default();
    let mut diags = diags.into_inner().unwrap_or_default();
    diags.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
    (found, diags)
}

fn describe(err: &ignore::Error) -> (Option<std::path::PathBuf>, String) {
    match err {
        ignore::Error::WithPath { path, err } => (Some(path.clone()), describe(err).1),
        ignore::Error::WithDepth { err, .. } => describe(err),
        ignore::Error::WithLineNumber { err, .. } => describe(err),
        ignore::Error::Loop { child, ancestor } => (
            Some(child.clone()),
            format!(
                "symlink loop: {} points back to {}",
                child.display(),
                ancestor.display()
            ),
        ),
        other => (None, other.to_string()),
    }
}

/// Builds one [`Visitor`] per walker thread.
struct Collector<'a> {
    root: &'a Path,
    canon_root: &'a Path,
    found: &'a Mutex<Vec<Found>>,
    diags: &'a Mutex<Vec<Diagnostic>>,
}

impl<'s> ParallelVisitorBuilder<'s> for Collector<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            root: self.root,
            canon_root: self.canon_root,
            found: Vec::new(),
            diags: Vec::new(),
            shared_found: self.found,
            shared_diags: self.diags,
        })
    }
}

/// Collects into thread-local buffers and hands them over once, when its thread finishes.
struct Visitor<'a> {
    root: &'a Path,
    canon_root: &'a Path,
    found: Vec<Found>,
    diags: Vec<Diagnostic>,
    shared_found: &'a Mutex<Vec<Found>>,
    shared_diags: &'a Mutex<Vec<Diagnostic>>,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.shared_found.lock() {
            f.append(&mut self.found);
        }
        if let Ok(mut d) = self.shared_diags.lock() {
            d.append(&mut self.diags);
        }
    }
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> WalkState {
        let root = self.root;
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let (path, msg) = describe(&err);
                let rel = path
                    .as_deref()
                    .and_then(|p| rel_of(root, p))
                    .unwrap_or_default();
                self.diags.push(Diagnostic::new(
                    DiagCode::Unreadable,
                    &rel,
                    0,
                    msg,
                    "fix the permissions or the symlink, or exclude the path in [project] exclude",
                ));
                return WalkState::Continue;
            }
        };
        let p = entry.path();
        if entry.path_is_symlink() {
            let inside = p
                .canonicalize()
                .map(|t| t.starts_with(self.canon_root))
                .unwrap_or(false);
            if !inside {
                self.diags.push(Diagnostic::new(
                    DiagCode::PathEscape,
                    &rel_of(root, p).unwrap_or_default(),
                    0,
                    "symlink points outside the repository (or nowhere); it is not followed",
                    "remove the link, point it inside the repository, or exclude it",
                ));
                return WalkState::Skip;
            }
        }
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        if !is_file || !is_markdown(p) {
            return WalkState::Continue;
        }
        let Some(rel) = rel_of(root, p) else {
            return WalkState::Continue;
        };
        match entry.metadata() {
            Ok(m) => self.found.push(Found {
                rel,
                size: m.len(),
                mtime_ns: mtime_ns(&m),
            }),
            Err(e) => self.diags.push(Diagnostic::new(
                DiagCode::Unreadable,
                &rel,
                0,
                e.to_string(),
                "check the file's permissions",
            )),
        }
        WalkState::Continue
    }
}
