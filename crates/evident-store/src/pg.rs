//! The PostgreSQL hub store: the store several machines and agents share. It keeps exactly the
//! SQLite store's guarantees: every write method is one transaction that first takes a
//! transaction-level advisory lock on the store (one writer at a time per store, as SQLite's
//! `BEGIN IMMEDIATE`), and readers never wait (MVCC). Each store lives in its own PostgreSQL
//! schema (`?schema=NAME` in the URL, default `public`), so one database can hold many stores,
//! and each test gets its own.
//!
//! Migrations are explicit on a shared hub: `evident migrate` applies them, and every other
//! verb refuses a store whose schema is behind or ahead of this binary.

use std::collections::HashMap;
use std::time::Duration;

use evident_core::{DiagCode, Diagnostic, Severity};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

use crate::index_flow::{self, same_walk, Existing, GraphRow, IndexWriter, ItemWrite};
use crate::model::*;
use crate::rules::{self, check_transition};
use crate::{FileStates, Result, Store, StoreError, LATEST_SCHEMA};

/// Numbered, append-only migrations. Never edit a released one; add a new one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_claims.sql")),
    (3, include_str!("../migrations/postgres/0003_gates.sql")),
    (
        4,
        include_str!("../migrations/postgres/0004_journal_seq.sql"),
    ),
    (
        5,
        include_str!("../migrations/postgres/0005_ready_index.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_field_lines.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_lean_indexes.sql"),
    ),
    (
        8,
        include_str!("../migrations/postgres/0008_item_counts.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgres/0009_status_lines.sql"),
    ),
];

/// `priority_rank` of an item without a priority (sorts last), as in SQLite.
const NO_PRIORITY: i64 = 1_000_000;

const ITEM_COLUMNS: &str = "id, kind, title, status, status_rank, terminal, priority, parent, depends_on, lane, owner, labels, path, line, checkout, priority_rank";
const EVENT_COLUMNS: &str =
    "seq, item, action, from_status, to_status, actor, machine, source, reason, correlation_id, at";
const CLAIM_COLUMNS: &str = "item, agent, claimed_at, expires_ms, expires_at";
const BLOCKED: &str = "NOT i.terminal AND i.blocked";
const READY: &str = "NOT i.terminal AND NOT i.blocked AND i.status_rank IS NOT NULL";

/// Where a PostgreSQL store is: a connection URL plus the schema that holds the store.
#[derive(Clone)]
pub struct PgTarget {
    /// The URL handed to the driver (our own `schema` parameter removed).
    url: String,
    pub schema: String,
    /// The URL as given, password hidden: the only form that appears in messages.
    pub display: String,
}

/// Hide a password in a connection URL.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((cred, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = cred.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

impl std::fmt::Debug for PgTarget {
    // Never print `url`: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("display", &self.display)
            .field("schema", &self.schema)
            .finish()
    }
}

impl PgTarget {
    /// Parse `postgres://user[:password]@host[:port]/database[?schema=NAME&...]`.
    pub fn parse(raw: &str) -> Result<PgTarget> {
        let display = redact_url(raw);
        let bad = |message: String| StoreError::Backend {
            location: display.clone(),
            message,
        };
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            return Err(bad("not a postgres:// URL".into()));
        }
        let (base, query) = match raw.split_once('?') {
            Some((b, q)) => (b, q),
            None => (raw, ""),
        };
        let mut schema = "public".to_string();
        let mut kept: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", v)) => schema = v.to_string(),
                _ => kept.push(pair),
            }
        }
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(bad(format!(
                "schema `{schema}` is not a valid name; use lowercase letters, digits and _ (at most 63)"
            )));
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(PgTarget {
            url,
            schema,
            display,
        })
    }

    fn connect(&self) -> Result<Client> {
        let mut config: postgres::Config = self.url.parse().map_err(|e| StoreError::Backend {
            location: self.display.clone(),
            message: format!("the URL does not parse: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("evident");
        config.connect(NoTls).map_err(|e| StoreError::Backend {
            location: self.display.clone(),
            message: format!(
                "cannot connect ({}); check that PostgreSQL runs at the URL's host and port, and that its user, password and database are right",
                pg_message(&e)
            ),
        })
    }

    /// A lock key for this store (its schema), for `pg_advisory_xact_lock`.
    fn lock_key(&self) -> i64 {
        // FNV-1a, stable across builds and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("evident:{}", self.schema).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h as i64
    }
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {d}", db.message()),
            None => db.message().to_string(),
        },
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}

trait Ctx<T> {
    fn ctx(self, loc: &str) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, loc: &str) -> Result<T> {
        self.map_err(|e| StoreError::Backend {
            location: loc.to_string(),
            message: pg_message(&e),
        })
    }
}

/// Prepared statements, kept for the connection's life (one round trip per call after the first).
#[derive(Default)]
struct Statements(HashMap<String, Statement>);

impl Statements {
    fn get(&mut self, c: &mut impl GenericClient, sql: &str, loc: &str) -> Result<Statement> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql).ctx(loc)?;
        self.0.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

