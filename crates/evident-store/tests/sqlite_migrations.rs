//! Upgrading a SQLite store file written by an older binary keeps everything it held.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_store::{SqliteStore, Store, LATEST_SCHEMA};

/// A store file at schema 3, as the binary of that release left it, with a journal.
fn schema3_store(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    for sql in [
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/sqlite/0002_claims.sql"),
        include_str!("../migrations/sqlite/0003_gates.sql"),
    ] {
        c.execute_batch(sql).unwrap();
    }
    c.pragma_update(None, "user_version", 3).unwrap();
    for (item, action) in [
        ("ST-1", "created"),
        ("ST-2", "created"),
        ("ST-1", "transition"),
    ] {
        c.execute(
            "INSERT INTO events (item, action, to_status, actor, machine, source, correlation_id, at)
             VALUES (?1, ?2, 'todo', 'ann', 'box', 'cli', 'c-1', '2026-01-01T00:00:00Z')",
            [item, action],
        )
        .unwrap();
    }
}

#[test]
fn schema_4_keeps_the_journal_its_numbers_and_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    schema3_store(&path);
    let (before, after) = SqliteStore::migrate_file(&path).unwrap();
    assert_eq!((before, after), (3, LATEST_SCHEMA));
    let mut s = SqliteStore::open(&path).unwrap();
    let events = s.events(None, None).unwrap();
    let mut got: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|e| (e.seq, e.item.as_str(), e.action.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (1, "ST-1", "created"),
            (2, "ST-2", "created"),
            (3, "ST-1", "transition")
        ],
        "{got:?}"
    );
    // The next event continues the sequence.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "INSERT INTO events (item, action, actor, machine, source, correlation_id, at)
         VALUES ('ST-2', 'note', 'bob', 'box', 'cli', 'c-2', 't')",
        [],
    )
    .unwrap();
    assert_eq!(c.last_insert_rowid(), 4);
    // Still append-only, and the per-item index is back.
    let err = c
        .execute("DELETE FROM events WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = c
        .execute("UPDATE events SET actor = 'eve' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let indexes: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes, vec!["events_item".to_string()]);
    let autoinc = evident_store::testing::sqlite_count(
        &c,
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events' AND sql LIKE '%AUTOINCREMENT%'",
    )
    .unwrap();
    assert_eq!(autoinc, 0);
}

fn page_size(path: &std::path::Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_store_has_16k_pages_and_an_older_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.db");
    SqliteStore::open(&new).unwrap();
    assert_eq!(page_size(&new), 16384);
    // A store created by an earlier release (4 KiB pages) is upgraded in place, page size kept.
    let old = dir.path().join("old.db");
    schema3_store(&old);
    assert_eq!(page_size(&old), 4096);
    let mut s = SqliteStore::open(&old).unwrap();
    assert_eq!(s.events(None, None).unwrap().len(), 3);
    drop(s);
    assert_eq!(page_size(&old), 4096);
}

/// The names a one-column query over the store file at `path` returns.
fn names(path: &std::path::Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn schema_6_adds_the_lines_of_the_graph_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    schema3_store(&path);
    let columns = |path: &std::path::Path| {
        names(
            path,
            "SELECT name FROM pragma_table_info('items') WHERE name LIKE '%_line'",
        )
    };
    assert!(columns(&path).is_empty());
    assert_eq!(
        SqliteStore::migrate_file(&path).unwrap(),
        (3, LATEST_SCHEMA)
    );
    assert_eq!(columns(&path), ["parent_line", "depends_line"]);
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.events(None, None).unwrap().len(), 3);
}

/// Schema 5 put the status rank in the ready index; schema 7 cut the open-work indexes down to
/// open items (and the children index to items with a parent). A store from before both is
/// upgraded to the new shape with its journal kept (and, since schema 7, its item sources keyed
/// by item first).
#[test]
fn the_open_work_indexes_hold_the_status_rank_and_open_items_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    schema3_store(&path);
    let columns =
        |path: &std::path::Path| names(path, "SELECT name FROM pragma_index_info('items_open')");
    let partial = |path: &std::path::Path| {
        names(
            path,
            "SELECT name FROM pragma_index_list('items') WHERE partial = 1 ORDER BY name",
        )
    };
    assert_eq!(
        columns(&path),
        ["terminal", "blocked", "priority_rank", "id"]
    );
    assert!(partial(&path).is_empty());
    SqliteStore::migrate_file(&path).unwrap();
    assert_eq!(
        columns(&path),
        ["blocked", "priority_rank", "id", "status_rank"]
    );
    // (Schema 8 then replaced `items_lane` with the table of counts.)
    assert_eq!(partial(&path), ["items_open", "items_parent"]);
    // Sources are keyed by item, then checkout; the index by id alone is gone.
    assert_eq!(
        names(
            &path,
            "SELECT name FROM pragma_table_info('item_sources') WHERE pk > 0 ORDER BY pk"
        ),
        ["id", "checkout"]
    );
    assert_eq!(
        names(
            &path,
            "SELECT name FROM pragma_index_list('item_sources') WHERE origin = 'c' ORDER BY name"
        ),
        ["item_sources_drifted", "item_sources_path"]
    );
    // The journal written before the upgrade is still there.
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.events(None, None).unwrap().len(), 3);
}

