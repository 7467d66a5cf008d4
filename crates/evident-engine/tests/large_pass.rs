//! The hook a binary sets to learn that a large pass is starting (it switches allocators there):
//! called before an index pass or a `check` that reads `LARGE_PASS` documents or more, and not
//! before smaller ones. A test binary of its own: the hook is process-wide and set once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use evident_engine::index::{index, on_large_pass, NoProgress, LARGE_PASS, LARGE_STORE_BYTES};
use evident_engine::{ops, reconcile};

mod common;
use common::{age, demo_repo, files_under, open, write_aged};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    CALLS.fetch_add(1, Ordering::SeqCst);
}

fn write_stories(root: &Path, from: usize, n: usize, status: &str) {
    for i in from..from + n {
        write_aged(
            root,
            &format!("work/more/ST-{i}.md"),
            &format!("---\nid: ST-{i}\nkind: story\ntitle: Story {i}\nstatus: {status}\n---\n"),
        );
    }
}

#[test]
fn the_hook_runs_before_large_passes_only() {
    on_large_pass(count);
    let repo = demo_repo();
    for f in files_under(repo.path()) {
        age(&f);
    }
    let mut ws = open(repo.path());
    index(&mut ws, false, &NoProgress).unwrap();
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        0,
        "a first index of the demo is small"
    );
    drop(ws);

    write_stories(repo.path(), 100, LARGE_PASS - 1, "todo");
    let mut ws = open(repo.path());
    let o = index(&mut ws, false, &NoProgress).unwrap();
    assert_eq!(o.read, LARGE_PASS - 1);
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        0,
        "one document short of large"
    );
    drop(ws);

    write_stories(repo.path(), 1000, LARGE_PASS, "todo");
    let mut ws = open(repo.path());
    let o = index(&mut ws, false, &NoProgress).unwrap();
    assert_eq!(o.read, LARGE_PASS);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1, "a large index pass");
    drop(ws);

    // `check` reading as many edited documents.
    write_stories(repo.path(), 1000, LARGE_PASS, "in_progress");
    let mut ws = open(repo.path());
    reconcile::check(&mut ws).unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "a large check");
    drop(ws);

    // Opening a large store is large work whatever the command (padded here: SQLite reads the
    // pages its header counts and ignores the zeros after them).
    let mut ws = open(repo.path());
    ops::status(&mut ws, 10, 10).unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "a small store");
    drop(ws);
    let db = repo.path().join(".evident/evident.db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(LARGE_STORE_BYTES)
        .unwrap();
    let mut ws = open(repo.path());
    assert_eq!(CALLS.load(Ordering::SeqCst), 3, "a large store");
    let s = ops::status(&mut ws, 10, 10).unwrap();
    assert!(!s.ready.is_empty(), "the padded store reads as before");
}