pub struct PgStore {
    client: Client,
    target: PgTarget,
    statements: Statements,
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn line_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn row_to_item(r: &Row) -> ItemRow {
    let pr: i64 = r.get(15);
    ItemRow {
        id: r.get(0),
        kind: r.get(1),
        title: r.get(2),
        status: r.get(3),
        status_rank: r.get(4),
        terminal: r.get(5),
        priority: r.get(6),
        parent: r.get(7),
        depends_on: json_list(r.get(8)),
        lane: r.get(9),
        owner: r.get(10),
        labels: json_list(r.get(11)),
        path: r.get(12),
        line: line_of(r.get(13)),
        checkout: r.get(14),
        priority_rank: (pr != NO_PRIORITY).then_some(pr),
        fields: Default::default(),
        sections: vec![],
        content_hash: String::new(),
    }
}

/// File states from rows of (path, size, mtime_ns, hash, broken, recheck).
fn file_states_of_rows(rows: &[Row]) -> FileStates {
    rows.iter()
        .map(|r| {
            let mut hash = [0u8; 16];
            let b: &[u8] = r.get(3);
            let n = b.len().min(16);
            hash[..n].copy_from_slice(&b[..n]);
            (
                r.get::<_, String>(0),
                FileState {
                    size: r.get::<_, i64>(1) as u64,
                    mtime_ns: r.get(2),
                    hash,
                    broken: r.get(4),
                    recheck: r.get(5),
                },
            )
        })
        .collect()
}

fn row_to_event(r: &Row) -> Event {
    Event {
        seq: r.get(0),
        item: r.get(1),
        action: r.get(2),
        from: r.get(3),
        to: r.get(4),
        actor: r.get(5),
        machine: r.get(6),
        source: r.get(7),
        reason: r.get(8),
        correlation_id: r.get(9),
        at: r.get(10),
    }
}

fn row_to_claim(r: &Row) -> Claim {
    Claim {
        item: r.get(0),
        agent: r.get(1),
        claimed_at: r.get(2),
        expires_ms: r.get(3),
        expires_at: r.get(4),
    }
}

fn row_to_diag(r: &Row) -> Diagnostic {
    let code: String = r.get(0);
    Diagnostic {
        code: DiagCode::from_code(&code).unwrap_or(DiagCode::Unreadable),
        severity: Severity::parse(r.get(1)),
        path: r.get(2),
        line: line_of(r.get(3)),
        item: r.get(4),
        message: r.get(5),
        hint: r.get(6),
    }
}

/// One write transaction: the store's advisory lock is held from [`PgStore::write`] to commit.
struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut Statements,
    loc: &'a str,
}

impl PgTx<'_> {
    fn exec(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self.statements.get(&mut self.tx, sql, self.loc)?;
        self.tx.execute(&st, p).ctx(self.loc)
    }

    fn query(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let st = self.statements.get(&mut self.tx, sql, self.loc)?;
        self.tx.query(&st, p).ctx(self.loc)
    }

    fn opt(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let st = self.statements.get(&mut self.tx, sql, self.loc)?;
        self.tx.query_opt(&st, p).ctx(self.loc)
    }

    fn flag(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<bool> {
        Ok(self.opt(sql, p)?.is_some_and(|r| r.get::<_, bool>(0)))
    }

    fn commit(self) -> Result<()> {
        self.tx.commit().ctx(self.loc)
    }

    fn event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<Event> {
        let row = self.opt(
            "INSERT INTO events (item, action, from_status, to_status, actor, machine, source, reason, correlation_id, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
            &[&e.item, &e.action, &e.from, &e.to, &ctx.actor, &ctx.machine, &ctx.source, &e.reason, &ctx.correlation_id, &ctx.at],
        )?;
        Ok(Event::recorded(row.map(|r| r.get(0)).unwrap_or(0), e, ctx))
    }

    /// Fail with [`StoreError::NotFound`] unless `id` is an item.
    fn require_item(&mut self, id: &str) -> Result<()> {
        if self.flag("SELECT EXISTS (SELECT 1 FROM items WHERE id = $1)", &[&id])? {
            Ok(())
        } else {
            Err(StoreError::NotFound(id.to_string()))
        }
    }

    fn claim_of(&mut self, id: &str) -> Result<Option<Claim>> {
        let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE item = $1");
        Ok(self.opt(&sql, &[&id])?.map(|r| row_to_claim(&r)))
    }

    fn refresh_drift_of(&mut self, id: &str, status: &str) -> Result<()> {
        self.exec(
            "UPDATE item_sources SET drifted = (file_status IS NOT NULL AND file_status <> $2) WHERE id = $1",
            &[&id, &status],
        )
        .map(|_| ())
    }

    fn refresh_blocked_of(&mut self, ids: Option<&[String]>) -> Result<()> {
        match ids {
            None => self.exec(
                "UPDATE items SET blocked = NOT blocked WHERE blocked <> (NOT terminal AND (status = 'blocked' OR id IN (
                    SELECT d.item FROM deps d LEFT JOIN items j ON j.id = d.dep
                    WHERE j.id IS NULL OR NOT j.terminal)))",
                &[],
            ),
            Some(ids) => self.exec(
                "UPDATE items SET blocked = (NOT items.terminal AND (items.status = 'blocked' OR EXISTS (
                    SELECT 1 FROM deps d LEFT JOIN items j ON j.id = d.dep
                    WHERE d.item = items.id AND (j.id IS NULL OR NOT j.terminal))))
                 WHERE id = ANY($1) OR id IN (SELECT item FROM deps WHERE dep = ANY($1))",
                &[&ids],
            ),
        }
        .map(|_| ())
    }
}

