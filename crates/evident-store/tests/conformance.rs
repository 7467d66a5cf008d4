//! The storage contract's conformance suite, run against every backend: each test below is
//! written once against `dyn Store` and instantiated for SQLite and for PostgreSQL by the
//! `conformance!` macro (PostgreSQL tests each get their own schema; they skip locally when
//! PostgreSQL is absent and fail in CI). What it proves: schema versioning, the append-only
//! journal, compare-and-swap transitions with the no-regress rule inside the store, atomic
//! sequences and claims under real threads, the truth-model merge inside `apply_index`, and that
//! every read answers the same on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use evident_core::item::Item;
use evident_core::StatusDef;
use evident_store::testing::{pg_schema, PgTestSchema};
use evident_store::*;

/// A store under test: opens new handles (connections) onto the same store, and can tamper
/// with it underneath the contract to prove the contract's defences.
trait Backend: Send + Sync {
    fn open(&self) -> Box<dyn Store>;
    /// Run raw SQL, bypassing the contract; the error message if the store refused.
    fn raw(&self, sql: &str) -> std::result::Result<(), String>;
    /// Pretend a newer evident wrote the store.
    fn set_future_version(&self);
    /// Open again, as a new process would (runs the version check).
    fn reopen(&self) -> std::result::Result<Box<dyn Store>, StoreError>;
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.path).unwrap())
    }
    fn raw(&self, sql: &str) -> std::result::Result<(), String> {
        let c = rusqlite::Connection::open(&self.path).unwrap();
        c.execute_batch(sql).map_err(|e| e.to_string())
    }
    fn set_future_version(&self) {
        let c = rusqlite::Connection::open(&self.path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    fn reopen(&self) -> std::result::Result<Box<dyn Store>, StoreError> {
        SqliteStore::open(&self.path).map(|s| Box::new(s) as Box<dyn Store>)
    }
}

struct Postgres(PgTestSchema);

impl Backend for Postgres {
    fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.0.target).unwrap())
    }
    fn raw(&self, sql: &str) -> std::result::Result<(), String> {
        let mut c = ::postgres::Client::connect(&self.0.url_without_schema(), ::postgres::NoTls)
            .map_err(|e| e.to_string())?;
        c.batch_execute(&format!(
            "SET search_path TO {}; {sql}",
            self.0.target.schema
        ))
        .map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or(e.to_string())
        })
    }
    fn set_future_version(&self) {
        self.raw("INSERT INTO schema_migrations (version) VALUES (99)")
            .unwrap();
    }
    fn reopen(&self) -> std::result::Result<Box<dyn Store>, StoreError> {
        PgStore::open(&self.0.target).map(|s| Box::new(s) as Box<dyn Store>)
    }
}

trait UrlWithoutSchema {
    fn url_without_schema(&self) -> String;
}

impl UrlWithoutSchema for PgTestSchema {
    fn url_without_schema(&self) -> String {
        evident_store::testing::test_server_url()
    }
}

fn sqlite_backend() -> Arc<dyn Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(SqliteStore::open(&path).unwrap());
    Arc::new(Sqlite { _dir: dir, path })
}

fn pg_backend(test: &str) -> Option<Arc<dyn Backend>> {
    pg_schema(test).map(|s| Arc::new(Postgres(s)) as Arc<dyn Backend>)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite_backend()); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(b) = super::pg_backend(concat!("conf_", stringify!($name))) {
                    super::$name(b);
                }
            } )*
        }
    };
}

conformance!(
    a_store_newer_than_the_binary_is_refused,
    the_journal_is_append_only,
    transitions_are_compare_and_swap_and_never_regress,
    sequences_never_repeat_across_threads,
    indexing_never_lowers_a_rank_and_per_checkout_memory_tells_stale_from_edited,
    reads_answer_the_same_on_every_backend,
    removed_documents_remove_their_items,
    an_item_declared_again_after_its_removal_is_merged_with_the_status_it_had,
    claims_are_leases,
    moves_respect_leases_and_finishing_ends_them,
    agents_never_take_the_same_item_twice,
    racing_transitions_leave_a_valid_journal,
    signoffs_are_immutable_and_gate_results_are_cached,
    a_first_index_settles_blocked_flags_as_later_passes_do,
    the_parse_fingerprint_is_recorded_per_checkout_with_a_pass,
    a_duplicate_declared_before_the_owner_by_path_takes_the_id_and_tells_the_owner,
    batched_comparison_rows_answer_as_the_single_lookups_do,
);

// ---------------------------------------------------------------------------------------------
// fixtures

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

#[derive(Clone, Default)]
struct Spec {
    id: &'static str,
    status: &'static str,
    rank: i64,
    parent: Option<&'static str>,
    deps: Vec<&'static str>,
    lane: Option<&'static str>,
    labels: Vec<&'static str>,
    priority: Option<i64>,
    title: &'static str,
}

fn item(s: &Spec) -> IndexedItem {
    let it = Item {
        id: s.id.into(),
        kind: "task".into(),
        title: if s.title.is_empty() { s.id } else { s.title }.into(),
        status: s.status.into(),
        priority: s.priority.map(|p| format!("P{p}")),
        parent: s.parent.map(str::to_string),
        depends_on: s.deps.iter().map(|d| d.to_string()).collect(),
        lane: s.lane.map(str::to_string),
        owner: None,
        labels: s.labels.iter().map(|d| d.to_string()).collect(),
        path: format!("{}.md", s.id),
        line: 1,
        fields: Default::default(),
        sections: vec![],
        content_hash: format!("h-{}-{}-{:?}", s.id, s.status, s.deps),
        field_lines: Default::default(),
    };
    IndexedItem {
        encoded: EncodedItem::of(&it),
        item: it,
        status: Some(status(s.status, s.rank).into()),
        priority_rank: s.priority,
    }
}

