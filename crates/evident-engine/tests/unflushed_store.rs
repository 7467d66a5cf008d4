//! A first index publishes its new store without flushing it, marked with this boot's id; the
//! first process to write to it flushes it and removes the mark; a store marked by an earlier
//! boot (the machine stopped before it was flushed) is set aside, never used and never deleted
//! (see `unflushed.rs` in the SQLite store). A binary of its own: the flush count is
//! process-wide, and the other tests' binaries ask for flushing before publishing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use evident_engine::index::{index, NoProgress};
use evident_store::testing::{flushes_during_loads, sqlite_count, syncs_made};
use evident_store::{EventContext, NewEvent};

mod common;
use common::{bulk_stories, demo_repo, found, open};

const MARK: &str = "user.evident.unflushed";

fn mark_of(p: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    rustix::fs::getxattr(p, MARK, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

/// A copy of the example project, where the file system keeps extended attributes (the mark
/// needs them); none elsewhere, which only a machine outside CI may be.
fn repo_with_xattrs() -> Option<tempfile::TempDir> {
    let dir = demo_repo();
    let p = dir.path().join("xattr-probe");
    std::fs::write(&p, b"").unwrap();
    let ok = rustix::fs::setxattr(&p, "user.probe", b"1", rustix::fs::XattrFlags::empty()).is_ok();
    std::fs::remove_file(&p).unwrap();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's disk keeps extended attributes: these tests must run there"
        );
        eprintln!(
            "no extended attributes in {}: skipped",
            dir.path().display()
        );
        return None;
    }
    Some(dir)
}

/// Index the checkout at `root` for the first time, as `index` does; the items it created.
fn first_index(root: &Path) -> usize {
    let mut ws = open(root);
    assert!(ws.store().is_new());
    index(&mut ws, false, &NoProgress).unwrap().report.created
}

#[test]
fn a_new_store_is_published_unflushed_and_flushed_by_its_first_writer() {
    let Some(dir) = repo_with_xattrs() else {
        return;
    };
    let root = dir.path();
    // The load writes pages out as it goes, and its flusher starts their writes (without
    // waiting for them).
    bulk_stories(root, 600, 40);
    let store = root.join(".evident/evident.db");
    let (rounds, syncs) = (flushes_during_loads(), syncs_made());
    let created = first_index(root);
    assert!(
        flushes_during_loads() > rounds,
        "the load's writes were started as it went"
    );
    assert_eq!(
        syncs_made() - syncs,
        0,
        "no fdatasync, no fsync: nothing waited for the disk"
    );
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(mark_of(&store).as_deref(), Some(boot.trim().as_bytes()));

    // A reader leaves the mark: it reads the pages from the kernel's cache.
    assert_eq!(found(root, "Story 599"), 1);
    assert!(mark_of(&store).is_some(), "a reader does not flush");
    assert_eq!(syncs_made() - syncs, 0, "nor does it sync");

    // The first writer flushes the store and removes the mark before it writes.
    let mut ws = open(root);
    let ctx = EventContext {
        actor: "ann".into(),
        machine: "m".into(),
        source: "cli".into(),
        correlation_id: "c1".into(),
        at: "2026-12-06T00:00:00Z".into(),
    };
    ws.store()
        .append_event(
            &NewEvent {
                item: "ST-1",
                action: "note",
                from: None,
                to: None,
                reason: Some("written after the first index"),
            },
            &ctx,
        )
        .unwrap();
    drop(ws);
    assert_eq!(mark_of(&store), None);
    // The file's data, the mark's removal, the folder.
    assert_eq!(
        syncs_made() - syncs,
        3,
        "the first writer synced the store first"
    );
    let conn = rusqlite::Connection::open(&store).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let items = sqlite_count(&conn, "SELECT COUNT(*) FROM items").unwrap();
    assert_eq!(items as usize, created);
    let events = sqlite_count(&conn, "SELECT COUNT(*) FROM events").unwrap();
    assert_eq!(events, items + 1);
}

#[test]
fn a_reader_flushes_a_store_left_unflushed_for_more_than_half_a_minute() {
    let Some(dir) = repo_with_xattrs() else {
        return;
    };
    let root = dir.path();
    bulk_stories(root, 20, 1);
    let store = root.join(".evident/evident.db");
    first_index(root);
    assert!(mark_of(&store).is_some());
    // Last written a minute ago: its writes have long reached the disk, and a flush costs
    // little, so the reader does it.
    std::fs::File::options()
        .write(true)
        .open(&store)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .unwrap();
    let syncs = syncs_made();
    assert_eq!(found(root, "Story 19"), 1);
    assert_eq!(mark_of(&store), None, "flushed by the reader");
    assert_eq!(syncs_made() - syncs, 3);
}

#[test]
fn a_store_left_unflushed_by_an_earlier_boot_is_set_aside_and_rebuilt() {
    let Some(dir) = repo_with_xattrs() else {
        return;
    };
    let root = dir.path();
    bulk_stories(root, 20, 1);
    let store = root.join(".evident/evident.db");
    let first = first_index(root);
    // As if the machine had stopped before the store reached the disk, and started again.
    rustix::fs::setxattr(
        &store,
        MARK,
        b"00000000-0000-0000-0000-000000000000",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();

    let mut ws = open(root);
    assert!(ws.store().is_new(), "the marked store is not used");
    let aside = evident_store::stores_set_aside();
    assert_eq!(aside.len(), 1);
    let kept = rusqlite::Connection::open(&aside[0]).unwrap();
    assert_eq!(
        sqlite_count(&kept, "SELECT COUNT(*) FROM items").unwrap() as usize,
        first,
        "set aside whole, not deleted"
    );
    let again = index(&mut ws, false, &NoProgress).unwrap().report.created;
    drop(ws);
    assert_eq!(again, first, "rebuilt from the documents");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(mark_of(&store).as_deref(), Some(boot.trim().as_bytes()));
}