impl IndexWriter for PgTx<'_> {
    fn store_is_empty(&mut self) -> Result<bool> {
        self.flag(
            "SELECT NOT EXISTS (SELECT 1 FROM items) AND NOT EXISTS (SELECT 1 FROM events)",
            &[],
        )
    }

    fn bulk_load(&mut self, _starting: bool) -> Result<()> {
        Ok(())
    }

    fn replace_walk_diagnostics(&mut self, checkout: &str, diags: &[Diagnostic]) -> Result<()> {
        self.exec(
            "DELETE FROM diagnostics WHERE scope = 'walk' AND checkout = $1",
            &[&checkout],
        )?;
        for d in diags {
            self.insert_diagnostic(checkout, d, "walk")?;
        }
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(index_flow::SET_META, &[&key, &value]).map(|_| ())
    }

    fn insert_diagnostic(&mut self, checkout: &str, d: &Diagnostic, scope: &str) -> Result<()> {
        self.exec(
            "INSERT INTO diagnostics (checkout, path, line, code, severity, item, message, hint, scope)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&checkout, &d.path, &i64::from(d.line), &d.code.code(), &d.severity.as_str(), &d.item, &d.message, &d.hint, &scope],
        )
        .map(|_| ())
    }

    fn delete_file_diagnostics(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM diagnostics WHERE checkout = $1 AND path = $2 AND scope = 'file'",
            &[&checkout, &path],
        )
        .map(|_| ())
    }

    fn item_ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>> {
        Ok(self
            .query(index_flow::ITEM_IDS_AT, &[&checkout, &path])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn delete_sources_at(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM item_sources WHERE checkout = $1 AND path = $2",
            &[&checkout, &path],
        )
        .map(|_| ())
    }

    fn touch_file(&mut self, checkout: &str, path: &str, st: &FileState) -> Result<()> {
        self.exec(
            "UPDATE files SET size = $3, mtime_ns = $4 WHERE checkout = $1 AND path = $2",
            &[&checkout, &path, &(st.size as i64), &st.mtime_ns],
        )
        .map(|_| ())
    }

    fn existing(&mut self, id: &str, checkout: &str) -> Result<Option<Existing>> {
        Ok(self
            .opt(
                "SELECT i.status, i.status_rank, i.terminal, s.file_status, i.checkout, i.path, i.content_hash,
                        i.parent, i.depends_on, i.line
                 FROM items i LEFT JOIN item_sources s ON s.checkout = $2 AND s.id = i.id WHERE i.id = $1",
                &[&id, &checkout],
            )?
            .map(|r| Existing {
                status: r.get(0),
                rank: r.get(1),
                terminal: r.get(2),
                last_file_status: r.get(3),
                checkout: r.get(4),
                path: r.get(5),
                content_hash: r.get(6),
                parent: r.get(7),
                depends_on: r.get(8),
                line: line_of(r.get(9)),
            }))
    }

    fn insert_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<i64> {
        Ok(self.event(e, ctx)?.seq)
    }

    fn upsert_source(
        &mut self,
        checkout: &str,
        id: &str,
        path: &str,
        line: u32,
        file_status: Option<&str>,
        drifted: bool,
        status_line: Option<u32>,
    ) -> Result<()> {
        self.exec(
            index_flow::UPSERT_SOURCE,
            &[
                &checkout,
                &id,
                &path,
                &i64::from(line),
                &file_status,
                &drifted,
                &status_line.map(i64::from),
            ],
        )
        .map(|_| ())
    }

    fn refresh_drift(&mut self, id: &str, status: &str) -> Result<()> {
        self.refresh_drift_of(id, status)
    }

    fn upsert_item(&mut self, w: &ItemWrite<'_>) -> Result<()> {
        let i = &w.it.item;
        self.exec(
            index_flow::UPSERT_ITEM,
            &[
                &i.id,
                &i.kind,
                &i.title,
                &w.status,
                &w.rank,
                &w.terminal,
                &i.priority,
                &w.it.priority_rank.unwrap_or(NO_PRIORITY),
                &i.parent,
                &i.lane,
                &i.owner,
                &w.it.encoded.labels,
                &w.it.encoded.depends_on,
                &w.checkout,
                &w.path,
                &i64::from(i.line),
                &w.it.encoded.fields,
                &w.it.encoded.sections,
                &i.content_hash,
                &w.at,
                &w.blocked,
                &i.field_lines.parent.map(i64::from),
                &i.field_lines.depends_on.map(i64::from),
            ],
        )
        .map(|_| ())
    }

    fn replace_deps(&mut self, id: &str, deps: &[String], known: bool) -> Result<()> {
        if known {
            self.exec("DELETE FROM deps WHERE item = $1", &[&id])?;
        }
        if !deps.is_empty() {
            self.exec(
                "INSERT INTO deps (item, dep) SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING",
                &[&id, &deps],
            )?;
        }
        Ok(())
    }

    fn prune_sources(&mut self, checkout: &str, path: &str, declared: &[&str]) -> Result<()> {
        self.exec(
            "DELETE FROM item_sources WHERE checkout = $1 AND path = $2 AND NOT (id = ANY($3))",
            &[&checkout, &path, &declared],
        )
        .map(|_| ())
    }

    fn upsert_file(
        &mut self,
        checkout: &str,
        path: &str,
        st: &FileState,
        broken: bool,
        recheck: bool,
    ) -> Result<()> {
        self.exec(
            index_flow::UPSERT_FILE,
            &[
                &checkout,
                &path,
                &(st.size as i64),
                &st.mtime_ns,
                &&st.hash[..],
                &broken,
                &recheck,
            ],
        )
        .map(|_| ())
    }

    fn delete_file(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM files WHERE checkout = $1 AND path = $2",
            &[&checkout, &path],
        )
        .map(|_| ())
    }

    fn mark_recheck(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "UPDATE files SET recheck = TRUE WHERE checkout = $1 AND path = $2",
            &[&checkout, &path],
        )
        .map(|_| ())
    }

    fn remove_item(&mut self, id: &str) -> Result<Option<String>> {
        let status = self
            .opt("DELETE FROM items WHERE id = $1 RETURNING status", &[&id])?
            .map(|r| r.get(0));
        self.exec("DELETE FROM deps WHERE item = $1", &[&id])?;
        Ok(status)
    }

    fn is_referenced(&mut self, id: &str) -> Result<bool> {
        self.flag(
            "SELECT EXISTS (SELECT 1 FROM deps WHERE dep = $1) OR EXISTS (SELECT 1 FROM items WHERE parent = $1)",
            &[&id],
        )
    }

    fn item_known(&mut self, id: &str) -> Result<bool> {
        self.flag("SELECT EXISTS (SELECT 1 FROM items WHERE id = $1)", &[&id])
    }

    fn removed_status(&mut self, id: &str) -> Result<Option<String>> {
        Ok(self
            .opt(index_flow::REMOVED_STATUS, &[&id])?
            .and_then(|r| r.get(0)))
    }

    fn refresh_blocked(&mut self, ids: Option<&[String]>) -> Result<()> {
        self.refresh_blocked_of(ids)
    }

    fn set_blocked(&mut self, id: &str, blocked: bool) -> Result<()> {
        self.exec(
            "UPDATE items SET blocked = $2 WHERE id = $1",
            &[&id, &blocked],
        )
        .map(|_| ())
    }

    fn graph_rows(&mut self) -> Result<Vec<GraphRow>> {
        Ok(self
            .query(
                "SELECT id, parent, depends_on, checkout, path, line, parent_line, depends_line FROM items",
                &[],
            )?
            .iter()
            .map(|r| GraphRow {
                id: r.get(0),
                parent: r.get(1),
                deps: index_flow::json_list(r.get(2)),
                checkout: std::sync::Arc::from(r.get::<_, &str>(3)),
                path: std::sync::Arc::from(r.get::<_, &str>(4)),
                line: line_of(r.get(5)),
                lines: evident_core::item::FieldLines {
                    parent: r.get::<_, Option<i64>>(6).map(line_of),
                    depends_on: r.get::<_, Option<i64>>(7).map(line_of),
                    status: None,
                },
            })
            .collect())
    }

    fn clear_graph_diagnostics(&mut self) -> Result<()> {
        self.exec("DELETE FROM diagnostics WHERE scope = 'graph'", &[])
            .map(|_| ())
    }
}