fn file(s: &Spec) -> FileChange {
    FileChange::Update(FileUpdate {
        path: format!("{}.md", s.id),
        state: evident_store::testing::file_state(),
        broken: false,
        items: vec![item(s)],
        diagnostics: vec![],
    })
}

fn update(id: &'static str, st: StatusDef) -> FileChange {
    let rank = st.rank;
    let key: &'static str = Box::leak(st.key.into_boxed_str());
    file(&Spec {
        id,
        status: key,
        rank,
        ..Default::default()
    })
}

fn index_with(
    store: &mut dyn Store,
    checkout: &str,
    changes: Vec<FileChange>,
    removed: Vec<String>,
) -> IndexReport {
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
        removed,
        walk_diagnostics: None,
        parse_fingerprint: None,
        statuses: [(
            "task".to_string(),
            vec![status("todo", 0), status("doing", 1), status("done", 2)],
        )]
        .into(),
    };
    store
        .apply_index(&batch, &mut changes.into_iter(), &ctx())
        .unwrap()
}

fn index(store: &mut dyn Store, checkout: &str, changes: Vec<FileChange>) -> IndexReport {
    index_with(store, checkout, changes, vec![])
}

fn ids(items: &[ItemRow]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// the suite

fn a_store_newer_than_the_binary_is_refused(b: Arc<dyn Backend>) {
    let mut s = b.open();
    assert_eq!(s.schema_version().unwrap(), LATEST_SCHEMA);
    b.set_future_version();
    let err = b.reopen().err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{msg}");
    assert!(msg.contains("upgrade evident"), "{msg}");
}

fn the_journal_is_append_only(b: Arc<dyn Backend>) {
    let mut s = b.open();
    index(s.as_mut(), "a", vec![update("T-1", status("todo", 0))]);
    let e = b.raw("UPDATE events SET actor = 'x'").unwrap_err();
    assert!(e.contains("append-only"), "{e}");
    let e = b.raw("DELETE FROM events").unwrap_err();
    assert!(e.contains("append-only"), "{e}");
    assert_eq!(s.events(None, None).unwrap().len(), 1);
}

fn transitions_are_compare_and_swap_and_never_regress(b: Arc<dyn Backend>) {
    let mut s = b.open();
    index(s.as_mut(), "a", vec![update("T-1", status("todo", 0))]);
    let req = |from: &str, to: StatusDef, act: &'static str| TransitionRequest {
        id: "T-1".into(),
        from: from.into(),
        to,
        action: act,
        reason: None,
        file_status: None,
        now_ms: 0,
        break_claim: false,
    };
    let e = s
        .transition(&req("todo", status("done", 2), action::TRANSITION), &ctx())
        .unwrap();
    assert_eq!(
        (e.from.as_deref(), e.to.as_deref()),
        (Some("todo"), Some("done"))
    );
    // Validated against a status the item no longer has: refused.
    let err = s
        .transition(&req("todo", status("done", 2), action::TRANSITION), &ctx())
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    // A plain transition may not lower the rank, even from the right status.
    let err = s
        .transition(&req("done", status("todo", 0), action::TRANSITION), &ctx())
        .unwrap_err();
    assert!(matches!(err, StoreError::Regression { .. }), "{err}");
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    // A reopen may.
    s.transition(&req("done", status("todo", 0), action::REOPEN), &ctx())
        .unwrap();
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "todo");
    let unknown = TransitionRequest {
        id: "NOPE".into(),
        ..req("todo", status("done", 2), action::TRANSITION)
    };
    assert!(matches!(
        s.transition(&unknown, &ctx()),
        Err(StoreError::NotFound(_))
    ));
    let actions: Vec<String> = s
        .events(Some("T-1"), None)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["reopen", "transition", "created"]);
}

fn sequences_never_repeat_across_threads(b: Arc<dyn Backend>) {
    let start = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut s = b.open();
                start.wait();
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
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    // The floor lifts the counter, never lowers it.
    let mut s = b.open();
    assert_eq!(s.allocate_sequence("ST", 500).unwrap(), 500);
    assert_eq!(s.allocate_sequence("ST", 1).unwrap(), 501);
    assert_eq!(s.allocate_sequence("EP", 0).unwrap(), 1);
}

fn indexing_never_lowers_a_rank_and_per_checkout_memory_tells_stale_from_edited(
    b: Arc<dyn Backend>,
) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "a", vec![update("T-1", status("todo", 0))]);
    index(s, "b", vec![update("T-1", status("todo", 0))]);
    // Checkout a's file moves forward: applied.
    let r = index(s, "a", vec![update("T-1", status("done", 2))]);
    assert_eq!(r.status_applied, 1);
    // Checkout b still says todo, as it always did: stale, nothing proposed, nothing reported.
    let r = index(s, "b", vec![update("T-1", status("todo", 0))]);
    assert_eq!((r.status_applied, r.status_refused), (0, 0));
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    // ... and b's document is now reported as lagging the store.
    let d = s.drift("b").unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].status.as_str(), d[0].file_status.as_str()),
        ("done", "todo")
    );
    assert!(s.drift("a").unwrap().is_empty());
    // Checkout a lowers its file: refused and reported.
    let r = index(s, "a", vec![update("T-1", status("todo", 0))]);
    assert_eq!(r.status_refused, 1);
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    assert!(s
        .diagnostics()
        .unwrap()
        .iter()
        .any(|d| d.code.code() == "EV117"));
    // A checkout that never saw the item only takes a status ahead of the store.
    let r = index(s, "c", vec![update("T-1", status("in_progress", 1))]);
    assert_eq!(r.status_applied, 0);
    assert_eq!(s.get_item("T-1").unwrap().unwrap().status, "done");
    let sources: Vec<(String, Option<String>)> = s
        .sources("T-1")
        .unwrap()
        .into_iter()
        .map(|x| (x.checkout, x.file_status))
        .collect();
    assert_eq!(
        sources,
        [
            ("a".to_string(), Some("todo".to_string())),
            ("b".to_string(), Some("todo".to_string())),
            ("c".to_string(), Some("in_progress".to_string())),
        ]
    );
}