/// Schema 8 counts items by kind, status and lane in a table of its own: a store from before it
/// gets the table filled from its items, and `status` reads the same counts from it.
#[test]
fn schema_8_counts_the_items_it_finds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/sqlite/0002_claims.sql"),
        include_str!("../migrations/sqlite/0003_gates.sql"),
        include_str!("../migrations/sqlite/0004_journal_seq.sql"),
        include_str!("../migrations/sqlite/0005_ready_index.sql"),
        include_str!("../migrations/sqlite/0006_field_lines.sql"),
        include_str!("../migrations/sqlite/0007_lean_indexes.sql"),
    ] {
        c.execute_batch(sql).unwrap();
    }
    c.pragma_update(None, "user_version", 7).unwrap();
    for (id, status, rank, lane) in [
        ("S-1", "todo", Some(0), Some("core")),
        ("S-2", "todo", Some(0), None),
        ("S-3", "done", Some(2), Some("core")),
        ("S-4", "odd", None, None),
        ("S-5", "todo", Some(0), Some("core")),
    ] {
        c.execute(
            "INSERT INTO items (id, kind, title, status, status_rank, terminal, priority_rank, labels,
               depends_on, checkout, path, line, fields, sections, content_hash, updated_at, lane)
             VALUES (?1, 'story', 't', ?2, ?3, ?2 = 'done', 1000000, '[]', '[]', '/r', 'a.md', 1,
               '{}', '[]', 'h', 't', ?4)",
            rusqlite::params![id, status, rank, lane],
        )
        .unwrap();
    }
    drop(c);
    assert_eq!(
        SqliteStore::migrate_file(&path).unwrap(),
        (7, LATEST_SCHEMA)
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    let (items, counts) = evident_store::testing::sqlite_item_counts(&c).unwrap();
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items, counts);
    drop(c);
    let mut s = SqliteStore::open(&path).unwrap();
    let sum = s.summary(0).unwrap();
    assert_eq!((sum.total, sum.terminal), (5, 1));
    assert_eq!(
        sum.by_lane,
        [(Some("core".to_string()), 2), (None, 2)],
        "open items by lane"
    );
}

/// Bytes 18 and 19 of a SQLite file: 1 for a rollback journal, 2 for WAL.
fn file_format(path: &std::path::Path) -> (u8, u8) {
    let b = std::fs::read(path).unwrap();
    (b[18], b[19])
}

/// A store left in rollback-journal mode (by an earlier release: created, and never given a
/// first index with documents in it) is switched to WAL by whichever process opens it first. Processes opening it
/// at the same moment used to race on that switch: one would already be reading the file when
/// another changed its format, and SQLite refuses that upgrade at once ("database is locked"),
/// without waiting.
#[test]
fn many_processes_opening_a_rollback_journal_store_at_once_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evident.db");
        drop(SqliteStore::open(&path).unwrap());
        // A new store is published in WAL mode; one an older release created may not be.
        rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_update(None, "journal_mode", "DELETE")
            .unwrap();
        assert_eq!(file_format(&path), (1, 1), "the store starts without WAL");
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(|mut s| s.schema_version().unwrap())
                })
            })
            .collect();
        for t in threads {
            let r = t.join().unwrap();
            assert!(r.is_ok(), "round {round}: {:?}", r.err());
        }
        assert_eq!(file_format(&path), (2, 2), "the store is in WAL mode now");
    }
}

/// A new store's schema is created on a thread of its own while the opening process goes on,
/// in a file of its own until it is published (see `SqliteStore::open`). Threads creating one
/// new store at once all end with the whole schema, and every write lands in the one store
/// published (a write publishes first; the losers of that race write into the winner's).
#[test]
fn many_openers_of_a_new_store_file_all_get_the_whole_schema() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evident.db");
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut s = SqliteStore::open(&path)?;
                    let v = s.schema_version()?;
                    s.repo_add(&format!("r{t}"), &format!("/src/r{t}"))?;
                    Ok::<_, evident_store::StoreError>(v)
                })
            })
            .collect();
        for t in threads {
            let r = t.join().unwrap();
            assert_eq!(r.ok(), Some(LATEST_SCHEMA), "round {round}");
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.repos().unwrap().len(), 6, "round {round}");
    }
}

/// A new store is built in rollback-journal mode and published in WAL mode; a first index that
/// finds no documents publishes it too, so the store does not stay in the mode whose switch
/// other processes would race on.
#[test]
fn an_empty_first_index_leaves_the_store_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    let mut s = SqliteStore::open(&path).unwrap();
    let batch = evident_store::IndexBatch {
        checkout: "/repo".into(),
        walk_diagnostics: Some(vec![]),
        ..Default::default()
    };
    let ctx = evident_store::EventContext {
        actor: "ann".into(),
        machine: "box".into(),
        source: "file".into(),
        correlation_id: "c-1".into(),
        at: "2026-01-01T00:00:00Z".into(),
    };
    let report = s
        .apply_index(&batch, &mut std::iter::empty(), &ctx)
        .unwrap();
    assert_eq!(report.created, 0);
    drop(s);
    assert_eq!(file_format(&path), (2, 2));
}

/// A new store is built under a temporary name next to its final one. One left behind by a
/// process that died while building it is removed by the next new store's opening once it is
/// old; one that may still be in the works is left alone.
#[test]
fn stale_staged_stores_are_cleared_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    let old = dir.path().join("evident.db.new-999999-0");
    let recent = dir.path().join("evident.db.new-999998-0");
    let unrelated = dir.path().join("other.db.new-999999-0");
    for p in [&old, &recent, &unrelated] {
        std::fs::write(p, b"half a store").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for p in [&old, &unrelated] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert!(!old.exists());
    assert!(recent.exists() && unrelated.exists());
    drop(s);
    // Dropped unwritten, the new store was published whole, and its temporary name is gone.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "evident.db",
            "evident.db.new-999998-0",
            "other.db.new-999999-0"
        ]
    );
    assert_eq!(file_format(&path), (2, 2));
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), LATEST_SCHEMA);
}