/// The schema version a store holds (0: none yet).
fn read_version(c: &mut Client, schema: &str, loc: &str) -> Result<u32> {
    let exists: bool = c
        .query_one(
            "SELECT to_regclass(quote_ident($1) || '.schema_migrations') IS NOT NULL",
            &[&schema],
        )
        .ctx(loc)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = c
        .query_one(
            &format!("SELECT MAX(version) FROM \"{schema}\".schema_migrations"),
            &[],
        )
        .ctx(loc)?
        .get(0);
    Ok(v.unwrap_or(0) as u32)
}

impl PgStore {
    /// Open a hub store whose schema is current (see [`PgStore::migrate`]).
    pub fn open(target: &PgTarget) -> Result<PgStore> {
        let mut client = target.connect()?;
        let loc = target.display.as_str();
        let v = read_version(&mut client, &target.schema, loc)?;
        if v > LATEST_SCHEMA {
            return Err(StoreError::TooNew {
                location: target.display.clone(),
                found: v,
                supported: LATEST_SCHEMA,
            });
        }
        if v < LATEST_SCHEMA {
            return Err(StoreError::Behind {
                location: target.display.clone(),
                found: v,
                needed: LATEST_SCHEMA,
            });
        }
        client
            .batch_execute(&format!("SET search_path TO \"{}\"", target.schema))
            .ctx(loc)?;
        Ok(PgStore {
            client,
            target: target.clone(),
            statements: Statements::default(),
        })
    }