fn graph_fixture() -> Vec<FileChange> {
    let specs = [
        Spec {
            id: "A-1",
            status: "done",
            rank: 2,
            title: "Alpha setup",
            labels: vec!["infra"],
            ..Default::default()
        },
        Spec {
            id: "A-2",
            status: "todo",
            rank: 0,
            deps: vec!["A-1"],
            lane: Some("core"),
            priority: Some(1),
            title: "beta work",
            ..Default::default()
        },
        Spec {
            id: "A-3",
            status: "todo",
            rank: 0,
            deps: vec!["A-2"],
            lane: Some("core"),
            priority: Some(0),
            labels: vec!["infra", "x"],
            ..Default::default()
        },
        Spec {
            id: "A-4",
            status: "blocked",
            rank: 1,
            parent: Some("A-1"),
            ..Default::default()
        },
        Spec {
            id: "A-5",
            status: "in_progress",
            rank: 1,
            deps: vec!["GHOST"],
            parent: Some("NOBODY"),
            ..Default::default()
        },
        Spec {
            id: "C-1",
            status: "todo",
            rank: 0,
            deps: vec!["C-2"],
            ..Default::default()
        },
        Spec {
            id: "C-2",
            status: "todo",
            rank: 0,
            deps: vec!["C-1"],
            ..Default::default()
        },
        Spec {
            id: "Z-1",
            status: "weird",
            rank: 0,
            ..Default::default()
        },
    ];
    let mut v: Vec<FileChange> = specs.iter().map(file).collect();
    // Z-1's status is not in its workflow.
    if let Some(FileChange::Update(u)) = v.last_mut() {
        u.items[0].status = None;
    }
    v
}

/// `compare_rows` (what `check` reads about a chunk of re-read documents in a fixed number of
/// queries) answers what `ids_at`, `kind_status` and `source` answer one key at a time,
/// including for unknown paths and ids, another checkout's rows and a drifted file status.
fn batched_comparison_rows_answer_as_the_single_lookups_do(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "main", graph_fixture());
    index(s, "other", vec![update("A-2", status("in_progress", 1))]);
    // A stale document in "main": the store keeps the higher status, the row remembers `todo`.
    index(s, "main", vec![update("A-4", status("todo", 0))]);
    let paths: Vec<String> = ["A-1.md", "A-2.md", "A-4.md", "C-2.md", "nowhere.md"]
        .map(String::from)
        .to_vec();
    let ids: Vec<String> = ["A-1", "A-2", "A-4", "C-2", "Z-1", "GHOST"]
        .map(String::from)
        .to_vec();
    for checkout in ["main", "other", "nobody"] {
        let batched = s.compare_rows(checkout, &paths, &ids).unwrap();
        let mut single = CompareRows::default();
        for p in &paths {
            let at = s.ids_at(checkout, p).unwrap();
            if !at.is_empty() {
                single.ids_at.insert(p.clone(), at);
            }
        }
        for id in &ids {
            if let Some((kind, status)) = s.kind_status(id).unwrap() {
                let file_status = s.source(checkout, id).unwrap().and_then(|r| r.file_status);
                single.items.insert(
                    id.clone(),
                    StoredItemState {
                        kind,
                        status,
                        file_status,
                    },
                );
            }
        }
        assert_eq!(batched, single, "{checkout}");
    }
    let main = s.compare_rows("main", &paths, &ids).unwrap();
    assert_eq!(main.ids_at.len(), 4);
    assert!(!main.items.contains_key("GHOST"));
    assert_eq!(main.items["A-4"].status, "blocked");
    assert_eq!(main.items["A-4"].file_status.as_deref(), Some("todo"));
    assert_eq!(
        s.compare_rows("main", &[], &[]).unwrap(),
        CompareRows::default()
    );
}

