//! The storage contract's guarantees, checked against the SQLite backend: schema versioning,
//! the append-only journal, compare-and-swap transitions, atomic sequence allocation across
//! threads, and the truth-model merge inside `apply_index`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_core::item::Item;
use evident_core::StatusDef;
use evident_store::*;

fn ctx() -> EventContext {
    EventContext {
        actor: "t".into(),
        machine: "m".into(),
        source: "file".into(),
        correlation_id: "c".into(),
        at: "2026-01-01T00:00:00Z".into(),
    }
}

fn status(key: &str, rank: i64) -> StatusDef {
    StatusDef {
        key: key.into(),
        name: key.into(),
        label: key.into(),
        rank,
        terminal: rank >= 2,
    }
}

fn item(id: &str, status: &str) -> Item {
    Item {
        id: id.into(),
        kind: "task".into(),
        title: id.into(),
        status: status.into(),
        priority: None,
        parent: None,
        depends_on: vec![],
        lane: None,
        owner: None,
        labels: vec![],
        path: format!("{id}.md"),
        line: 1,
        fields: Default::default(),
        sections: vec![],
        content_hash: format!("h-{id}-{status}"),
    }
}

fn update(id: &str, st: StatusDef) -> FileChange {
    FileChange::Update(FileUpdate {
        path: format!("{id}.md"),
        state: FileState {
            size: 1,
            mtime_ns: 1,
            hash: [1; 16],
            broken: false,
            recheck: false,
        },
        broken: false,
        items: vec![IndexedItem {
            encoded: EncodedItem::of(&item(id, &st.key)),
            item: item(id, &st.key),
            status: Some(st),
            priority_rank: None,
        }],
        diagnostics: vec![],
    })
}

fn index(store: &mut SqliteStore, checkout: &str, changes: Vec<FileChange>) -> IndexReport {
    let reread = changes
        .iter()
        .map(|c| match c {
            FileChange::Update(u) => u.path.clone(),
            FileChange::Touched(p, _) => p.clone(),
        })
        .collect();
    let batch = IndexBatch {
        checkout: checkout.into(),
        reread,
        removed: vec![],
        walk_diagnostics: None,
    };
    store
        .apply_index(&batch, &mut changes.into_iter(), &ctx())
        .unwrap()
}

#[test]
fn a_store_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    drop(SqliteStore::open(&p).unwrap());
    let conn = rusqlite::Connection::open(&p).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&p).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{msg}");
    assert!(msg.contains("upgrade evident"), "{msg}");
}

#[test]
fn the_journal_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let mut s = SqliteStore::open(&p).unwrap();
    index(&mut s, "a", vec![update("T-1", status("todo", 0))]);
    let conn = rusqlite::Connection::open(&p).unwrap();
    assert!(conn.execute("UPDATE events SET actor = 'x'", []).is_err());
    assert!(conn.execute("DELETE FROM events", []).is_err());
    assert_eq!(s.events(None, None).unwrap().len(), 1);
}

#[test]
fn transitions_are_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    index(&mut s, "a", vec![update("T-1", status("todo", 0))]);
    let req = |from: &str| TransitionRequest {
        id: "T-1".into(),
        from: from.into(),
        to: status("done", 2),
        action: action::TRANSITION,
        reason: None,
        file_status: None,
    };
    s.transition(&req("todo"), &ctx()).unwrap();
    let err = s.transition(&req("todo"), &ctx()).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(matches!(
        s.transition(
            &TransitionRequest {
                id: "NOPE".into(),
                ..req("todo")
            },
            &ctx()
        ),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn sequences_never_repeat_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    drop(SqliteStore::open(&p).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut s = SqliteStore::open(&p).unwrap();
                (0..25)
                    .map(|_| s.allocate_sequence("ST", 1).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n);
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
}

#[test]
fn indexing_never_lowers_a_rank_and_per_checkout_memory_tells_stale_from_edited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    index(&mut s, "a", vec![update("T-1", status("todo", 0))]);
    index(&mut s, "b", vec![update("T-1", status("todo", 0))]);
    // Checkout a's file moves forward: applied.
    let r = index(&mut s, "a", vec![update("T-1", status("done", 2))]);
    assert_eq!(r.status_applied, 1);
    // Checkout b still says todo, as it always did: stale, nothing proposed, nothing reported.
    let r = index(&mut s, "b", vec![update("T-1", status("todo", 0))]);
    assert_eq!((r.status_applied, r.status_refused), (0, 0));
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    // Checkout a lowers its file: refused and reported.
    let r = index(&mut s, "a", vec![update("T-1", status("todo", 0))]);
    assert_eq!(r.status_refused, 1);
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    assert!(s
        .diagnostics()
        .unwrap()
        .iter()
        .any(|d| d.code.code() == "EV117"));
    // A checkout that never saw the item only takes a status ahead of the store.
    let r = index(&mut s, "c", vec![update("T-1", status("in_progress", 1))]);
    assert_eq!(r.status_applied, 0);
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
}
