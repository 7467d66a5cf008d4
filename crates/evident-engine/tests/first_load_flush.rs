//! A first index that flushes its new store before publishing it (where the store cannot be
//! marked unflushed, see `unflushed.rs` in the SQLite store; this test asks for it) flushes the
//! file while it is still loading it (`LoadFlusher`), and what it publishes is whole. One test in
//! a binary of its own: the count of flushes is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_engine::index::{index, NoProgress};
use evident_store::testing::{
    flushes_during_loads, pages_read_by_index_builds, sqlite_count, syncs_made,
};

mod common;
use common::{bulk_stories, demo_repo, found, open};

#[test]
fn a_first_index_flushes_its_store_while_it_loads_and_publishes_it_whole() {
    evident_store::flush_new_stores_before_publishing();
    let dir = demo_repo();
    let root = dir.path();
    // SQLite writes pages out during the load, and the flusher takes them to the disk.
    bulk_stories(root, 600, 40);
    let before = flushes_during_loads();
    let syncs = syncs_made();
    let read_before = pages_read_by_index_builds();
    let mut ws = open(root);
    assert!(ws.store().is_new());
    let out = index(&mut ws, false, &NoProgress).unwrap();
    drop(ws);
    let rounds = flushes_during_loads() - before;
    // The rounds, the early flush, the last flush and the folder's: it waited for the disk.
    assert!(
        syncs_made() - syncs >= rounds + 3,
        "{} syncs for {rounds} rounds",
        syncs_made() - syncs
    );
    let read = pages_read_by_index_builds() - read_before;
    // Rounds are asked for at 8, 16, 32, 64, ... pages written, and stop at 1,024. Those asked
    // for while one runs are merged into the next, so a slow disk gives fewer rounds (two, in
    // one CI run while a build wrote to the same disk): at least one, at most eight.
    assert!(
        (1..=8).contains(&rounds),
        "{rounds} flushes during the load"
    );

    let store = root.join(".evident/evident.db");
    let conn = rusqlite::Connection::open(&store).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // The index builds after the load read each page the load's small cache let go of once,
    // not once per index built over its table.
    let pages = sqlite_count(&conn, "PRAGMA page_count").unwrap();
    assert!(
        read > 0 && read <= pages as u64,
        "the index builds read {read} pages of a {pages}-page store"
    );
    let items = sqlite_count(&conn, "SELECT COUNT(*) FROM items").unwrap();
    assert_eq!(items as usize, out.report.created);
    let bulk = sqlite_count(
        &conn,
        "SELECT COUNT(*) FROM items WHERE path LIKE 'work/bulk/%'",
    );
    assert_eq!(bulk.unwrap(), 600);
    let events = sqlite_count(&conn, "SELECT COUNT(*) FROM events").unwrap();
    assert_eq!(events, items);

    // The published store answers as any other.
    assert!(!open(root).store().is_new());
    assert_eq!(found(root, "Story 599"), 1);
}