fn reads_answer_the_same_on_every_backend(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    let r = index(s, "main", graph_fixture());
    assert_eq!(r.created, 8);
    assert_eq!(
        ids(&s.list_items(&ItemFilter::default()).unwrap()),
        ["A-1", "A-2", "A-3", "A-4", "A-5", "C-1", "C-2", "Z-1"]
    );
    let q = |s: &mut dyn Store, f: ItemFilter| -> Vec<String> {
        s.list_items(&f)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(
        q(
            s,
            ItemFilter {
                statuses: vec!["todo".into()],
                ..Default::default()
            }
        ),
        ["A-2", "A-3", "C-1", "C-2"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                lane: Some("core".into()),
                ..Default::default()
            }
        ),
        ["A-2", "A-3"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                label: Some("infra".into()),
                ..Default::default()
            }
        ),
        ["A-1", "A-3"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                search: Some("BETA".into()),
                ..Default::default()
            }
        ),
        ["A-2"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                search: Some("a-4".into()),
                ..Default::default()
            }
        ),
        ["A-4"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                parent: Some("A-1".into()),
                ..Default::default()
            }
        ),
        ["A-4"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                sort: SortKey::Priority,
                limit: Some(3),
                ..Default::default()
            }
        ),
        ["A-3", "A-2", "A-1"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                sort: SortKey::Status,
                descending: true,
                ..Default::default()
            }
        ),
        ["A-1", "A-4", "A-5", "A-2", "A-3", "C-1", "C-2", "Z-1"]
    );
    assert_eq!(
        q(
            s,
            ItemFilter {
                sort: SortKey::Id,
                descending: true,
                limit: Some(2),
                ..Default::default()
            }
        ),
        ["Z-1", "C-2"]
    );
    // Ready: open, known status, every dependency done, not blocked. Blocked: status blocked or
    // waiting on an open or unknown dependency.
    assert_eq!(ids(&s.ready_items(None, None).unwrap()), ["A-2"]);
    assert_eq!(
        ids(&s.blocked_items(None).unwrap()),
        ["A-3", "A-4", "A-5", "C-1", "C-2"]
    );
    assert_eq!(ids(&s.dependents("A-2").unwrap()), ["A-3"]);
    let mut codes: Vec<String> = s
        .diagnostics()
        .unwrap()
        .iter()
        .map(|d| d.code.code().to_string())
        .collect();
    codes.sort();
    assert_eq!(codes, ["EV114", "EV115", "EV116"], "{codes:?}");
    assert_eq!(s.item_diagnostics("A-5").unwrap().len(), 2);
    assert_eq!(s.attention_count().unwrap(), 3);
    let sum = s.summary(3).unwrap();
    assert_eq!(
        (sum.total, sum.ready, sum.blocked, sum.terminal),
        (8, 1, 5, 1)
    );
    let by: Vec<(String, Option<i64>, u64)> = sum
        .by_kind_status
        .iter()
        .map(|k| (k.status.clone(), k.status_rank, k.count))
        .collect();
    assert_eq!(
        by,
        [
            ("weird".to_string(), None, 1),
            ("todo".to_string(), Some(0), 4),
            ("blocked".to_string(), Some(1), 1),
            ("in_progress".to_string(), Some(1), 1),
            ("done".to_string(), Some(2), 1),
        ]
    );
    assert_eq!(sum.by_lane, [(Some("core".to_string()), 2), (None, 5)]);
    assert_eq!(sum.recent.len(), 3);
    // Finishing A-2 makes A-3 ready.
    s.transition(
        &TransitionRequest {
            id: "A-2".into(),
            from: "todo".into(),
            to: status("done", 2),
            action: action::TRANSITION,
            reason: None,
            file_status: None,
            now_ms: 0,
            break_claim: false,
        },
        &ctx(),
    )
    .unwrap();
    assert_eq!(ids(&s.ready_items(None, None).unwrap()), ["A-3"]);
    // The counts follow the move (SQLite keeps them in a table of their own, schema 8).
    let sum = s.summary(3).unwrap();
    assert_eq!((sum.total, sum.terminal), (8, 2));
    let by: Vec<(String, u64)> = sum
        .by_kind_status
        .iter()
        .map(|k| (k.status.clone(), k.count))
        .collect();
    assert_eq!(
        by,
        [
            ("weird".to_string(), 1),
            ("todo".to_string(), 3),
            ("blocked".to_string(), 1),
            ("in_progress".to_string(), 1),
            ("done".to_string(), 2),
        ]
    );
    assert_eq!(sum.by_lane.iter().map(|l| l.1).sum::<u64>(), 6);
    // Ids, sources, write-back intents, repositories.
    assert_eq!(s.ids_with_prefix("A").unwrap().len(), 5);
    assert!(s.item_exists("C-2").unwrap() && !s.item_exists("C-3").unwrap());
    assert_eq!(
        s.kind_status("A-2").unwrap(),
        Some(("task".into(), "done".into()))
    );
    assert_eq!(s.ids_at("main", "A-3.md").unwrap(), ["A-3"]);
    assert_eq!(
        s.source("main", "A-3")
            .unwrap()
            .unwrap()
            .file_status
            .as_deref(),
        Some("todo")
    );
    s.set_pending_writeback("main", &["b.md".into(), "a.md".into()])
        .unwrap();
    assert_eq!(s.pending_writeback("main").unwrap(), ["a.md", "b.md"]);
    s.set_pending_writeback("main", &[]).unwrap();
    assert!(s.pending_writeback("main").unwrap().is_empty());
    s.repo_add("web", "/w").unwrap();
    s.repo_add("api", "/a").unwrap();
    s.repo_add("web", "/w2").unwrap();
    assert_eq!(
        s.repos().unwrap(),
        [("api".into(), "/a".into()), ("web".into(), "/w2".into())]
    );
    assert!(s.repo_remove("api").unwrap() && !s.repo_remove("api").unwrap());
    let got = s.get_item("A-3").unwrap().unwrap();
    assert_eq!(
        (
            got.depends_on.clone(),
            got.labels.clone(),
            got.priority_rank
        ),
        (
            vec!["A-2".to_string()],
            vec!["infra".to_string(), "x".to_string()],
            Some(0)
        )
    );
    let fs = s.file_states("main").unwrap();
    assert_eq!(fs.len(), 8);
    assert_eq!(fs["A-1.md"].hash, [1; 16]);
    // A few files' states: the same as in the whole map; a path never indexed is absent.
    let paths = ["A-1.md".to_string(), "A-3.md".into(), "nowhere.md".into()];
    let some = s.file_states_of("main", &paths).unwrap();
    assert_eq!(some.len(), 2);
    assert_eq!(some["A-1.md"], fs["A-1.md"]);
    assert_eq!(some["A-3.md"], fs["A-3.md"]);
    assert!(s.file_states_of("other", &paths).unwrap().is_empty());
    // The same pass again changes nothing and journals nothing.
    let before = s.events(None, None).unwrap().len();
    let r = index(s, "main", graph_fixture());
    assert_eq!(
        (r.created, r.updated, r.status_applied, r.removed),
        (0, 0, 0, 0)
    );
    assert_eq!(s.events(None, None).unwrap().len(), before);
}

