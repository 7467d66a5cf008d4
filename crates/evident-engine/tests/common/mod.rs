//! Repositories for the engine's tests: a copy of the bundled example project, documents added
//! to it, and a workspace opened on it as a command would open one.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use evident_engine::{Overrides, Workspace};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // A store is not part of the example: the README's quick start leaves one in
        // examples/demo, and a copy of it would make every "first index" here a second one.
        if e.file_name() == ".evident" {
            continue;
        }
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A copy of `examples/demo` in a temporary folder.
pub fn demo_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
    copy_tree(&demo, dir.path());
    dir
}

/// The workspace a command run in `root` by `ann` would open.
pub fn open(root: &Path) -> Workspace {
    Workspace::open(&Overrides {
        dir: Some(root.to_path_buf()),
        actor: Some("ann".into()),
        ..Default::default()
    })
    .unwrap()
}

/// Date a file an hour back: old enough that an index trusts its size and mtime (a recent
/// mtime makes the next pass read the bytes again).
pub fn age(p: &Path) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// Write `text` to `rel` under `root` (its folders made as needed), dated an hour back (see
/// [`age`]).
pub fn write_aged(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    age(&p);
}

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Write `n` stories `ST-0` … under `work/bulk`, each with `lines` lines of text in its
/// description: at 40 lines, 600 of them fill a few hundred 16 KiB pages, more than a first
/// load's page cache holds, so SQLite writes pages out as the load goes.
pub fn bulk_stories(root: &Path, n: usize, lines: usize) {
    let body = "A line of text that the store keeps in the item's sections.\n".repeat(lines);
    for i in 0..n {
        write_aged(
            root,
            &format!("work/bulk/ST-{i}.md"),
            &format!("---\nid: ST-{i}\nkind: story\ntitle: Story {i}\nstatus: todo\n---\n\n## Description\n\n{body}"),
        );
    }
}

/// How many items a search for `text` lists in the store of the workspace opened at `root`.
pub fn found(root: &Path, text: &str) -> usize {
    let mut ws = open(root);
    ws.store()
        .list_items(&evident_engine::ItemFilter {
            search: Some(text.into()),
            ..Default::default()
        })
        .unwrap()
        .len()
}