    /// Create the store's schema or bring it up to date; returns (version before, after).
    /// Safe to run from several machines at once: migrations run under the store's lock.
    pub fn migrate(target: &PgTarget) -> Result<(u32, u32)> {
        let mut client = target.connect()?;
        let loc = target.display.as_str();
        let schema = &target.schema;
        let mut tx = client.transaction().ctx(loc)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&target.lock_key()])
            .ctx(loc)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             SET LOCAL search_path TO \"{schema}\";
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .ctx(loc)?;
        let before: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])
            .ctx(loc)?
            .get(0);
        let before = before.unwrap_or(0) as u32;
        if before > LATEST_SCHEMA {
            return Err(StoreError::TooNew {
                location: target.display.clone(),
                found: before,
                supported: LATEST_SCHEMA,
            });
        }
        for (n, sql) in MIGRATIONS {
            if *n > before {
                tx.batch_execute(sql).map_err(|e| StoreError::Backend {
                    location: target.display.clone(),
                    message: format!("migration {n} failed: {}", pg_message(&e)),
                })?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&i64::from(*n)],
                )
                .ctx(loc)?;
            }
        }
        tx.commit().ctx(loc)?;
        Ok((before, LATEST_SCHEMA))
    }

    /// Drop the store's schema and everything in it (tests and benchmarks).
    pub fn drop_schema(target: &PgTarget) -> Result<()> {
        let mut client = target.connect()?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                target.schema
            ))
            .ctx(&target.display)
    }

    /// Begin a write transaction holding the store's lock.
    fn write(&mut self) -> Result<PgTx<'_>> {
        let loc = self.target.display.as_str();
        let key = self.target.lock_key();
        let mut tx = self.client.transaction().ctx(loc)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
            .ctx(loc)?;
        Ok(PgTx {
            tx,
            statements: &mut self.statements,
            loc,
        })
    }

    fn query(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let loc = self.target.display.as_str();
        let st = self.statements.get(&mut self.client, sql, loc)?;
        self.client.query(&st, p).ctx(loc)
    }

    fn opt(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let loc = self.target.display.as_str();
        let st = self.statements.get(&mut self.client, sql, loc)?;
        self.client.query_opt(&st, p).ctx(loc)
    }

    /// `select` for one item (`WHERE item = $1`) or for every item, then `order`.
    fn rows_by_item(&mut self, select: &str, order: &str, item: Option<&str>) -> Result<Vec<Row>> {
        match item {
            Some(id) => self.query(&format!("{select} WHERE item = $1 {order}"), &[&id]),
            None => self.query(&format!("{select} {order}"), &[]),
        }
    }

    fn count(&mut self, sql: &str) -> Result<u64> {
        Ok(self
            .opt(sql, &[])?
            .map(|r| r.get::<_, i64>(0) as u64)
            .unwrap_or(0))
    }

    fn items(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<ItemRow>> {
        Ok(self.query(sql, p)?.iter().map(row_to_item).collect())
    }

    fn diags(&mut self, filter: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Diagnostic>> {
        let sql = format!(
            "SELECT code, severity, path, line, item, message, hint FROM diagnostics {filter} ORDER BY path, line, code, message"
        );
        Ok(self.query(&sql, p)?.iter().map(row_to_diag).collect())
    }
}

fn limit_sql(limit: Option<usize>) -> String {
    limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default()
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.target.display.clone()
    }

    fn schema_version(&mut self) -> Result<u32> {
        let loc = self.target.display.clone();
        read_version(&mut self.client, &self.target.schema, &loc)
    }

    fn parse_fingerprint(&mut self, checkout: &str) -> Result<Option<String>> {
        let key = index_flow::fingerprint_key(checkout);
        Ok(self
            .opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)))
    }

    fn file_states(&mut self, checkout: &str) -> Result<FileStates> {
        let rows = self.query(
            "SELECT path, size, mtime_ns, hash, broken, recheck FROM files WHERE checkout = $1",
            &[&checkout],
        )?;
        Ok(file_states_of_rows(&rows))
    }

    fn file_states_of(&mut self, checkout: &str, paths: &[String]) -> Result<FileStates> {
        let rows = self.query(
            "SELECT path, size, mtime_ns, hash, broken, recheck FROM files \
             WHERE checkout = $1 AND path = ANY($2)",
            &[&checkout, &paths],
        )?;
        Ok(file_states_of_rows(&rows))
    }

    fn apply_index(
        &mut self,
        batch: &IndexBatch,
        changes: &mut dyn Iterator<Item = FileChange>,
        ctx: &EventContext,
    ) -> Result<IndexReport> {
        // Nothing changed: no write transaction at all (I4).
        if batch.is_empty() {
            let unchanged = match &batch.walk_diagnostics {
                None => true,
                Some(new) => {
                    let old = self
                        .query(
                            "SELECT path, message FROM diagnostics WHERE scope = 'walk' AND checkout = $1 ORDER BY path, message",
                            &[&batch.checkout],
                        )?
                        .iter()
                        .map(|r| (r.get(0), r.get(1)))
                        .collect();
                    same_walk(old, new)
                }
            };
            if unchanged {
                return Ok(IndexReport::default());
            }
        }
        let mut tx = self.write()?;
        let report = index_flow::apply_index(&mut tx, batch, changes, ctx)?;
        tx.commit()?;
        Ok(report)
    }

    fn transition(&mut self, req: &TransitionRequest, ctx: &EventContext) -> Result<Event> {
        let mut tx = self.write()?;
        let row = tx.opt(
            "SELECT status, status_rank FROM items WHERE id = $1",
            &[&req.id],
        )?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(req.id.clone()));
        };
        let current: String = row.get(0);
        check_transition(req, &current, row.get(1))?;
        let held = tx.claim_of(&req.id)?;
        let release = rules::transition_lease(req, &ctx.actor, held.as_ref())?;
        tx.exec(
            "UPDATE items SET status = $2, status_rank = $3, terminal = $4, updated_at = $5 WHERE id = $1",
            &[&req.id, &req.to.key, &req.to.rank, &req.to.terminal, &ctx.at],
        )?;
        tx.refresh_blocked_of(Some(std::slice::from_ref(&req.id)))?;
        if let Some((checkout, fs)) = &req.file_status {
            tx.exec(
                "UPDATE item_sources SET file_status = $3 WHERE checkout = $1 AND id = $2",
                &[checkout, &req.id, fs],
            )?;
        }
        tx.refresh_drift_of(&req.id, &req.to.key)?;
        let event = tx.event(
            &NewEvent {
                item: &req.id,
                action: req.action,
                from: Some(&current),
                to: Some(&req.to.key),
                reason: req.reason.as_deref(),
            },
            ctx,
        )?;
        if let Some(reason) = release {
            tx.exec("DELETE FROM claims WHERE item = $1", &[&req.id])?;
            tx.event(&NewEvent::note(&req.id, action::RELEASE, &reason), ctx)?;
        }
        tx.commit()?;
        Ok(event)
    }

    fn get_item(&mut self, id: &str) -> Result<Option<ItemRow>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, fields, sections, content_hash FROM items WHERE id = $1"
        );
        Ok(self.opt(&sql, &[&id])?.map(|r| {
            let mut it = row_to_item(&r);
            it.fields = serde_json::from_str(r.get(16)).unwrap_or_default();
            it.sections = decode_sections(r.get(17));
            it.content_hash = r.get(18);
            it
        }))
    }

    fn kind_status(&mut self, id: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .opt("SELECT kind, status FROM items WHERE id = $1", &[&id])?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn list_items(&mut self, f: &ItemFilter) -> Result<Vec<ItemRow>> {
        let mut sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE TRUE");
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        if !f.kinds.is_empty() {
            args.push(Box::new(f.kinds.clone()));
            sql.push_str(&format!(" AND kind = ANY(${})", args.len()));
        }
        if !f.statuses.is_empty() {
            args.push(Box::new(f.statuses.clone()));
            sql.push_str(&format!(" AND status = ANY(${})", args.len()));
        }
        for (col, v) in [
            ("lane", &f.lane),
            ("owner", &f.owner),
            ("parent", &f.parent),
        ] {
            if let Some(v) = v {
                args.push(Box::new(v.clone()));
                sql.push_str(&format!(" AND {col} = ${}", args.len()));
            }
        }
        if let Some(l) = &f.label {
            args.push(Box::new(l.clone()));
            sql.push_str(&format!(" AND labels::jsonb ? ${}", args.len()));
        }
        if let Some(s) = &f.search {
            args.push(Box::new(s.to_lowercase()));
            let n = args.len();
            sql.push_str(&format!(
                " AND (strpos(lower(title), ${n}) > 0 OR strpos(lower(id), ${n}) > 0)"
            ));
        }
        let dir = if f.descending { "DESC" } else { "ASC" };
        let order = match f.sort {
            SortKey::Id => format!("id {dir}"),
            SortKey::Priority => format!("priority_rank {dir}, id"),
            SortKey::Status => format!("status_rank IS NULL, status_rank {dir}, id"),
            SortKey::Kind => format!("kind {dir}, id"),
            SortKey::Title => format!("title {dir}, id"),
            SortKey::Updated => format!("updated_at {dir}, id"),
        };
        sql.push_str(&format!(" ORDER BY {order}{}", limit_sql(f.limit)));
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let loc = self.target.display.clone();
        let rows = self.client.query(sql.as_str(), &refs).ctx(&loc)?;
        Ok(rows.iter().map(row_to_item).collect())
    }

    fn ready_items(
        &mut self,
        limit: Option<usize>,
        unclaimed_at: Option<i64>,
    ) -> Result<Vec<ItemRow>> {
        let lim = limit_sql(limit);
        match unclaimed_at {
            None => self.items(
                &format!("SELECT {ITEM_COLUMNS} FROM items i WHERE {READY} ORDER BY priority_rank, id{lim}"),
                &[],
            ),
            Some(now) => self.items(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items i WHERE {READY}
                       AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item = i.id AND c.expires_ms > $1)
                     ORDER BY priority_rank, id{lim}"
                ),
                &[&now],
            ),
        }
    }

    fn blocked_items(&mut self, limit: Option<usize>) -> Result<Vec<ItemRow>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items i WHERE {BLOCKED} ORDER BY priority_rank, id{}",
            limit_sql(limit)
        );
        self.items(&sql, &[])
    }

    fn dependents(&mut self, id: &str) -> Result<Vec<ItemRow>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id IN (SELECT item FROM deps WHERE dep = $1) ORDER BY id");
        self.items(&sql, &[&id])
    }

    fn events(&mut self, item: Option<&str>, limit: Option<usize>) -> Result<Vec<Event>> {
        let lim = limit_sql(limit);
        let rows = match item {
            Some(id) => self.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE item = $1 ORDER BY seq DESC{lim}"
                ),
                &[&id],
            )?,
            None => self.query(
                &format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC{lim}"),
                &[],
            )?,
        };
        Ok(rows.iter().map(row_to_event).collect())
    }

    fn diagnostics(&mut self) -> Result<Vec<Diagnostic>> {
        self.diags("", &[])
    }

    fn item_diagnostics(&mut self, id: &str) -> Result<Vec<Diagnostic>> {
        self.diags("WHERE item = $1", &[&id])
    }

    fn attention_count(&mut self) -> Result<u64> {
        self.count("SELECT COUNT(*) FROM diagnostics WHERE severity IN ('error', 'warning')")
    }

    fn ids_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        // Ids from `PREFIX-` up to (not including) `PREFIX.`: '.' follows '-' in byte order.
        Ok(self
            .query(
                "SELECT id FROM items WHERE id >= $1 AND id < $2",
                &[&format!("{prefix}-"), &format!("{prefix}.")],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn summary(&mut self, recent: usize) -> Result<Summary> {
        let mut s = Summary::default();
        // One scan also counts the finished items (`items_kind_status` carries `terminal`; SQLite
        // keeps these counts in a table of their own, schema 8).
        let rows = self.query(
            "SELECT kind, status, MIN(status_rank), COUNT(*), COUNT(*) FILTER (WHERE terminal)
             FROM items GROUP BY kind, status ORDER BY kind, MIN(status_rank) NULLS FIRST, status",
            &[],
        )?;
        s.terminal = rows.iter().map(|r| r.get::<_, i64>(4) as u64).sum();
        s.by_kind_status = rows
            .iter()
            .map(|r| KindStatusCount {
                kind: r.get(0),
                status: r.get(1),
                status_rank: r.get(2),
                count: r.get::<_, i64>(3) as u64,
            })
            .collect();
        s.by_lane = self
            .query(
                "SELECT lane, COUNT(*) FROM items WHERE NOT terminal GROUP BY lane ORDER BY lane IS NULL, lane",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect();
        s.total = s.by_kind_status.iter().map(|r| r.count).sum();
        s.ready = self.count(&format!("SELECT COUNT(*) FROM items i WHERE {READY}"))?;
        s.blocked = self.count(&format!("SELECT COUNT(*) FROM items i WHERE {BLOCKED}"))?;
        s.diagnostics_errors =
            self.count("SELECT COUNT(*) FROM diagnostics WHERE severity = 'error'")?;
        s.diagnostics_warnings =
            self.count("SELECT COUNT(*) FROM diagnostics WHERE severity = 'warning'")?;
        s.recent = self.events(None, Some(recent))?;
        Ok(s)
    }

    fn allocate_sequence(&mut self, prefix: &str, floor: u64) -> Result<u64> {
        // One atomic upsert: the row lock serializes allocators of the same prefix.
        let floor = floor as i64;
        let row = self.opt(
            "INSERT INTO id_counters (prefix, next) VALUES ($1, GREATEST(1, $2::bigint) + 1)
             ON CONFLICT (prefix) DO UPDATE SET next = GREATEST(id_counters.next, $2::bigint) + 1
             RETURNING next - 1",
            &[&prefix, &floor],
        )?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64).unwrap_or(1))
    }

    fn drift(&mut self, checkout: &str) -> Result<Vec<Drift>> {
        Ok(self
            .query(
                "SELECT i.id, i.kind, i.status, i.status_rank, s.file_status, s.path, s.line, s.status_line
                 FROM item_sources s JOIN items i ON i.id = s.id
                 WHERE s.checkout = $1 AND s.drifted ORDER BY s.path, s.line",
                &[&checkout],
            )?
            .iter()
            .map(|r| Drift {
                id: r.get(0),
                kind: r.get(1),
                status: r.get(2),
                status_rank: r.get(3),
                file_status: r.get(4),
                path: r.get(5),
                line: line_of(r.get(6)),
                status_line: r.get::<_, Option<i64>>(7).map(line_of),
            })
            .collect())
    }

    fn source(&mut self, checkout: &str, id: &str) -> Result<Option<SourceRow>> {
        Ok(self
            .opt(
                "SELECT path, line, file_status FROM item_sources WHERE checkout = $1 AND id = $2",
                &[&checkout, &id],
            )?
            .map(|r| SourceRow {
                path: r.get(0),
                line: line_of(r.get(1)),
                file_status: r.get(2),
            }))
    }

    fn sources(&mut self, id: &str) -> Result<Vec<ItemSource>> {
        Ok(self
            .query(
                "SELECT checkout, path, line, file_status, status_line FROM item_sources WHERE id = $1 ORDER BY checkout",
                &[&id],
            )?
            .iter()
            .map(|r| ItemSource {
                checkout: r.get(0),
                path: r.get(1),
                line: line_of(r.get(2)),
                file_status: r.get(3),
                status_line: r.get::<_, Option<i64>>(4).map(line_of),
            })
            .collect())
    }

    /// Two statements over arrays of the chunk's paths and ids (see [`Store::compare_rows`]).
    fn compare_rows(
        &mut self,
        checkout: &str,
        paths: &[String],
        ids: &[String],
    ) -> Result<CompareRows> {
        let mut rows = CompareRows::default();
        if !paths.is_empty() {
            for r in self.query(
                "SELECT path, id FROM item_sources WHERE checkout = $1 AND path = ANY($2) ORDER BY line",
                &[&checkout, &paths],
            )? {
                rows.ids_at.entry(r.get(0)).or_default().push(r.get(1));
            }
        }
        if !ids.is_empty() {
            for r in self.query(
                "SELECT i.id, i.kind, i.status, s.file_status FROM items i
                 LEFT JOIN item_sources s ON s.checkout = $1 AND s.id = i.id
                 WHERE i.id = ANY($2)",
                &[&checkout, &ids],
            )? {
                rows.items.insert(
                    r.get(0),
                    StoredItemState {
                        kind: r.get(1),
                        status: r.get(2),
                        file_status: r.get(3),
                    },
                );
            }
        }
        Ok(rows)
    }

    fn ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>> {
        Ok(self
            .query(
                "SELECT id FROM item_sources WHERE checkout = $1 AND path = $2 ORDER BY line",
                &[&checkout, &path],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn append_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<Event> {
        let mut tx = self.write()?;
        let e = tx.event(e, ctx)?;
        tx.commit()?;
        Ok(e)
    }

    fn set_pending_writeback(&mut self, checkout: &str, paths: &[String]) -> Result<()> {
        let mut tx = self.write()?;
        tx.exec(
            "DELETE FROM pending_writeback WHERE checkout = $1",
            &[&checkout],
        )?;
        if !paths.is_empty() {
            tx.exec(
                "INSERT INTO pending_writeback (checkout, path) SELECT $1, p FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING",
                &[&checkout, &paths],
            )?;
        }
        tx.commit()
    }

    fn pending_writeback(&mut self, checkout: &str) -> Result<Vec<String>> {
        Ok(self
            .query(
                "SELECT path FROM pending_writeback WHERE checkout = $1 ORDER BY path",
                &[&checkout],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn repo_add(&mut self, slug: &str, path: &str) -> Result<()> {
        let mut tx = self.write()?;
        tx.exec(
            "INSERT INTO repos (slug, path) VALUES ($1, $2) ON CONFLICT (slug) DO UPDATE SET path = excluded.path",
            &[&slug, &path],
        )?;
        tx.commit()
    }

    fn repo_remove(&mut self, slug: &str) -> Result<bool> {
        let mut tx = self.write()?;
        let n = tx.exec("DELETE FROM repos WHERE slug = $1", &[&slug])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn repos(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self
            .query("SELECT slug, path FROM repos ORDER BY slug", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn item_exists(&mut self, id: &str) -> Result<bool> {
        Ok(self
            .opt("SELECT 1 FROM items WHERE id = $1", &[&id])?
            .is_some())
    }

    fn claim(&mut self, req: &ClaimRequest, ctx: &EventContext) -> Result<Claim> {
        let mut tx = self.write()?;
        tx.require_item(&req.id)?;
        let held = tx.claim_of(&req.id)?;
        let plan = rules::claim_plan(req, held.as_ref(), &ctx.at)?;
        let c = &plan.claim;
        tx.exec(
            "INSERT INTO claims (item, agent, claimed_at, expires_ms, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (item) DO UPDATE SET agent = excluded.agent, claimed_at = excluded.claimed_at,
               expires_ms = excluded.expires_ms, expires_at = excluded.expires_at",
            &[&c.item, &c.agent, &c.claimed_at, &c.expires_ms, &c.expires_at],
        )?;
        tx.event(&NewEvent::note(&req.id, action::CLAIM, &plan.reason), ctx)?;
        tx.commit()?;
        Ok(plan.claim)
    }

    fn release(
        &mut self,
        id: &str,
        agent: &str,
        now_ms: i64,
        force: bool,
        ctx: &EventContext,
    ) -> Result<Option<Claim>> {
        let mut tx = self.write()?;
        let held = tx.claim_of(id)?;
        let Some(reason) = rules::release_plan(id, agent, held.as_ref(), now_ms, force)? else {
            return Ok(None);
        };
        tx.exec("DELETE FROM claims WHERE item = $1", &[&id])?;
        tx.event(&NewEvent::note(id, action::RELEASE, &reason), ctx)?;
        tx.commit()?;
        Ok(held)
    }

    fn add_evidence(
        &mut self,
        item: &str,
        spec: &str,
        ctx: &EventContext,
    ) -> Result<StoredEvidence> {
        let mut tx = self.write()?;
        tx.require_item(item)?;
        let seq: i64 = tx
            .opt(
                "INSERT INTO evidence (item, spec, actor, at) VALUES ($1, $2, $3, $4) RETURNING seq",
                &[&item, &spec, &ctx.actor, &ctx.at],
            )?
            .map(|r| r.get(0))
            .unwrap_or(0);
        tx.event(&NewEvent::note(item, action::EVIDENCE, spec), ctx)?;
        tx.commit()?;
        Ok(StoredEvidence::recorded(seq, item, spec, ctx))
    }

    fn evidence(&mut self, item: Option<&str>) -> Result<Vec<StoredEvidence>> {
        let rows = self.rows_by_item(
            "SELECT seq, item, spec, actor, at FROM evidence",
            "ORDER BY seq",
            item,
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredEvidence {
                seq: r.get(0),
                item: r.get(1),
                spec: r.get(2),
                actor: r.get(3),
                at: r.get(4),
            })
            .collect())
    }

    fn signoff(
        &mut self,
        item: &str,
        kind: &str,
        role: &str,
        note: Option<&str>,
        ctx: &EventContext,
    ) -> Result<Signoff> {
        let mut tx = self.write()?;
        tx.require_item(item)?;
        let seq: i64 = tx
            .opt(
                "INSERT INTO signoffs (item, kind, role, actor, at, correlation_id, note) VALUES ($1, $7, $2, $3, $4, $5, $6) RETURNING seq",
                &[&item, &role, &ctx.actor, &ctx.at, &ctx.correlation_id, &note, &kind],
            )?
            .map(|r| r.get(0))
            .unwrap_or(0);
        let (act, reason) = rules::signoff_event(kind, role, note);
        tx.event(&NewEvent::note(item, act, &reason), ctx)?;
        tx.commit()?;
        Ok(Signoff::recorded(seq, item, kind, role, note, ctx))
    }

    fn signoffs(&mut self, item: Option<&str>) -> Result<Vec<Signoff>> {
        let rows = self.rows_by_item(
            "SELECT seq, item, role, actor, at, correlation_id, note, kind FROM signoffs",
            "ORDER BY seq",
            item,
        )?;
        Ok(rows
            .iter()
            .map(|r| Signoff {
                seq: r.get(0),
                item: r.get(1),
                role: r.get(2),
                actor: r.get(3),
                at: r.get(4),
                correlation_id: r.get(5),
                note: r.get(6),
                kind: r.get(7),
            })
            .collect())
    }

    fn gate_cache(&mut self, item: Option<&str>) -> Result<Vec<GateCacheEntry>> {
        let rows = self.rows_by_item(
            "SELECT item, gate, input_key, result, evaluated_at FROM gate_cache",
            "",
            item,
        )?;
        Ok(rows
            .iter()
            .map(|r| GateCacheEntry {
                item: r.get(0),
                gate: r.get(1),
                input_key: r.get(2),
                result: r.get(3),
                evaluated_at: r.get(4),
            })
            .collect())
    }

    fn put_gate_cache(&mut self, entries: &[GateCacheEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.write()?;
        for chunk in entries.chunks(1000) {
            let col = |f: fn(&GateCacheEntry) -> &String| -> Vec<&str> {
                chunk.iter().map(|e| f(e).as_str()).collect()
            };
            let (items, gates, keys, results, ats) = (
                col(|e| &e.item),
                col(|e| &e.gate),
                col(|e| &e.input_key),
                col(|e| &e.result),
                col(|e| &e.evaluated_at),
            );
            tx.exec(
                "INSERT INTO gate_cache (item, gate, input_key, result, evaluated_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 ON CONFLICT (item, gate) DO UPDATE SET input_key = excluded.input_key, result = excluded.result,
                   evaluated_at = excluded.evaluated_at",
                &[&items, &gates, &keys, &results, &ats],
            )?;
        }
        tx.commit()
    }

    fn claims(&mut self, now_ms: i64) -> Result<Vec<Claim>> {
        let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE expires_ms > $1 ORDER BY item");
        Ok(self
            .query(&sql, &[&now_ms])?
            .iter()
            .map(row_to_claim)
            .collect())
    }
}