fn the_parse_fingerprint_is_recorded_per_checkout_with_a_pass(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    assert_eq!(s.parse_fingerprint("main").unwrap(), None);
    let pass = |s: &mut dyn Store, checkout: &str, fp: Option<&str>, changes: Vec<FileChange>| {
        let batch = IndexBatch {
            parse_fingerprint: fp.map(str::to_string),
            ..evident_store::testing::batch_of(checkout, &changes)
        };
        s.apply_index(&batch, &mut changes.into_iter(), &ctx())
            .unwrap();
    };
    pass(s, "main", Some("fp-1"), graph_fixture());
    assert_eq!(
        s.parse_fingerprint("main").unwrap().as_deref(),
        Some("fp-1")
    );
    assert_eq!(s.parse_fingerprint("other").unwrap(), None);
    // A pass that re-read nothing writes nothing, the fingerprint included.
    pass(s, "main", Some("fp-2"), vec![]);
    assert_eq!(
        s.parse_fingerprint("main").unwrap().as_deref(),
        Some("fp-1")
    );
    // A partial pass (no fingerprint) keeps it; a pass with one replaces it; checkouts are apart.
    pass(s, "main", None, vec![update("A-1", status("done", 3))]);
    assert_eq!(
        s.parse_fingerprint("main").unwrap().as_deref(),
        Some("fp-1")
    );
    pass(
        s,
        "main",
        Some("fp-2"),
        vec![update("A-1", status("done", 3))],
    );
    pass(
        s,
        "other",
        Some("fp-9"),
        vec![update("A-1", status("done", 3))],
    );
    assert_eq!(
        s.parse_fingerprint("main").unwrap().as_deref(),
        Some("fp-2")
    );
    assert_eq!(
        s.parse_fingerprint("other").unwrap().as_deref(),
        Some("fp-9")
    );
}

/// `file(spec)`, but the document at `path`.
fn file_at(path: &str, s: &Spec) -> FileChange {
    match file(s) {
        FileChange::Update(mut u) => {
            u.path = path.into();
            u.items[0].item.path = path.into();
            FileChange::Update(u)
        }
        t => t,
    }
}

fn a_duplicate_declared_before_the_owner_by_path_takes_the_id_and_tells_the_owner(
    b: Arc<dyn Backend>,
) {
    let mut s = b.open();
    let s = s.as_mut();
    let spec = |status: &'static str, rank| Spec {
        id: "DUP-1",
        status,
        rank,
        ..Default::default()
    };
    index(s, "main", vec![file_at("m.md", &spec("todo", 0))]);
    // `a.md` sorts first and declares the id too; `m.md` is not read in this pass.
    let r = index(s, "main", vec![file_at("a.md", &spec("doing", 1))]);
    assert_eq!(r.status_applied, 1);
    let it = s.get_item("DUP-1").unwrap().unwrap();
    assert_eq!((it.path.as_str(), it.status.as_str()), ("a.md", "doing"));
    let d: Vec<(String, String)> = s
        .diagnostics()
        .unwrap()
        .into_iter()
        .map(|d| (d.code.code().to_string(), d.path))
        .collect();
    assert_eq!(d, [("EV111".to_string(), "m.md".to_string())]);
    // The owner that lost the id is parsed again next time, whatever its bytes.
    assert!(s.file_states("main").unwrap()["m.md"].recheck);
    // One after the owner by path is the duplicate itself.
    index(s, "main", vec![file_at("z.md", &spec("done", 2))]);
    let it = s.get_item("DUP-1").unwrap().unwrap();
    assert_eq!((it.path.as_str(), it.status.as_str()), ("a.md", "doing"));
    assert!(s.file_states("main").unwrap()["z.md"].recheck);
}

fn removed_documents_remove_their_items(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "main", graph_fixture());
    let r = index_with(s, "main", vec![], vec!["A-1.md".into(), "C-2.md".into()]);
    assert_eq!(r.removed, 2);
    assert!(!s.item_exists("A-1").unwrap());
    // A-2 now depends on a missing item, A-4's parent is gone, the C cycle is broken.
    let mut codes: Vec<String> = s
        .diagnostics()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d.code.code(), d.item.clone().unwrap_or_default()))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "EV114 A-4",
            "EV114 A-5",
            "EV115 A-2",
            "EV115 A-5",
            "EV115 C-1"
        ],
        "{codes:?}"
    );
    let removed: Vec<String> = s
        .events(None, Some(2))
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.item))
        .collect();
    assert_eq!(removed, ["removed C-2", "removed A-1"]);
    assert_eq!(s.file_states("main").unwrap().len(), 6);
}

