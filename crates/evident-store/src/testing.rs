//! Support for tests that need a PostgreSQL hub: one place that decides where the test server
//! is, gives every test its own schema, and skips locally but fails in CI when PostgreSQL is
//! absent (so a missing database can never make CI pass by skipping). And the count of SQL
//! statements an SQLite store runs, for tests that assert what a command costs, a number an
//! SQLite query selects, and the SQLite
//! store's table of counts set beside the items it counts. And a plain item for tests and
//! benchmarks that seed a store.

use crate::{PgStore, PgTarget};

pub use crate::sqlite::{
    count_statements, flushes_during_loads, pages_read_by_index_builds, statements_run,
};
pub use crate::unflushed::syncs_made;

/// The server tests use: `EVIDENT_TEST_PG_URL`, else `127.0.0.1:5432`, user `postgres`,
/// database `test`.
pub fn test_server_url() -> String {
    std::env::var("EVIDENT_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A fresh, migrated schema for one test, dropped when this value is dropped.
pub struct PgTestSchema {
    pub target: PgTarget,
    /// The store URL to hand to `evident --store` or `EVIDENT_STORE`.
    pub url: String,
}

impl Drop for PgTestSchema {
    fn drop(&mut self) {
        let _ = PgStore::drop_schema(&self.target);
    }
}

/// Create a migrated schema named after `test` (plus the process id, so parallel runs never
/// share one). `None` when PostgreSQL does not answer and this is not CI; in CI (`CI=true`)
/// a missing PostgreSQL panics.
pub fn pg_schema(test: &str) -> Option<PgTestSchema> {
    let base = test_server_url();
    let clean: String = test
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("t_{}_{}", std::process::id(), clean);
    name.truncate(63);
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={name}");
    let target = match PgTarget::parse(&url) {
        Ok(t) => t,
        Err(e) => panic!("bad EVIDENT_TEST_PG_URL: {e}"),
    };
    let _ = PgStore::drop_schema(&target);
    match PgStore::migrate(&target) {
        Ok(_) => Some(PgTestSchema { target, url }),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            if ci {
                panic!("PostgreSQL is required in CI but is not usable: {e}");
            }
            eprintln!("skipping {test}: PostgreSQL is not available ({e})");
            None
        }
    }
}

/// The one number `sql` selects (a `COUNT(*)`, say) from an SQLite connection.
pub fn sqlite_count(c: &rusqlite::Connection, sql: &str) -> rusqlite::Result<i64> {
    c.query_row(sql, [], |r| r.get(0))
}

/// An SQLite store's counts of items by (kind, status, rank, terminal, lane), as the items give
/// them and as its table of counts (schema 8) keeps them, in one spelling each, sorted: the two
/// must be equal.
pub fn sqlite_item_counts(
    c: &rusqlite::Connection,
) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let rows = |sql: &str| -> rusqlite::Result<Vec<String>> {
        c.prepare(sql)?
            .query_map([], |r| {
                Ok(format!(
                    "{}/{}/{:?}/{}/{:?}={}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })?
            .collect()
    };
    Ok((
        rows(
            "SELECT kind, status, status_rank, terminal, lane, COUNT(*) FROM items
             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        )?,
        rows(
            "SELECT kind, status, NULLIF(status_rank, -1), terminal, NULLIF(lane, char(0)), n
             FROM item_counts WHERE n > 0 ORDER BY 1, 2, 3, 4, 5",
        )?,
    ))
}

/// A task in status `todo` at line 1 of `path`, titled by its id, with no other fields (content
/// hash `h`): what tests and benchmarks seed a store with, adjusted with struct update syntax.
pub fn todo_task(id: &str, path: &str) -> evident_core::Item {
    evident_core::Item {
        id: id.into(),
        kind: "task".into(),
        title: id.into(),
        status: "todo".into(),
        priority: None,
        parent: None,
        depends_on: vec![],
        lane: None,
        owner: None,
        labels: vec![],
        path: path.into(),
        line: 1,
        fields: Default::default(),
        sections: vec![],
        content_hash: "h".into(),
        field_lines: Default::default(),
    }
}

/// A document at `item`'s path declaring `item` alone, with `status` resolved (`None`: not in
/// its workflow), as an index pass streams it to the store.
pub fn one_item_update(
    item: evident_core::Item,
    status: Option<std::sync::Arc<evident_core::StatusDef>>,
) -> crate::FileUpdate {
    crate::FileUpdate {
        path: item.path.clone(),
        state: file_state(),
        broken: false,
        items: vec![crate::IndexedItem {
            encoded: crate::EncodedItem::of(&item),
            item,
            status,
            priority_rank: None,
        }],
        diagnostics: vec![],
    }
}

/// A pass of `checkout` that re-read the documents of `changes` (nothing removed, no walk
/// findings, no fingerprint).
pub fn batch_of(checkout: &str, changes: &[crate::FileChange]) -> crate::IndexBatch {
    crate::IndexBatch {
        checkout: checkout.into(),
        reread: changes
            .iter()
            .map(|c| match c {
                crate::FileChange::Update(u) => u.path.clone(),
                crate::FileChange::Touched(p, _) => p.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

/// The state of a document read whole and parsed (1 byte at mtime 1, a fixed digest).
pub fn file_state() -> crate::FileState {
    crate::FileState {
        size: 1,
        mtime_ns: 1,
        hash: [1; 16],
        broken: false,
        recheck: false,
    }
}
