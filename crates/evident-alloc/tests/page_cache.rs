//! SQLite's own page cache (`reserve_sqlite_page_cache`), in a process of its own: the
//! configuration is process-wide and only takes before SQLite's first use, so this file holds
//! one test, which makes the process's first SQLite calls.

#![cfg(all(target_os = "linux", target_env = "gnu"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Page buffers SQLite has taken from the reserved block (`SQLITE_STATUS_PAGECACHE_USED`).
fn lines_in_use() -> i32 {
    let (mut now, mut high) = (0, 0);
    // SAFETY: two valid out-pointers; the status counters may be read at any time.
    #[allow(unsafe_code)]
    let rc = unsafe {
        rusqlite::ffi::sqlite3_status(
            rusqlite::ffi::SQLITE_STATUS_PAGECACHE_USED,
            &mut now,
            &mut high,
            0,
        )
    };
    assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
    now
}

#[test]
fn a_store_built_after_the_reservation_keeps_its_pages_in_it_and_its_data_intact() {
    evident_alloc::route_sqlite();
    assert!(
        evident_alloc::reserve_sqlite_page_cache(),
        "the page cache is set up"
    );
    assert!(
        !evident_alloc::reserve_sqlite_page_cache(),
        "a second reservation changes nothing"
    );
    // Warming faults the block in; a second call has nothing left to do.
    evident_alloc::warm_sqlite_page_cache();
    evident_alloc::warm_sqlite_page_cache();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 16384; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )
    .unwrap();
    let row = |k: i64| format!("{k}:{}", "x".repeat(600));
    let tx = conn.unchecked_transaction().unwrap();
    for k in 0..2_000 {
        tx.execute(
            "INSERT INTO t (k, v) VALUES (?1, ?2)",
            rusqlite::params![k, row(k)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    // ~80 pages of 16 KiB: more than the block's ~120 lines hold would spill to the heap.
    assert!(
        lines_in_use() > 10,
        "SQLite takes its page buffers from the reserved block ({} in use)",
        lines_in_use()
    );
    drop(conn);

    // Every row reads back as written, through a new connection (the file, not the cache).
    let again = rusqlite::Connection::open(&path).unwrap();
    let mut st = again.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
    let rows: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2_000);
    for (k, v) in rows {
        assert_eq!(v, row(k));
    }
}