fn an_item_declared_again_after_its_removal_is_merged_with_the_status_it_had(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    let spec = |id: &'static str, st: &'static str, rank: i64| Spec {
        id,
        status: st,
        rank,
        ..Default::default()
    };
    let status_of = |s: &mut dyn Store, id: &str| s.get_item(id).unwrap().map(|i| i.status);
    index(
        s,
        "main",
        vec![
            file(&spec("X-1", "doing", 1)),
            file(&spec("Y-1", "todo", 0)),
        ],
    );
    index_with(s, "main", vec![], vec!["X-1.md".into()]);
    assert_eq!(status_of(s, "X-1"), None);
    // Back with a lower status (an older copy of its document): kept at `doing`, the file drifts.
    let r = index(s, "main", vec![file(&spec("X-1", "todo", 0))]);
    assert_eq!((r.created, r.status_applied), (1, 0));
    assert_eq!(status_of(s, "X-1").as_deref(), Some("doing"));
    let last = &s.events(Some("X-1"), Some(1)).unwrap()[0];
    assert_eq!(
        (last.action.as_str(), last.to.as_deref()),
        ("created", Some("doing"))
    );
    assert!(last
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("kept at the status it had"));
    let drift: Vec<String> = s.drift("main").unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(drift, ["X-1"]);
    // Back with a higher status: taken as the file says.
    index_with(s, "main", vec![], vec!["X-1.md".into()]);
    index(s, "main", vec![file(&spec("X-1", "done", 2))]);
    assert_eq!(status_of(s, "X-1").as_deref(), Some("done"));
    assert!(s.drift("main").unwrap().is_empty());
    // Every document removed leaves a journal without items: not a first index.
    index_with(s, "main", vec![], vec!["X-1.md".into(), "Y-1.md".into()]);
    assert!(s.list_items(&ItemFilter::default()).unwrap().is_empty());
    index(
        s,
        "main",
        vec![file(&spec("X-1", "todo", 0)), file(&spec("Y-1", "todo", 0))],
    );
    assert_eq!(status_of(s, "X-1").as_deref(), Some("done"));
    assert_eq!(status_of(s, "Y-1").as_deref(), Some("todo"));
    // A reopen lowers it, as for any item.
    let req = TransitionRequest {
        id: "X-1".into(),
        from: "done".into(),
        to: status("todo", 0),
        action: action::REOPEN,
        reason: Some("redo".into()),
        file_status: Some(("main".into(), "todo".into())),
        now_ms: 0,
        break_claim: false,
    };
    s.transition(&req, &ctx()).unwrap();
    assert_eq!(status_of(s, "X-1").as_deref(), Some("todo"));
    assert!(s.drift("main").unwrap().is_empty());
}

fn claim_req(id: &str, agent: &str, now: i64, ttl: i64) -> ClaimRequest {
    ClaimRequest {
        id: id.into(),
        agent: agent.into(),
        now_ms: now,
        expires_ms: now + ttl,
        expires_at: format!("t+{}", now + ttl),
    }
}

fn claims_are_leases(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "main", graph_fixture());
    let c = s
        .claim(&claim_req("A-2", "ann", 1000, 500), &ctx())
        .unwrap();
    assert_eq!((c.agent.as_str(), c.expires_ms), ("ann", 1500));
    // Someone else: refused, naming the holder and the lease end.
    match s.claim(&claim_req("A-2", "bob", 1200, 500), &ctx()) {
        Err(StoreError::Claimed { agent, until, .. }) => {
            assert_eq!((agent.as_str(), until.as_str()), ("ann", "t+1500"))
        }
        other => panic!("{other:?}"),
    }
    // The holder renews.
    let c = s
        .claim(&claim_req("A-2", "ann", 1400, 500), &ctx())
        .unwrap();
    assert_eq!(c.expires_ms, 1900);
    assert!(ids(&s.ready_items(None, Some(1400)).unwrap()).is_empty());
    assert_eq!(ids(&s.ready_items(None, None).unwrap()), ["A-2"]);
    // Another agent cannot release it, unless forced.
    assert!(matches!(
        s.release("A-2", "bob", 1500, false, &ctx()),
        Err(StoreError::Claimed { .. })
    ));
    // Expired: free again, and taken over.
    assert_eq!(ids(&s.ready_items(None, Some(1900)).unwrap()), ["A-2"]);
    assert!(s.claims(1900).unwrap().is_empty());
    assert_eq!(s.claims(1899).unwrap().len(), 1);
    let c = s
        .claim(&claim_req("A-2", "bob", 2000, 100), &ctx())
        .unwrap();
    assert_eq!(c.agent, "bob");
    let held = s
        .release("A-2", "ann", 2050, true, &ctx())
        .unwrap()
        .unwrap();
    assert_eq!(held.agent, "bob");
    assert!(s
        .release("A-2", "ann", 2050, false, &ctx())
        .unwrap()
        .is_none());
    assert!(matches!(
        s.claim(&claim_req("NOPE", "ann", 1, 1), &ctx()),
        Err(StoreError::NotFound(_))
    ));
    let journal: Vec<String> = s
        .events(Some("A-2"), Some(4))
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        journal,
        [
            "release lease of bob broken by ann (--force)",
            "claim claimed by bob until t+2100 (the lease of ann ended t+1900)",
            "claim renewed by ann until t+1900",
            "claim claimed by ann until t+1500",
        ]
    );
}

fn ctx_as(actor: &str) -> EventContext {
    EventContext {
        actor: actor.into(),
        ..ctx()
    }
}

/// Another agent's running lease stops a move inside the store (unless the move breaks it on
/// purpose); the holder moves freely; reaching a terminal status ends the lease, journaled in
/// the same transaction.
fn moves_respect_leases_and_finishing_ends_them(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "main", graph_fixture());
    s.claim(&claim_req("A-2", "ann", 1000, 500), &ctx())
        .unwrap();
    let req = |from: &str, to: StatusDef, now: i64, brk: bool| TransitionRequest {
        id: "A-2".into(),
        from: from.into(),
        to,
        action: action::TRANSITION,
        reason: None,
        file_status: None,
        now_ms: now,
        break_claim: brk,
    };
    match s.transition(
        &req("todo", status("doing", 1), 1200, false),
        &ctx_as("bob"),
    ) {
        Err(StoreError::Claimed { agent, until, .. }) => {
            assert_eq!((agent.as_str(), until.as_str()), ("ann", "t+1500"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get_item("A-2").unwrap().unwrap().status, "todo");
    // The holder moves; a non-terminal status keeps the lease.
    s.transition(
        &req("todo", status("doing", 1), 1200, false),
        &ctx_as("ann"),
    )
    .unwrap();
    assert_eq!(s.claims(1200).unwrap().len(), 1);
    // Broken on purpose: the move lands; reaching `done` ends ann's lease.
    s.transition(&req("doing", status("done", 2), 1300, true), &ctx_as("bob"))
        .unwrap();
    assert!(s.claims(1300).unwrap().is_empty());
    // An expired lease stops nobody, and finishing clears it.
    s.claim(&claim_req("A-3", "ann", 1000, 500), &ctx())
        .unwrap();
    s.transition(
        &TransitionRequest {
            id: "A-3".into(),
            ..req("todo", status("done", 2), 2000, false)
        },
        &ctx_as("bob"),
    )
    .unwrap();
    assert!(s.claims(0).unwrap().is_empty());
    let mut journal = |id: &str| -> Vec<String> {
        s.events(Some(id), Some(2))
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {} {}", e.actor, e.action, e.reason.unwrap_or_default()))
            .collect()
    };
    assert_eq!(
        journal("A-2"),
        [
            "bob release lease of ann ended: bob moved the item to done (--force)",
            "bob transition ",
        ]
    );
    assert_eq!(
        journal("A-3"),
        [
            "bob release expired lease of ann cleared: the item is done",
            "bob transition ",
        ]
    );
}

/// N agents, each on its own connection and thread, take work from one queue until it is
/// empty: no item is ever held by two agents, and every item is taken.
fn agents_never_take_the_same_item_twice(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let specs: Vec<FileChange> = (0..40)
        .map(|n| {
            let id: &'static str = Box::leak(format!("Q-{n:02}").into_boxed_str());
            file(&Spec {
                id,
                status: "todo",
                rank: 0,
                ..Default::default()
            })
        })
        .collect();
    index(s.as_mut(), "main", specs);
    let agents = 8;
    let start = Arc::new(Barrier::new(agents));
    let handles: Vec<_> = (0..agents)
        .map(|n| {
            let b = b.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut s = b.open();
                let me = format!("agent-{n}");
                let mut mine = Vec::new();
                start.wait();
                loop {
                    let ready = s.ready_items(Some(3), Some(10)).unwrap();
                    if ready.is_empty() {
                        break;
                    }
                    for it in ready {
                        match s.claim(&claim_req(&it.id, &me, 10, 1_000_000), &ctx()) {
                            Ok(_) => {
                                mine.push(it.id);
                                break;
                            }
                            Err(StoreError::Claimed { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an item was taken twice");
    assert_eq!(n, 40, "every item is taken");
    assert_eq!(s.claims(10).unwrap().len(), 40);
    let claim_events = s
        .events(None, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "claim")
        .count();
    assert_eq!(claim_events, 40);
}

/// Eight writers move one item concurrently, each validating against what it read and retrying
/// on conflict: every journaled transition starts where the previous one ended and never lowers
/// the rank, and the item ends at the highest rank anyone asked for.
fn racing_transitions_leave_a_valid_journal(b: Arc<dyn Backend>) {
    let mut s = b.open();
    index(s.as_mut(), "main", vec![update("R-1", status("s0", 0))]);
    let start = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let b = b.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut s = b.open();
                start.wait();
                for step in 0..6 {
                    let target = ((n + step) % 5 + 1) as i64;
                    loop {
                        let cur = s.get_item("R-1").unwrap().unwrap();
                        let rank = cur.status_rank.unwrap();
                        if target <= rank {
                            break; // nothing to do: the item is already there or beyond
                        }
                        let req = TransitionRequest {
                            id: "R-1".into(),
                            from: cur.status.clone(),
                            to: StatusDef {
                                terminal: false,
                                ..status(&format!("s{target}"), target)
                            },
                            action: action::TRANSITION,
                            reason: None,
                            file_status: None,
                            now_ms: 0,
                            break_claim: false,
                        };
                        match s.transition(&req, &ctx()) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut events = s.events(Some("R-1"), None).unwrap();
    events.reverse();
    let rank = |k: &str| k.trim_start_matches('s').parse::<i64>().unwrap();
    let mut at = "s0".to_string();
    for e in &events[1..] {
        assert_eq!(e.action, "transition");
        assert_eq!(
            e.from.as_deref(),
            Some(at.as_str()),
            "each event starts where the last ended"
        );
        let to = e.to.clone().unwrap();
        assert!(rank(&to) > rank(&at), "{at} → {to} lowers the rank");
        at = to;
    }
    assert_eq!(s.get_item("R-1").unwrap().unwrap().status, "s5");
    assert_eq!(at, "s5");
    let by_rank: HashMap<String, usize> =
        events
            .iter()
            .filter_map(|e| e.to.clone())
            .fold(HashMap::new(), |mut m, t| {
                *m.entry(t).or_default() += 1;
                m
            });
    assert!(
        by_rank.values().all(|n| *n == 1),
        "no status entered twice: {by_rank:?}"
    );
}

fn signoffs_are_immutable_and_gate_results_are_cached(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    index(s, "main", graph_fixture());
    let so = s
        .signoff(
            "A-2",
            "signoff",
            "security",
            Some("threat model reviewed"),
            &ctx(),
        )
        .unwrap();
    assert_eq!(
        (
            so.role.as_str(),
            so.actor.as_str(),
            so.correlation_id.as_str()
        ),
        ("security", "t", "c")
    );
    s.signoff("A-3", "signoff", "ops", None, &ctx()).unwrap();
    assert!(matches!(
        s.signoff("NOPE", "signoff", "ops", None, &ctx()),
        Err(StoreError::NotFound(_))
    ));
    let e = b.raw("UPDATE signoffs SET role = 'x'").unwrap_err();
    assert!(e.contains("immutable"), "{e}");
    let e = b.raw("DELETE FROM signoffs").unwrap_err();
    assert!(e.contains("immutable"), "{e}");
    assert_eq!(s.signoffs(Some("A-2")).unwrap().len(), 1);
    assert_eq!(s.signoffs(None).unwrap().len(), 2);
    let r = s
        .signoff("A-3", "review", "", Some("no runbook"), &ctx())
        .unwrap();
    assert_eq!(r.kind, "review");
    let ev = s.events(Some("A-3"), Some(1)).unwrap();
    assert_eq!(
        (ev[0].action.as_str(), ev[0].reason.as_deref()),
        ("review", Some("gaps: no runbook"))
    );
    let ev = s
        .add_evidence("A-2", r#"{"kind":"doc","path":"d.md"}"#, &ctx())
        .unwrap();
    assert_eq!(s.evidence(Some("A-2")).unwrap(), [ev]);
    assert!(s.evidence(Some("A-3")).unwrap().is_empty());
    let actions: Vec<String> = s
        .events(Some("A-2"), Some(2))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["evidence", "signoff"]);
    let entry = |item: &str, key: &str| GateCacheEntry {
        item: item.into(),
        gate: "g".into(),
        input_key: key.into(),
        result: "{}".into(),
        evaluated_at: "now".into(),
    };
    s.put_gate_cache(&[entry("A-2", "k1"), entry("A-3", "k1")])
        .unwrap();
    s.put_gate_cache(&[entry("A-2", "k2")]).unwrap();
    let mut all: Vec<(String, String)> = s
        .gate_cache(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.item, e.input_key))
        .collect();
    all.sort();
    assert_eq!(
        all,
        [("A-2".into(), "k2".into()), ("A-3".into(), "k1".into())]
    );
    assert_eq!(s.gate_cache(Some("A-3")).unwrap().len(), 1);
}

/// A first index into an empty store decides `blocked` as it streams (a dependency declared
/// later in path order is settled at the end); later passes recompute it in SQL. Both must agree.
fn a_first_index_settles_blocked_flags_as_later_passes_do(b: Arc<dyn Backend>) {
    let mut s = b.open();
    let s = s.as_mut();
    let spec = |id: &'static str, status: &'static str, rank: i64, deps: Vec<&'static str>| Spec {
        id,
        status,
        rank,
        deps,
        ..Default::default()
    };
    let files = |b1_deps: Vec<&'static str>| {
        vec![
            // Waits on B-9, declared later and done: blocked only until B-9 is seen.
            file(&spec("B-1", "todo", 0, b1_deps)),
            // Waits on B-8, declared later and open.
            file(&spec("B-2", "todo", 0, vec!["B-8"])),
            // Terminal items are never blocked.
            file(&spec("B-3", "done", 2, vec!["B-8"])),
            file(&spec("B-4", "blocked", 1, vec![])),
            // An unknown dependency blocks.
            file(&spec("B-5", "todo", 0, vec!["GHOST"])),
            file(&spec("B-6", "todo", 0, vec!["B-9"])),
            // Waits on B-1, which is open.
            file(&spec("B-7", "todo", 0, vec!["B-1"])),
            file(&spec("B-8", "todo", 0, vec![])),
            file(&spec("B-9", "done", 2, vec![])),
        ]
    };
    let blocked = |s: &mut dyn Store| -> Vec<String> {
        let mut v: Vec<String> = s
            .blocked_items(None)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        v.sort();
        v
    };
    let graph = |s: &mut dyn Store| -> Vec<String> {
        let mut v: Vec<String> = s
            .diagnostics()
            .unwrap()
            .into_iter()
            .map(|d| format!("{} {}", d.code.code(), d.message))
            .collect();
        v.sort();
        v
    };
    let r = index(s, "main", files(vec!["B-9"]));
    assert_eq!(r.created, 9);
    let expected = ["B-2", "B-4", "B-5", "B-7"];
    assert_eq!(blocked(s), expected);
    let ready: Vec<String> = s
        .ready_items(None, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert!(ready.contains(&"B-1".to_string()), "{ready:?}");
    assert!(ready.contains(&"B-6".to_string()), "{ready:?}");
    let diags = graph(s);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].contains("GHOST"), "{diags:?}");
    // A later pass that changes the graph recomputes every flag in SQL: the same answer.
    index(s, "main", files(vec!["B-9", "B-8"]));
    assert_eq!(blocked(s), ["B-1", "B-2", "B-4", "B-5", "B-7"]);
    index(s, "main", files(vec!["B-9"]));
    assert_eq!(blocked(s), expected);
    assert_eq!(graph(s), diags);
}

/// The names of a store file's secondary indexes, its integrity check and its journal mode.
fn file_shape(path: &std::path::Path) -> (Vec<String>, String, String) {
    let c = rusqlite::Connection::open(path).unwrap();
    let names = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    let check = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let mode = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    (names, check, mode)
}

/// A first index builds its store under a temporary name, leaves the secondary indexes to a
/// transaction of their own (flushing the rows meanwhile), and publishes the store whole: every
/// index of the schema is there, the file is sound and in WAL mode, nothing temporary is left,
/// and the store that published it keeps answering from the published file.
#[test]
fn a_first_index_publishes_a_whole_store_with_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evident.db");
    let mut s = SqliteStore::open(&path).unwrap();
    let report = index(
        &mut s,
        "/repo",
        vec![
            file(&Spec {
                id: "T-1",
                status: "todo",
                ..Default::default()
            }),
            file(&Spec {
                id: "T-2",
                status: "doing",
                rank: 1,
                deps: vec!["T-1"],
                ..Default::default()
            }),
        ],
    );
    assert_eq!(report.created, 2);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    // A store with the schema alone, for the list of indexes it must have.
    let empty = dir.path().join("empty.db");
    drop(SqliteStore::open(&empty).unwrap());
    let (want, _, _) = file_shape(&empty);
    assert!(want.iter().any(|n| n == "items_open"), "{want:?}");
    assert_eq!(file_shape(&path), (want, "ok".into(), "wal".into()));
    assert_eq!(s.list_items(&ItemFilter::default()).unwrap().len(), 2);
    assert_eq!(s.blocked_items(None).unwrap().len(), 1);
}
