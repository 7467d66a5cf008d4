//! The embedded SQLite backend: zero setup, WAL so readers never wait for the writer, a busy
//! timeout so concurrent processes queue instead of failing, and `BEGIN IMMEDIATE` for every
//! write so read-modify-write sequences cannot interleave.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use evident_core::{DiagCode, Diagnostic, Severity};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::index_flow::{self, same_walk, Existing, GraphRow, IndexWriter, ItemWrite};
use crate::model::*;
use crate::rules::{self, check_transition};
use crate::{FileStates, Result, Store, StoreError, LATEST_SCHEMA};

/// Numbered, append-only migrations. Never edit a released one; add a new one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_claims.sql")),
    (3, include_str!("../migrations/sqlite/0003_gates.sql")),
    (4, include_str!("../migrations/sqlite/0004_journal_seq.sql")),
    (5, include_str!("../migrations/sqlite/0005_ready_index.sql")),
    (6, include_str!("../migrations/sqlite/0006_field_lines.sql")),
    (
        7,
        include_str!("../migrations/sqlite/0007_lean_indexes.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_item_counts.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_status_lines.sql"),
    ),
];

/// The whole schema at a version, written as one script, for new stores (equivalent to the
/// migrations up to that version: `the_baseline_builds_what_the_migrations_build`).
const BASELINE: (u32, &str) = (9, include_str!("../migrations/sqlite/baseline.sql"));

/// A new store's file as SQLite leaves it once [`BASELINE`] has run in it (16 KiB pages,
/// `user_version` set), but for the [`LOAD_INDEXES`], kept as its non-zero bytes (see
/// [`crate::image`]): a new store is written from it instead of running the script, which took
/// ~1.3 ms of statements on every first index while the walk and the first documents' parsing
/// needed the cores. Rebuilt from the script by `the_new_store_image_is_the_baseline_script`,
/// which fails when this differs (run it with `EVIDENT_BLESS=1` to write it again).
const BASELINE_IMAGE: &[u8] = include_bytes!("../migrations/sqlite/baseline.img");

/// The secondary indexes a store's first load builds once its rows are in (one sorted build
/// each), instead of updating them row by row. A new store's image leaves them out, so that
/// its first load has nothing to drop (dropping them took ~0.5 ms of a first index of 1k items,
/// before the first document could be written); a new store published without a load gets
/// them then (see [`SqliteStore::publish`]). Their text is the baseline script's. A migration
/// added after the baseline that touches one of them must leave this list first.
const LOAD_INDEXES: [&str; 6] = [
    "items_open",
    "items_parent",
    "item_sources_path",
    "item_sources_drifted",
    "deps_dep",
    "events_item",
];

/// The baseline script's `CREATE INDEX` statement of `name`, without its `;`.
fn baseline_index_sql(name: &str) -> Option<&'static str> {
    let script = BASELINE.1;
    let start = script.find(&format!("CREATE INDEX {name} ON "))?;
    let len = script[start..].find(';')?;
    Some(&script[start..start + len])
}

/// The [`LOAD_INDEXES`] as (name, statement), for a new store's first load to build.
fn load_indexes() -> Vec<(String, String)> {
    LOAD_INDEXES
        .iter()
        .filter_map(|&name| Some((name.to_string(), baseline_index_sql(name)?.to_string())))
        .collect()
}

static NEW_STORE_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Have `hook` called when this process is about to build a new store, on the calling thread,
/// before the new store's first SQLite call: the binary gives SQLite a page cache of its own
/// there (`evident_alloc::reserve_sqlite_page_cache`), which must happen before SQLite
/// initialises and while no other thread calls SQLite. So only a process that builds at most
/// that one store, with no other thread using SQLite meanwhile, may set it. The library itself
/// never does; the first hook set stays.
pub fn on_new_store(hook: fn()) {
    let _ = NEW_STORE_HOOK.set(hook);
}

pub struct SqliteStore {
    /// The connection; empty between a publication and the next use (see
    /// [`SqliteStore::publish`]: a process that publishes and exits never reopens the store).
    conn: std::cell::OnceCell<Connection>,
    path: PathBuf,
    /// Set when no store existed at `path` when this one opened: the file the new store is
    /// built in, next to `path`, with no journal file and no `fsync` (a crash leaves only a file
    /// nobody opens); its first index writes every page once, straight into that file, instead
    /// of into a WAL and again at checkpoint. It is made durable and moved into place whole by
    /// its first write transaction, or when the store is dropped (see
    /// [`SqliteStore::publish`]). A long-lived process that opens a new store and only reads
    /// reads its own empty one until then.
    staged: Option<PathBuf>,
    /// A flush of the staged file started before its last transaction (see
    /// [`SqliteStore::build_deferred`]), joined before the store is published.
    early_sync: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// A new store's file and connection, made on a thread of their own while this process
    /// walks and starts reading documents; joined, and the connection taken over, before the
    /// store is first used (see [`SqliteStore::db`]).
    schema: Mutex<Schema>,
    /// A new store, written from its image, still lacks its [`LOAD_INDEXES`]: its first load
    /// builds them, or publishing does.
    load_indexes_pending: bool,
    /// The store's file carries this boot's unflushed mark (see [`crate::unflushed`]): a new
    /// store is then published without flushing it, and the first write transaction flushes it
    /// and removes the mark.
    unflushed: std::cell::Cell<bool>,
}

/// Where the creation of a new store's schema stands.
enum Schema {
    Ready,
    /// On its own thread, with the connection the store then uses.
    /// With whether the file carries the unflushed mark (see [`crate::unflushed`]).
    Creating(std::thread::JoinHandle<Result<(Connection, bool)>>),
    /// Creating it failed with this message (the first use got the error itself).
    Failed(String),
}

trait Ctx<T> {
    fn ctx(self, loc: &Path) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, loc: &Path) -> Result<T> {
        self.map_err(|e| {
            let location = loc.display().to_string();
            let message = e.to_string();
            match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    StoreError::Damaged { location, message }
                }
                _ => StoreError::Backend { location, message },
            }
        })
    }
}

const ITEM_COLUMNS: &str = "id, kind, title, status, status_rank, terminal, priority, parent, depends_on, lane, owner, labels, path, line, checkout, priority_rank";

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn row_to_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        title: r.get(2)?,
        status: r.get(3)?,
        status_rank: r.get(4)?,
        terminal: r.get::<_, i64>(5)? != 0,
        priority: r.get(6)?,
        parent: r.get(7)?,
        depends_on: json_list(&r.get::<_, String>(8)?),
        lane: r.get(9)?,
        owner: r.get(10)?,
        labels: json_list(&r.get::<_, String>(11)?),
        path: r.get(12)?,
        line: r.get(13)?,
        checkout: r.get(14)?,
        priority_rank: r
            .get::<_, i64>(15)
            .map(|p| (p != NO_PRIORITY).then_some(p))?,
        fields: Default::default(),
        sections: vec![],
        content_hash: String::new(),
    })
}

/// Fail with [`StoreError::NotFound`] unless `id` is an item (inside a write transaction).
fn require_item(tx: &rusqlite::Transaction<'_>, id: &str, loc: &Path) -> Result<()> {
    let known: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM items WHERE id = ?1)",
            [id],
            |r| r.get(0),
        )
        .ctx(loc)?;
    if known {
        Ok(())
    } else {
        Err(StoreError::NotFound(id.to_string()))
    }
}

/// The lease on `id`, running or not.
fn claim_of(tx: &rusqlite::Transaction<'_>, id: &str) -> rusqlite::Result<Option<Claim>> {
    tx.query_row(
        "SELECT item, agent, claimed_at, expires_ms, expires_at FROM claims WHERE item = ?1",
        [id],
        row_to_claim,
    )
    .optional()
}

fn row_to_claim(r: &rusqlite::Row<'_>) -> rusqlite::Result<Claim> {
    Ok(Claim {
        item: r.get(0)?,
        agent: r.get(1)?,
        claimed_at: r.get(2)?,
        expires_ms: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: r.get(0)?,
        item: r.get(1)?,
        action: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        actor: r.get(5)?,
        machine: r.get(6)?,
        source: r.get(7)?,
        reason: r.get(8)?,
        correlation_id: r.get(9)?,
        at: r.get(10)?,
    })
}

const EVENT_COLUMNS: &str =
    "seq, item, action, from_status, to_status, actor, machine, source, reason, correlation_id, at";

fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    e: &NewEvent<'_>,
    ctx: &EventContext,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(INSERT_EVENT)?
        .insert(event_params(e, ctx))
}

const INSERT_EVENT: &str =
    "INSERT INTO events (item, action, from_status, to_status, actor, machine, source, reason, correlation_id, at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

fn event_params<'a>(e: &'a NewEvent<'_>, ctx: &'a EventContext) -> [&'a dyn rusqlite::ToSql; 10] {
    [
        &e.item,
        &e.action,
        &e.from,
        &e.to,
        &ctx.actor,
        &ctx.machine,
        &ctx.source,
        &e.reason,
        &ctx.correlation_id,
        &ctx.at,
    ]
}

fn insert_diag(
    tx: &rusqlite::Transaction<'_>,
    checkout: &str,
    d: &Diagnostic,
    scope: &str,
) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO diagnostics (checkout, path, line, code, severity, item, message, hint, scope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    st.execute(params![
        checkout,
        d.path,
        d.line,
        d.code.code(),
        d.severity.as_str(),
        d.item,
        d.message,
        d.hint,
        scope
    ])?;
    Ok(())
}

/// How long opening a store waits for other processes (the busy timeout, and the WAL switch).
const BUSY_WAIT: Duration = Duration::from_secs(60);

/// Put the store in WAL mode (a no-op when it is already). A store still in rollback-journal mode
/// (by an earlier release: created, and never given a first index with documents in it; this
/// release publishes new stores in WAL mode, see [`SqliteStore::publish`]) is switched by the first process
/// to open it; when several open it at once, SQLite refuses the switch to all but one at once,
/// without calling the busy handler (the others already read the file in its old format, and
/// waiting could deadlock). So a refused switch is retried until the busy timeout: once the
/// winner has switched, the format is WAL and the pragma changes nothing.
fn switch_to_wal(conn: &Connection, path: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && start.elapsed() < BUSY_WAIT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e).ctx(path),
        }
    }
}

/// Refuse a file that is not an Evident store before writing anything into it (not even the WAL
/// switch): schema version 0 with tables in it is another program's database. A file SQLite
/// cannot read at all fails here too, as [`StoreError::Damaged`].
/// Returns the schema version it read, so opening reads it once.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<u32> {
    // One statement, so one snapshot: read apart, another process's first migration could
    // commit in between (version 0, then its tables), and a new store would look foreign.
    let (v, objects): (u32, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx(path)?;
    if v == 0 && objects > 0 {
        return Err(StoreError::Damaged {
            location: path.display().to_string(),
            message: format!("a SQLite database of another program ({objects} schema objects, schema version 0); Evident writes nothing into it"),
        });
    }
    Ok(v)
}

/// Open a new store's staged file and create its schema (see [`Schema`]): the connection this
/// process then uses for everything until the store is published. `loc` is where errors are
/// reported (the store's own path).
fn create_store(staged: &Path, loc: &Path) -> Result<(Connection, bool)> {
    crate::image::write(staged, BASELINE_IMAGE).map_err(|e| StoreError::Backend {
        location: loc.display().to_string(),
        message: format!("cannot write the new store {}: {e}", staged.display()),
    })?;
    // Marked before it has a public name, so that the name never goes without the mark.
    let marked = !FLUSH_BEFORE_PUBLISHING.load(std::sync::atomic::Ordering::Relaxed)
        && crate::unflushed::mark(staged);
    let mut conn = Connection::open(staged).ctx(loc)?;
    counted(&mut conn);
    conn.busy_timeout(BUSY_WAIT).ctx(loc)?;
    unjournaled(&conn, loc)?;
    conn.pragma_update(None, "temp_store", "MEMORY").ctx(loc)?;
    // Reads the schema (here, on this thread, not on the store's first use) and checks the
    // file is the baseline's; migrations added since run on top.
    let v = refuse_foreign(&conn, loc)?;
    if v != BASELINE.0 {
        return Err(StoreError::Damaged {
            location: loc.display().to_string(),
            message: format!(
                "a new store came out at schema version {v}, not {}",
                BASELINE.0
            ),
        });
    }
    bring_up_to_date(&mut conn, loc, v)?;
    Ok((conn, marked))
}

/// Set by [`flush_new_stores_before_publishing`].
static FLUSH_BEFORE_PUBLISHING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// From now on, this process flushes every new store it builds before publishing it, instead of
/// marking it unflushed (see [`crate::unflushed`]): what it does anyway where the store cannot be
/// marked. For tests of that path.
pub fn flush_new_stores_before_publishing() {
    FLUSH_BEFORE_PUBLISHING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Build, at `path`, what [`BASELINE_IMAGE`] holds (the baseline script but for its
/// [`LOAD_INDEXES`]): a file with 16 KiB pages (set before the
/// first table exists; an older store keeps its size: a first index of 100k items writes a
/// quarter of the pages and takes ~16% less time, and `status`, `list`, `show` and `ready`
/// read fewer pages per query) in which the baseline script has run.
#[cfg(test)]
fn build_baseline_file(path: &Path) -> Result<()> {
    let mut conn = Connection::open(path).ctx(path)?;
    conn.pragma_update(None, "page_size", 16384).ctx(path)?;
    unjournaled(&conn, path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(path)?;
    let mut script = BASELINE.1.to_string();
    for name in LOAD_INDEXES {
        let sql = baseline_index_sql(name).ok_or_else(|| StoreError::Backend {
            location: path.display().to_string(),
            message: format!("the baseline script has no index {name}"),
        })?;
        script = script.replacen(&format!("{sql};"), "", 1);
    }
    tx.execute_batch(&script).ctx(path)?;
    tx.pragma_update(None, "user_version", BASELINE.0)
        .ctx(path)?;
    tx.commit().ctx(path)?;
    conn.close().map_err(|(_, e)| e).ctx(path)
}

/// Whether connections opened from now on count the statements they run (see
/// [`count_statements`]).
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count the SQL statements that SQLite stores opened from now on run in this process, for
/// tests that assert what a command costs in statements (deterministic, unlike its time): a
/// pass that grew a statement per document would show. Off unless a test turns it on.
pub fn count_statements() {
    COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The statements counted so far (see [`count_statements`]); each statement of a batch and
/// each trigger it fires counts.
pub fn statements_run() -> u64 {
    STATEMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

fn counted(conn: &mut Connection) {
    if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
        conn.trace(Some(|_| {
            STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
    }
}

/// The walk's diagnostics of a checkout as (path, message), sorted: what tells one walk's
/// findings from the last's (see `index_flow::same_walk`).
type WalkFindings = Vec<(String, String)>;

/// A diagnostic from the columns code, severity, path, line, item, message, hint (in order).
fn diagnostic_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Diagnostic> {
    let code: String = r.get(0)?;
    Ok(Diagnostic {
        code: DiagCode::from_code(&code).unwrap_or(DiagCode::Unreadable),
        severity: Severity::parse(&r.get::<_, String>(1)?),
        path: r.get(2)?,
        line: r.get(3)?,
        item: r.get(4)?,
        message: r.get(5)?,
        hint: r.get(6)?,
    })
}

/// Settings for a connection to a staged store: a rollback journal kept in memory (a failed
/// transaction still rolls back) and no `fsync` (publishing syncs the file once, whole).
fn unjournaled(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute_batch("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
        .ctx(path)
}

/// How long a staged store may sit untouched before opening a new store removes it: left by a
/// process that died while building it (a first index of 100k items takes seconds).
const STALE_STAGING: Duration = Duration::from_secs(600);

/// A name next to `path` that no other process, and no other call in this one, picks:
/// `<name>.<tag>-<pid>-<n>`.
pub(crate) fn unique_sibling(path: &Path, tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{tag}-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// A unique name, next to `path`, to build a new store in.
fn staging_path(path: &Path) -> PathBuf {
    unique_sibling(path, "new")
}

/// Remove the staged stores for `path` that processes left behind when they died (best effort:
/// a file that cannot be read or removed stays, and harms nothing).
fn remove_stale_staging(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = name.to_os_string();
    prefix.push(".new-");
    let prefix = prefix.as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().as_encoded_bytes().starts_with(prefix) {
            continue;
        }
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_STAGING);
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Open an existing store file: refuse another program's database, leave rollback-journal mode
/// for WAL (a store an earlier release created may still be in rollback-journal mode), and
/// return the connection with the schema version it read.
fn open_existing(path: &Path) -> Result<(Connection, u32)> {
    let mut conn = Connection::open(path).ctx(path)?;
    counted(&mut conn);
    conn.busy_timeout(BUSY_WAIT).ctx(path)?;
    let version = refuse_foreign(&conn, path)?;
    switch_to_wal(&conn, path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx(path)?;
    // Sorts for index builds and large queries stay in memory (set before any transaction:
    // it cannot change once temporary storage is open).
    conn.pragma_update(None, "temp_store", "MEMORY").ctx(path)?;
    keep_wal_files(&conn, path)?;
    Ok((conn, version))
}

/// Keep the WAL and its index (`-wal`, `-shm`) when the last connection closes, instead of
/// creating both files when a process opens the store and removing them when it closes it:
/// every command paid for that (an open, one query and a close: ~350 µs, ~240 µs with the files
/// kept; a C program against the bundled SQLite, 1,000 rounds). The WAL is still checkpointed at
/// close, and then cut to zero bytes (`journal_size_limit = 0`), so no frame outlives the
/// process that wrote it: a kept WAL never holds pages a store put in this one's place could be
/// given.
#[allow(unsafe_code)]
fn keep_wal_files(conn: &Connection, path: &Path) -> Result<()> {
    conn.pragma_update(None, "journal_size_limit", 0)
        .ctx(path)?;
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: `conn.handle()` is this open connection; SQLITE_FCNTL_PERSIST_WAL reads and
    // writes one int through the pointer, which outlives the call; "main" is a NUL-terminated
    // name. rusqlite has no safe call for it. A VFS without the setting refuses it: the files
    // then come and go as before, nothing else changes.
    let _ = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::os::raw::c_int).cast(),
        )
    };
    Ok(())
}

/// Whether the store at `path` has a WAL file and it holds no frame (a store in WAL mode
/// keeps the file, cut to zero bytes, once its frames are checkpointed: see
/// [`keep_wal_files`]).
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() == 0)
}

/// What a checkout last saw of each file: the rows of `files` for it, read through SQLite's C
/// interface. Every command that walks the repository reads all of them before it can compare
/// (a warm `index` of 1k documents spent about half of its main thread's instructions here
/// through rusqlite's typed row access: ~250 instructions per column, against ~50 for the C
/// call it wraps).
#[allow(unsafe_code)]
fn read_file_states(conn: &Connection, checkout: &str) -> rusqlite::Result<FileStates> {
    use rusqlite::ffi;
    let mut st = RawStatement::prepare(
        conn,
        "SELECT path, size, mtime_ns, hash, broken, recheck FROM files WHERE checkout = ?1",
    )?;
    // `checkout` outlives the statement, which this function finalizes.
    st.bind(1, &checkout)?;
    let mut states = FileStates::default();
    while st.step()? {
        let row = st.stmt;
        // SAFETY: the statement is on a row with the six columns selected; a text or blob
        // pointer is read with its length before the next call on that column, and copied out
        // before the next step.
        let (path, state) = unsafe {
            let text = ffi::sqlite3_column_text(row, 0);
            let n = ffi::sqlite3_column_bytes(row, 0) as usize;
            let path = if text.is_null() {
                String::new()
            } else {
                let bytes = std::slice::from_raw_parts(text, n);
                match std::str::from_utf8(bytes) {
                    Ok(p) => p.to_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                }
            };
            let mut hash = [0u8; 16];
            let blob = ffi::sqlite3_column_blob(row, 3);
            let m = (ffi::sqlite3_column_bytes(row, 3) as usize).min(16);
            if !blob.is_null() {
                hash[..m].copy_from_slice(std::slice::from_raw_parts(blob.cast::<u8>(), m));
            }
            let state = FileState {
                size: ffi::sqlite3_column_int64(row, 1) as u64,
                mtime_ns: ffi::sqlite3_column_int64(row, 2),
                hash,
                broken: ffi::sqlite3_column_int64(row, 4) != 0,
                recheck: ffi::sqlite3_column_int64(row, 5) != 0,
            };
            (path, state)
        };
        states.insert(path, state);
    }
    Ok(states)
}

/// Give `staged` the name `target` unless something has that name already (false then). A hard
/// link does both in one step. Where the file system has no hard links (exFAT, some network
/// and FUSE mounts), a rename after checking the name is free does it, with a window between
/// the two in which a store created by another process could be replaced.
fn link_if_absent(staged: &Path, target: &Path) -> std::io::Result<bool> {
    match std::fs::hard_link(staged, target) {
        Ok(()) => Ok(true),
        Err(_) if target.exists() || target.is_symlink() => Ok(false),
        Err(_) => std::fs::rename(staged, target).map(|()| true),
    }
}

/// Flush a file's contents to the disk.
fn sync_file(path: &Path) -> std::io::Result<()> {
    crate::unflushed::note_sync();
    std::fs::File::open(path)?.sync_data()
}

/// The page cache of a staged store's first load, in KiB: small, so that SQLite writes full
/// pages out as the load goes (see [`LoadFlusher`]) and reuses the cache's memory instead of
/// growing it page by page.
const STAGED_LOAD_CACHE_KIB: u32 = 512;

/// A [`LoadFlusher`] round starts once this many more pages have been written than at the
/// round before (at least [`FLUSH_FIRST_PAGES`]), and no round starts during the load once
/// [`FLUSH_LAST_PAGES`] are written.
const FLUSH_FIRST_PAGES: i32 = 8;
const FLUSH_LAST_PAGES: i32 = 1024;

/// Flushes a staged store's file to the disk while its first load is still writing it.
///
/// Publishing a new store waits for its file to be on the disk, and on the machines measured an
/// `fdatasync` costs about 0.1 ms plus ~1.5 ms per MB written since the last one (the write and
/// the device's cache flush; docs/performance.md). A first load of 1k items writes ~1.3 MB;
/// flushed only after its commit, ~1 ms of that flush was left to wait for once the secondary
/// indexes were built. This thread flushes what the load has written so far in rounds, while
/// the load goes on: a round starts when the pages written have doubled since the last one
/// (8, 16, 32, ...), so a round is never more than half of what has been written and a load
/// takes a handful of them. Rounds stop at [`FLUSH_LAST_PAGES`] (16 MiB): a larger load's
/// secondary indexes take longer to build than its last flush, which hides behind them, and
/// rounds of tens of megabytes during the load slowed it (a first index of 100k items,
/// alternating runs). After the load commits, [`LoadFlusher::finish`] asks for a last round;
/// the store joins it before its own last flush (see [`SqliteStore::move_into_place`]).
struct LoadFlusher {
    /// Asks for a round; at most one request waits while a round runs.
    ask: Option<std::sync::mpsc::SyncSender<()>>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    /// Pages the connection had written when the last round was asked for.
    asked_at: i32,
}

impl LoadFlusher {
    /// A flusher of the file at `path` (the staged store), or none if it cannot be opened or
    /// the thread cannot start (the flush after the commit then does it all, as before).
    /// With `start_only` (a store published unflushed, see [`crate::unflushed`]), a round starts
    /// the writes and waits for neither them nor the device's cache.
    fn start(path: &Path, conn: &Connection, start_only: bool) -> Option<LoadFlusher> {
        let file = std::fs::File::open(path).ok()?;
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                // The first failure is kept and reported: a page a failed flush could not write
                // may no longer be marked for writing, so a later flush would not catch it.
                let mut outcome = Ok(());
                loop {
                    // Closed: the load has committed, this is the last round.
                    let last = asked.recv().is_err();
                    if !last {
                        FLUSHES_DURING_LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let round = if start_only {
                        crate::unflushed::start_writeback(&file)
                    } else {
                        crate::unflushed::note_sync();
                        file.sync_data()
                    };
                    if let (Err(e), true) = (round, outcome.is_ok()) {
                        outcome = Err(e);
                    }
                    if last {
                        return outcome;
                    }
                }
            })
            .ok()?;
        Some(LoadFlusher {
            ask: Some(ask),
            thread,
            asked_at: pages_written(conn),
        })
    }

    /// Ask for a round if the load has written enough since the last one.
    fn poll(&mut self, conn: &Connection) {
        let written = pages_written(conn);
        let since = written - self.asked_at;
        if self.asked_at < FLUSH_LAST_PAGES && since >= FLUSH_FIRST_PAGES.max(self.asked_at) {
            self.asked_at = written;
            if let Some(ask) = &self.ask {
                // Full: a round is asked for already and will see these pages too.
                let _ = ask.try_send(());
            }
        }
    }

    /// The load has committed: the last round starts once the rounds asked for are done.
    fn finish(mut self) -> std::thread::JoinHandle<std::io::Result<()>> {
        self.ask = None;
        self.thread
    }
}

/// Rounds [`LoadFlusher`]s of this process ran while their loads were still writing.
static FLUSHES_DURING_LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process flushed a staged store's file while its first load was still
/// writing it (see [`LoadFlusher`]), for tests: deterministic for a given load, unlike the time
/// it saves.
pub fn flushes_during_loads() -> u64 {
    FLUSHES_DURING_LOADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Pages the secondary index builds of this process's first loads read from their stores'
/// files (see [`SqliteStore::build_deferred`]).
static PAGES_READ_BY_INDEX_BUILDS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// How many pages the index builds that end this process's first loads read from their
/// stores' files (page cache misses), for tests: deterministic for a given load.
pub fn pages_read_by_index_builds() -> u64 {
    PAGES_READ_BY_INDEX_BUILDS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Pages `conn` has written to its database file (SQLITE_DBSTATUS_CACHE_WRITE).
fn pages_written(conn: &Connection) -> i32 {
    db_status(conn, rusqlite::ffi::SQLITE_DBSTATUS_CACHE_WRITE)
}

/// The current value of one of `conn`'s counters (`sqlite3_db_status`).
#[allow(unsafe_code)]
fn db_status(conn: &Connection, what: std::os::raw::c_int) -> i32 {
    let (mut current, mut highest) = (0, 0);
    // SAFETY: the handle of an open connection, used on the thread that owns it; the call
    // only reads a counter into the two integers.
    unsafe {
        rusqlite::ffi::sqlite3_db_status(conn.handle(), what, &mut current, &mut highest, 0);
    }
    current
}

/// Apply the migrations the store has not seen, in one transaction (the version is read again
/// inside it: another process may have migrated meanwhile). An empty store starts from the
/// [`BASELINE`].
fn migrate_conn(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(path)?;
    let mut v: u32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx(path)?;
    if v == 0 {
        run_baseline(&tx, path)?;
        v = BASELINE.0;
    }
    for (n, sql) in MIGRATIONS {
        if *n > v {
            tx.execute_batch(sql).ctx(path)?;
            tx.pragma_update(None, "user_version", n).ctx(path)?;
        }
    }
    tx.commit().ctx(path)
}

/// Build the schema of an empty file with [`BASELINE`] and record its version.
fn run_baseline(tx: &rusqlite::Transaction<'_>, path: &Path) -> Result<()> {
    tx.execute_batch(BASELINE.1).ctx(path)?;
    tx.pragma_update(None, "user_version", BASELINE.0).ctx(path)
}

/// Refuse a store newer than this binary; migrate an older one (`v`: its schema version).
fn bring_up_to_date(conn: &mut Connection, path: &Path, v: u32) -> Result<()> {
    refuse_newer(path, v)?;
    if v == LATEST_SCHEMA {
        return Ok(());
    }
    migrate_conn(conn, path)
}

/// Refuse a store whose schema version `v` is newer than this binary's.
fn refuse_newer(path: &Path, v: u32) -> Result<()> {
    if v > LATEST_SCHEMA {
        return Err(StoreError::TooNew {
            location: path.display().to_string(),
            found: v,
            supported: LATEST_SCHEMA,
        });
    }
    Ok(())
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend {
                    location: path.display().to_string(),
                    message: format!("cannot create folder {}: {e}", dir.display()),
                })?;
            }
        }
        // (No store there: no mark.)
        let mut mark = crate::unflushed::read(path);
        if mark == crate::unflushed::Mark::ThisBoot
            && crate::unflushed::settled(path)
            && crate::unflushed::clear(path).is_ok()
        {
            // Flushed by this reader (best effort: one that may not write to the file leaves
            // the mark for a writer).
            mark = crate::unflushed::Mark::None;
        }
        if mark == crate::unflushed::Mark::EarlierBoot {
            // Published unflushed before the machine last started: its file may be torn. It
            // held only what the documents say; set aside, it is rebuilt like a missing store.
            crate::unflushed::set_aside(path).map_err(|e| StoreError::Backend {
                location: path.display().to_string(),
                message: format!("the store was published just before the machine stopped and may be incomplete, and it cannot be moved aside: {e}; move it away by hand and run `evident index`"),
            })?;
            // Gone, or another process's new store in its place (put back if set aside by
            // this race): read again, so that a store marked by this boot is flushed before
            // this process writes to it.
            mark = crate::unflushed::read(path);
            if mark == crate::unflushed::Mark::EarlierBoot {
                return Err(StoreError::Backend {
                    location: path.display().to_string(),
                    message: "the store was published just before the machine stopped and may be incomplete, and another process keeps putting one back; move it away by hand and run `evident index`".into(),
                });
            }
        }
        let present = match mark {
            crate::unflushed::Mark::NoStore => false,
            crate::unflushed::Mark::None | crate::unflushed::Mark::ThisBoot => true,
            crate::unflushed::Mark::EarlierBoot | crate::unflushed::Mark::Unknown => path.exists(),
        };
        if present {
            let (conn, version) = open_existing(path)?;
            let mut store = SqliteStore {
                conn: conn.into(),
                path: path.to_path_buf(),
                staged: None,
                early_sync: None,
                schema: Mutex::new(Schema::Ready),
                load_indexes_pending: false,
                unflushed: (mark == crate::unflushed::Mark::ThisBoot).into(),
            };
            store.migrate(version)?;
            return Ok(store);
        }
        // A new store: built under a temporary name and moved into place once whole (see
        // `publish`), so that building it needs no journal file and no `fsync` until the end
        // (a first index of 1k items spent a quarter of its time in `fsync`s).
        remove_stale_staging(path);
        let staged = staging_path(path);
        // The file exists once `open` returns (its content is written below, on the schema
        // thread): what a caller, or another process, finds is a store in the making.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&staged)
            .map_err(|e| StoreError::Backend {
                location: path.display().to_string(),
                message: format!("cannot create the new store {}: {e}", staged.display()),
            })?;
        let store = SqliteStore {
            conn: std::cell::OnceCell::new(),
            path: path.to_path_buf(),
            staged: Some(staged.clone()),
            early_sync: None,
            schema: Mutex::new(Schema::Ready),
            load_indexes_pending: true,
            unflushed: false.into(),
        };
        if let Some(hook) = NEW_STORE_HOOK.get() {
            hook();
        }
        // Writing the new file from its image, opening it and reading its schema overlaps the
        // walk and the first documents' parsing (creating the schema with statements here once
        // took a sixth of a first index of 1k items). The connection that does it is the one
        // this process goes on with: the schema stays read and its pages cached (with a
        // connection of its own, the store's first write read both again from the file).
        let loc = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("schema".into())
            .spawn(move || create_store(&staged, &loc));
        match spawned {
            Ok(h) => *store.schema.lock().unwrap_or_else(|e| e.into_inner()) = Schema::Creating(h),
            // No thread to be had: create it here.
            Err(_) => match create_store(store.staged.as_deref().unwrap_or(path), path) {
                Ok((conn, marked)) => {
                    let _ = store.conn.set(conn);
                    store.unflushed.set(marked);
                }
                Err(e) => {
                    // Dropping the store then removes the staged file instead of publishing it.
                    *store.schema.lock().unwrap_or_else(|p| p.into_inner()) =
                        Schema::Failed(e.to_string());
                    return Err(e);
                }
            },
        }
        Ok(store)
    }

    /// The connection, once the schema exists (joins its creation, see [`Schema`]).
    fn db(&self) -> Result<&Connection> {
        let mut state = self.schema.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, Schema::Ready) {
            Schema::Ready => {}
            Schema::Creating(h) => {
                // Sleep in `join`, not poll: polling with `yield` kept the schema thread off a
                // core shared with the parse workers, and the schema came ~1.5 ms later in a
                // first index of 1k items (in-process probes, medians of 40 runs).
                let done = h.join().unwrap_or_else(|_| {
                    Err(StoreError::Backend {
                        location: self.path.display().to_string(),
                        message: "creating the store's schema failed unexpectedly".into(),
                    })
                });
                match done {
                    Ok((conn, marked)) => {
                        let _ = self.conn.set(conn);
                        self.unflushed.set(marked);
                    }
                    Err(e) => {
                        *state = Schema::Failed(e.to_string());
                        return Err(e);
                    }
                }
            }
            Schema::Failed(message) => {
                *state = Schema::Failed(message.clone());
                return Err(StoreError::Backend {
                    location: self.path.display().to_string(),
                    message,
                });
            }
        }
        drop(state);
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        // Published by this process: open the store where it now is (another process, running
        // another release, may have published its store first).
        // (Another process's store carries its own mark, or none.)
        self.unflushed
            .set(crate::unflushed::read(&self.path) == crate::unflushed::Mark::ThisBoot);
        let (mut conn, version) = open_existing(&self.path)?;
        if version < LATEST_SCHEMA && self.unflushed.get() {
            // Migrating writes: flushed first, as by any writer (see `conn_mut`).
            self.flush_marked()?;
        }
        bring_up_to_date(&mut conn, &self.path, version)?;
        Ok(self.conn.get_or_init(|| conn))
    }

    /// The connection, to write with: a staged store is published first (a write other than a
    /// first index goes to the store other processes see).
    fn db_mut(&mut self) -> Result<&mut Connection> {
        self.publish()?;
        self.conn_mut()
    }

    /// Flush the published store, still marked unflushed, and remove its mark (see
    /// [`crate::unflushed::clear`]); before any write to it.
    fn flush_marked(&self) -> Result<()> {
        crate::unflushed::clear(&self.path).map_err(|e| StoreError::Backend {
            location: self.path.display().to_string(),
            message: format!("cannot flush the store to disk before writing to it: {e}"),
        })?;
        self.unflushed.set(false);
        Ok(())
    }

    /// The connection, to write with, staged or not. A published store still marked unflushed
    /// is flushed first (see [`crate::unflushed`]): nothing but what its first index derived
    /// from the documents is ever written to a store that may not be on the disk.
    fn conn_mut(&mut self) -> Result<&mut Connection> {
        self.db()?;
        if self.unflushed.get() && self.staged.is_none() {
            self.flush_marked()?;
        }
        self.conn.get_mut().ok_or_else(|| StoreError::Backend {
            location: self.path.display().to_string(),
            message: "the store's connection is closed".into(),
        })
    }

    /// Move a staged store into place: build the indexes no load built, close its connection,
    /// flush the file once, link it under the store's name and reopen it there (in WAL mode,
    /// so readers never wait). Linking fails when another process published a store at the
    /// same path first: then this one's work is discarded, the connection opens the other's
    /// store, and the result is `Ok(false)`. Nothing is left at the temporary name either way.
    fn publish(&mut self) -> Result<bool> {
        let Some(staged) = self.staged.clone() else {
            return Ok(true);
        };
        self.db()?;
        // The store is opened again at its real name when next used (see `db`), not here: a
        // first `index` publishes and exits, and would reopen it (read its schema again, create
        // the WAL's two files and remove them at close) for nothing.
        let published = self
            .build_pending_load_indexes()
            .and_then(|()| self.move_into_place(&staged));
        self.staged = None;
        if let Err(e) = &published {
            let _ = std::fs::remove_file(&staged);
            // The connection is no longer the store's: nothing may use it.
            *self.schema.lock().unwrap_or_else(|p| p.into_inner()) = Schema::Failed(e.to_string());
        }
        published
    }

    /// A new store published without a first load: its [`LOAD_INDEXES`] are built now, in one
    /// transaction (on empty tables, next to nothing).
    fn build_pending_load_indexes(&mut self) -> Result<()> {
        if !self.load_indexes_pending {
            return Ok(());
        }
        let path = self.path.clone();
        let conn = self.conn_mut()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path)?;
        for (_, sql) in load_indexes() {
            tx.execute(&sql, []).ctx(&path)?;
        }
        tx.commit().ctx(&path)?;
        self.load_indexes_pending = false;
        Ok(())
    }

    /// Build the secondary indexes a staged store's first load left for last, in a transaction
    /// of their own, while another thread flushes the rows just committed to the disk: the
    /// `fsync` that publishing needs then finds most of the file written already. The same
    /// transaction records the diagnostics of the load's graph checks, which ran meanwhile (see
    /// [`IndexWriter::check_graph_later`]). A failure leaves the staged store unusable, so it is
    /// removed instead of published.
    fn build_deferred(
        &mut self,
        deferred: &[(String, String)],
        graph: Option<GraphChecks>,
    ) -> Result<()> {
        let path = self.path.clone();
        if self.early_sync.is_none() {
            let start_only = self.unflushed.get();
            self.early_sync = self.staged.clone().and_then(|p| {
                std::thread::Builder::new()
                    .name("sync".into())
                    .spawn(move || {
                        if start_only {
                            std::fs::File::open(&p)
                                .and_then(|f| crate::unflushed::start_writeback(&f))
                        } else {
                            sync_file(&p)
                        }
                    })
                    .ok()
            });
        }
        let built = self
            .conn_mut()
            .and_then(|c| {
                c.transaction_with_behavior(TransactionBehavior::Immediate)
                    .ctx(&path)
            })
            .and_then(|tx| {
                // The load's small cache (see `bulk_load`) is done with: the index builds
                // scan the tables, which a cache smaller than they are reads from the file once
                // per build (a first index of 1k items: 103 page reads, 50 with this first).
                tx.execute_batch("PRAGMA cache_size = -2000;").ctx(&path)?;
                let misses = db_status(&tx, rusqlite::ffi::SQLITE_DBSTATUS_CACHE_MISS);
                for (_, sql) in deferred {
                    tx.execute(sql, []).ctx(&path)?;
                }
                let read = db_status(&tx, rusqlite::ffi::SQLITE_DBSTATUS_CACHE_MISS) - misses;
                PAGES_READ_BY_INDEX_BUILDS.fetch_add(
                    u64::try_from(read).unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Some(checks) = graph {
                    let found = checks.join().map_err(|_| StoreError::Backend {
                        location: path.display().to_string(),
                        message: "the graph checks failed unexpectedly".into(),
                    })?;
                    for (checkout, d) in &found {
                        insert_diag(&tx, checkout, d, "graph").ctx(&path)?;
                    }
                }
                tx.commit().ctx(&path)
            });
        if built.is_ok() && !deferred.is_empty() {
            self.load_indexes_pending = false;
        }
        if let Err(e) = &built {
            if let Some(h) = self.early_sync.take() {
                let _ = h.join();
            }
            *self.schema.lock().unwrap_or_else(|p| p.into_inner()) = Schema::Failed(e.to_string());
        }
        built
    }

    /// The end of an index pass: a staged store is published; if another process published one
    /// first, the pass is refused with [`StoreError::Superseded`] (its writes are discarded, and
    /// the store is now the other's, for the caller to index again). The report of a pass that
    /// built a new store carries the store's diagnostics, read just before publishing it, so
    /// that `index` can print them and exit without opening the published store again.
    fn published_after_index(&mut self, mut report: IndexReport) -> Result<IndexReport> {
        let diagnostics = match self.staged {
            Some(_) => Some(self.query_diagnostics("", &[])?),
            None => None,
        };
        if self.publish()? {
            if diagnostics.is_some() {
                report.diagnostics = diagnostics;
            }
            Ok(report)
        } else {
            Err(StoreError::Superseded {
                location: self.path.display().to_string(),
            })
        }
    }

    /// Close the staged file, sync it and link it in at `path` (false: a store is there
    /// already); the staged name is removed either way.
    fn move_into_place(&mut self, staged: &Path) -> Result<bool> {
        let fail = |what: &str, e: &dyn std::fmt::Display| StoreError::Backend {
            location: self.path.display().to_string(),
            message: format!("{what}: {e}"),
        };
        let conn = self.conn.take().ok_or_else(|| StoreError::Backend {
            location: self.path.display().to_string(),
            message: "the new store's connection is closed".into(),
        })?;
        // In WAL mode before it is published (a format flag in the file's header, switched
        // here without a journal file or an `fsync`; by the connection that reopens it, it
        // would take a journaled transaction and five `fsync`s).
        let outcome = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| fail("cannot switch the new store to WAL", &e))
            .and_then(|_| {
                conn.close()
                    .map_err(|(_, e)| fail("cannot close the new store", &e))
            })
            .and_then(|()| {
                // A failed early flush fails the publication: the pages it could not write may
                // no longer be marked for writing, so a later flush would not catch them.
                let early = match self.early_sync.take().map(|h| h.join()) {
                    None | Some(Ok(Ok(()))) => Ok(()),
                    Some(Ok(Err(e))) => Err(e),
                    Some(Err(_)) => Err(std::io::Error::other("the flush thread failed")),
                };
                // Marked unflushed: its first writer flushes it (see `crate::unflushed`).
                let unflushed = self.unflushed.get();
                early
                    .and_then(|()| {
                        if unflushed {
                            std::fs::File::open(staged)
                                .and_then(|f| crate::unflushed::start_writeback(&f))
                        } else {
                            sync_file(staged)
                        }
                    })
                    .map_err(|e| fail("cannot flush the new store to disk", &e))
            })
            .and_then(|()| match link_if_absent(staged, &self.path) {
                Ok(won) => Ok(won),
                Err(e) => Err(fail(
                    &format!(
                        "cannot move the new store into place (from {})",
                        staged.display()
                    ),
                    &e,
                )),
            });
        let _ = std::fs::remove_file(staged);
        if let (Ok(true), false) = (&outcome, self.unflushed.get()) {
            // The new name is durable once its folder is (best effort: not every platform
            // can sync a folder).
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::unflushed::note_sync();
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
        }
        outcome
    }

    /// Create the store or bring it up to date; returns (version before, after).
    pub fn migrate_file(path: &Path) -> Result<(u32, u32)> {
        let before = if path.exists() {
            Connection::open(path)
                .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0)))
                .ctx(path)?
        } else {
            0
        };
        let store = SqliteStore::open(path)?;
        Ok((before, store.version()?))
    }

    fn version(&self) -> Result<u32> {
        self.db()?
            .query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))
            .ctx(&self.path)
    }

    /// Bring the schema from `v` (read when the store was opened) up to date.
    fn migrate(&mut self, v: u32) -> Result<()> {
        if v >= LATEST_SCHEMA {
            // Nothing to write (or a newer store, refused untouched): a store still unflushed
            // stays so for a reader.
            return refuse_newer(&self.path, v);
        }
        let path = self.path.clone();
        bring_up_to_date(self.conn_mut()?, &path, v)
    }

    /// Run a query and collect its rows, with errors located at this store.
    fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.db()?.prepare_cached(sql).ctx(&self.path)?;
        let rows = st
            .query_map(params, f)
            .ctx(&self.path)?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.ctx(&self.path)
    }

    fn query_diagnostics(&self, filter: &str, args: &[&str]) -> Result<Vec<Diagnostic>> {
        let sql = format!(
            "SELECT code, severity, path, line, item, message, hint FROM diagnostics {filter} ORDER BY path, line, code, message"
        );
        self.rows(
            &sql,
            rusqlite::params_from_iter(args.iter()),
            diagnostic_of_row,
        )
    }

    /// Every diagnostic (as [`Store::diagnostics`] orders them), and the (path, message) of the
    /// walk's for `checkout`, sorted.
    fn diagnostics_with_walk(&self, checkout: &str) -> Result<(Vec<Diagnostic>, WalkFindings)> {
        let mut walk = Vec::new();
        let all = self.rows(
            "SELECT code, severity, path, line, item, message, hint, scope = 'walk' AND checkout = ?1 FROM diagnostics ORDER BY path, line, code, message",
            [checkout],
            |r| {
                let d = diagnostic_of_row(r)?;
                if r.get::<_, bool>(7)? {
                    walk.push((d.path.clone(), d.message.clone()));
                }
                Ok(d)
            },
        )?;
        walk.sort();
        Ok((all, walk))
    }

    /// `select` for one item (`WHERE item = ?1`) or for every item, then `order`.
    fn rows_by_item<T>(
        &self,
        select: &str,
        order: &str,
        item: Option<&str>,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        match item {
            Some(id) => self.rows(&format!("{select} WHERE item = ?1 {order}"), [id], f),
            None => self.rows(&format!("{select} {order}"), [], f),
        }
    }

    fn query_items(&self, sql: &str, args: &[&str]) -> Result<Vec<ItemRow>> {
        self.rows(sql, rusqlite::params_from_iter(args.iter()), row_to_item)
    }
}

/// A statement an index pass runs once per document or item, held through SQLite's C interface
/// so that its string and blob parameters are bound without a copy (`SQLITE_STATIC`): rusqlite
/// copies every one (`SQLITE_TRANSIENT`), ~280 instructions a bind, 5.7M of the store writer's
/// 58M instructions in a first index of 1k items (20,164 binds, item sections and fields among
/// them). A value bound without a copy must stay where it is until the statement's next run
/// has bound its parameter again or the statement is finalized; [`SqliteIndexTx::run_sticky`]
/// keeps to that.
struct RawStatement {
    stmt: *mut rusqlite::ffi::sqlite3_stmt,
    db: *mut rusqlite::ffi::sqlite3,
}

#[allow(unsafe_code)]
impl RawStatement {
    fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<RawStatement> {
        use rusqlite::ffi;
        // SAFETY: the handle of an open connection that outlives the statement (an index pass's
        // statements are dropped before its transaction ends); used on this thread only.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        // SAFETY: valid UTF-8 of the given length; `stmt` receives the statement.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                sql.len() as std::os::raw::c_int,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        let st = RawStatement { stmt, db };
        if rc != ffi::SQLITE_OK {
            return Err(st.error(rc));
        }
        Ok(st)
    }

    /// The connection's last error, as rusqlite reports it.
    fn error(&self, rc: std::os::raw::c_int) -> rusqlite::Error {
        use rusqlite::ffi;
        // SAFETY: the connection is open; the message is copied before any other call on it.
        let (code, message) = unsafe {
            let m = ffi::sqlite3_errmsg(self.db);
            let message =
                (!m.is_null()).then(|| std::ffi::CStr::from_ptr(m).to_string_lossy().into_owned());
            let code = match ffi::sqlite3_extended_errcode(self.db) {
                0 => rc,
                c => c,
            };
            (code, message)
        };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
    }

    /// Bind `v` to parameter `i` (1-based). Borrowed text and blobs are bound without a copy
    /// (see the type's documentation for how long they must stay put); owned ones are copied.
    fn bind(&mut self, i: usize, v: &dyn rusqlite::ToSql) -> rusqlite::Result<()> {
        use rusqlite::ffi;
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        use std::os::raw::c_int;
        let i = i as c_int;
        let out = v.to_sql()?;
        // SAFETY: a prepared statement of an open connection (for text and blobs, see
        // `bind_bytes`: a borrowed value outlives the binding as the caller keeps to, an owned
        // one is copied before this returns).
        let rc = unsafe {
            match &out {
                ToSqlOutput::Borrowed(ValueRef::Text(t)) => self.bind_bytes(i, t, true, false)?,
                ToSqlOutput::Borrowed(ValueRef::Blob(b)) => self.bind_bytes(i, b, false, false)?,
                ToSqlOutput::Owned(Value::Text(t)) => {
                    self.bind_bytes(i, t.as_bytes(), true, true)?
                }
                ToSqlOutput::Owned(Value::Blob(b)) => self.bind_bytes(i, b, false, true)?,
                ToSqlOutput::Borrowed(ValueRef::Null) | ToSqlOutput::Owned(Value::Null) => {
                    ffi::sqlite3_bind_null(self.stmt, i)
                }
                ToSqlOutput::Borrowed(ValueRef::Integer(n))
                | ToSqlOutput::Owned(Value::Integer(n)) => {
                    ffi::sqlite3_bind_int64(self.stmt, i, *n)
                }
                ToSqlOutput::Borrowed(ValueRef::Real(x)) | ToSqlOutput::Owned(Value::Real(x)) => {
                    ffi::sqlite3_bind_double(self.stmt, i, *x)
                }
                #[allow(unreachable_patterns)]
                _ => {
                    return Err(rusqlite::Error::ToSqlConversionFailure(
                        "a value of a kind the index pass never binds".into(),
                    ))
                }
            }
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc));
        }
        Ok(())
    }

    /// Bind text (`text`) or a blob to parameter `i`: copied by SQLite when `copy`, otherwise
    /// bound where it is.
    ///
    /// # Safety
    ///
    /// Unless `copy`, `bytes` must stay where they are until parameter `i` is bound again or the
    /// statement is finalized, whichever comes first, and no run may read them after they have
    /// gone.
    unsafe fn bind_bytes(
        &mut self,
        i: std::os::raw::c_int,
        bytes: &[u8],
        text: bool,
        copy: bool,
    ) -> rusqlite::Result<std::os::raw::c_int> {
        use rusqlite::ffi;
        let n = std::os::raw::c_int::try_from(bytes.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        let keep = if copy {
            ffi::SQLITE_TRANSIENT()
        } else {
            ffi::SQLITE_STATIC()
        };
        let at = bytes.as_ptr().cast();
        // SAFETY: a prepared statement; `at` and `n` describe `bytes`, whose lifetime the caller
        // guarantees as this function's contract states.
        Ok(unsafe {
            if text {
                ffi::sqlite3_bind_text(self.stmt, i, at, n, keep)
            } else {
                ffi::sqlite3_bind_blob(self.stmt, i, at.cast(), n, keep)
            }
        })
    }

    /// Run the statement to its end and reset it (its bindings stay).
    fn execute(&mut self) -> rusqlite::Result<()> {
        let ran = self.step().map(|_| ());
        // SAFETY: a prepared statement; resetting returns the step's error again, which is
        // already known.
        unsafe { rusqlite::ffi::sqlite3_reset(self.stmt) };
        ran
    }

    /// Run the statement to its next row (true) or its end (false).
    fn step(&mut self) -> rusqlite::Result<bool> {
        use rusqlite::ffi;
        // SAFETY: a prepared statement whose parameters are bound as `bind` requires.
        match unsafe { ffi::sqlite3_step(self.stmt) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(self.error(rc)),
        }
    }
}

#[allow(unsafe_code)]
impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: finalized once, here, while its connection is open.
        unsafe { rusqlite::ffi::sqlite3_finalize(self.stmt) };
    }
}

/// The statements an index pass runs once per document or item, prepared once per pass and
/// held here: looking them up in the connection's cache hashes the whole SQL text every time.
#[derive(Clone, Copy)]
enum Hot {
    Item = 0,
    Source,
    File,
    Dep,
    Event,
}

const HOT_SQL: [&str; 5] = [
    index_flow::UPSERT_ITEM,
    index_flow::UPSERT_SOURCE,
    index_flow::UPSERT_FILE,
    "INSERT OR IGNORE INTO deps (item, dep) VALUES (?1, ?2)",
    INSERT_EVENT,
];

/// The graph checks of a first load, on their own thread: (checkout, diagnostic) pairs.
type GraphChecks = std::thread::JoinHandle<Vec<(String, Diagnostic)>>;

/// A value of a hot statement's parameter that often repeats from one run to the next (see
/// [`SqliteIndexTx::run_sticky`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> Arg<'a> {
    fn text(v: Option<&'a str>) -> Arg<'a> {
        v.map_or(Arg::Null, Arg::Text)
    }

    fn int(v: Option<i64>) -> Arg<'a> {
        v.map_or(Arg::Null, Arg::Int)
    }
}

/// What `run_sticky` last bound a parameter to (`Unknown`: bound some other way, or not yet).
/// A text is this writer's own copy, which the statement reads until the parameter is bound
/// again.
#[derive(Debug, Default)]
enum Bound {
    #[default]
    Unknown,
    Null,
    Int(i64),
    Text(String),
}

/// [`IndexWriter`] over one SQLite write transaction.
struct SqliteIndexTx<'a, 'c> {
    tx: &'a rusqlite::Transaction<'c>,
    loc: &'a Path,
    /// Secondary indexes dropped for a bulk load (or, in a new store, not yet built), built
    /// (sorted) at its end.
    deferred: Vec<(String, String)>,
    /// A new store without its [`LOAD_INDEXES`]: a bulk load has none to drop.
    load_indexes_absent: bool,
    /// The store is staged: the indexes are left to a transaction of their own, after this
    /// one commits (see [`SqliteStore::build_deferred`]).
    split: bool,
    hot: [Option<RawStatement>; 5],
    /// A staged store's graph checks, running on a thread of their own while the load ends (see
    /// [`IndexWriter::check_graph_later`]); their diagnostics are recorded with the indexes.
    graph: Option<GraphChecks>,
    /// What each hot statement's repeating parameters are bound to, by parameter number (see
    /// [`SqliteIndexTx::run_sticky`]).
    sticky: [Vec<Bound>; 5],
    /// A bulk load's table of counts, kept here instead of by triggers (see [`BulkCounts`]).
    counts: Option<BulkCounts>,
    /// The count triggers exist on this transaction's connection (see [`COUNT_TRIGGERS`]).
    counting: bool,
    /// The staged store's file, which a first load flushes as it goes (see [`LoadFlusher`]).
    staged: Option<&'a Path>,
    flusher: Option<LoadFlusher>,
    /// The store is published unflushed: its flusher starts writes and waits for none.
    start_writes_only: bool,
}

/// The table of counts (`item_counts`, schema 8) of a bulk load, counted in memory (without the
/// triggers that otherwise keep it) and written once at the end: a trigger run per inserted item
/// would cost more than the two sorted index builds the table replaced.
#[derive(Default)]
struct BulkCounts {
    rows: Vec<CountRow>,
    /// The first row of each hash of a combination; rows with the same hash are chained
    /// (`CountRow::next`). Counting an item hashes and compares, and never allocates once its
    /// combination has a row (formatting a key per item cost ~2,000 instructions).
    first: rustc_hash::FxHashMap<u64, usize>,
    /// Item rows written. When it equals the rows the table holds at the end, every write
    /// inserted a new id and the counts are exact; otherwise they are taken from the rows.
    written: u64,
}

struct CountRow {
    kind: String,
    status: String,
    rank: Option<i64>,
    terminal: bool,
    lane: Option<String>,
    n: i64,
    next: Option<usize>,
}

impl BulkCounts {
    fn add(
        &mut self,
        kind: &str,
        status: &str,
        rank: Option<i64>,
        terminal: bool,
        lane: Option<&str>,
    ) {
        use std::hash::{Hash, Hasher};
        self.written += 1;
        let mut h = rustc_hash::FxHasher::default();
        (kind, status, rank, terminal, lane).hash(&mut h);
        let h = h.finish();
        let head = self.first.get(&h).copied();
        let mut at = head;
        while let Some(i) = at {
            let r = &mut self.rows[i];
            if r.kind == kind
                && r.status == status
                && r.rank == rank
                && r.terminal == terminal
                && r.lane.as_deref() == lane
            {
                r.n += 1;
                return;
            }
            at = r.next;
        }
        self.first.insert(h, self.rows.len());
        self.rows.push(CountRow {
            kind: kind.to_string(),
            status: status.to_string(),
            rank,
            terminal,
            lane: lane.map(str::to_string),
            n: 1,
            next: head,
        });
    }
}

impl<'a> SqliteIndexTx<'a, '_> {
    /// Before the first write to items: the table of counts must follow. A bulk load counts on
    /// its own (see [`SqliteIndexTx::write_counts`], which also catches a removal).
    fn count_writes(&mut self) -> Result<()> {
        if !self.counting && self.counts.is_none() {
            install_count_triggers(self.tx).ctx(self.loc)?;
            self.counting = true;
        }
        Ok(())
    }

    /// Write a bulk load's table of counts (see [`BulkCounts`]), before its triggers return.
    fn write_counts(&mut self) -> Result<()> {
        let Some(c) = self.counts.take() else {
            return Ok(());
        };
        let rows: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))
            .ctx(self.loc)?;
        if u64::try_from(rows).ok() != Some(c.written) {
            // An id written twice, or an item removed: count the rows themselves.
            return self
                .tx
                .execute_batch(
                    "DELETE FROM item_counts;
                     INSERT INTO item_counts SELECT kind, status, ifnull(status_rank, -1), terminal,
                       ifnull(lane, char(0)), COUNT(*) FROM items GROUP BY 1, 2, 3, 4, 5;",
                )
                .ctx(self.loc);
        }
        let mut st = self
            .tx
            .prepare(
                "INSERT INTO item_counts
                 VALUES (?1, ?2, ifnull(?3, -1), ?4, ifnull(?5, char(0)), ?6)",
            )
            .ctx(self.loc)?;
        for r in &c.rows {
            st.execute(params![
                r.kind,
                r.status,
                r.rank,
                r.terminal as i64,
                r.lane,
                r.n
            ])
            .ctx(self.loc)?;
        }
        Ok(())
    }

    /// Run a hot statement with every parameter bound again (`(index, value)`), each value
    /// staying put until the call returns.
    fn run(&mut self, which: Hot, p: &[(usize, &dyn rusqlite::ToSql)]) -> Result<()> {
        // Every parameter is bound again: what `run_sticky` remembers no longer holds.
        self.sticky[which as usize].clear();
        self.run_sticky(which, &[], p)
    }

    /// Run a hot statement whose `sticky` parameters (index, value) mostly repeat from one run to
    /// the next (the pass's checkout and time, its actor and correlation id; an item's kind,
    /// status, rank, lane, labels; a task's document): SQLite keeps a statement's bindings
    /// between runs, so each is bound again only when it differs from what it was bound to, and
    /// the `rest` every run. A sticky text is bound from this writer's own copy of it, which
    /// stays put until the value changes and is bound again; every `rest` value is bound again at
    /// each run, before the statement runs, so none is read after the call that bound it returns
    /// (see [`RawStatement`]). Each call site names the same parameters every time, so every
    /// parameter is bound before each run.
    fn run_sticky(
        &mut self,
        which: Hot,
        sticky: &[(usize, Arg<'_>)],
        rest: &[(usize, &dyn rusqlite::ToSql)],
    ) -> Result<()> {
        let bound = &mut self.sticky[which as usize];
        let mut st = match self.hot[which as usize].take() {
            Some(st) => st,
            None => {
                bound.clear();
                RawStatement::prepare(self.tx, HOT_SQL[which as usize]).ctx(self.loc)?
            }
        };
        let ran = (|| {
            for &(i, v) in sticky {
                if bound.len() <= i {
                    bound.resize_with(i + 1, Bound::default);
                }
                match (&mut bound[i], v) {
                    (Bound::Null, Arg::Null) => {}
                    (Bound::Int(a), Arg::Int(b)) if *a == b => {}
                    (Bound::Text(a), Arg::Text(b)) if a == b => {}
                    (Bound::Text(a), Arg::Text(b)) => {
                        b.clone_into(a);
                        st.bind(i, &a.as_str())?;
                    }
                    (slot, Arg::Text(b)) => {
                        *slot = Bound::Text(b.to_string());
                        if let Bound::Text(a) = slot {
                            st.bind(i, &a.as_str())?;
                        }
                    }
                    (slot, Arg::Int(b)) => {
                        st.bind(i, &b)?;
                        *slot = Bound::Int(b);
                    }
                    (slot, Arg::Null) => {
                        st.bind(i, &rusqlite::types::Null)?;
                        *slot = Bound::Null;
                    }
                }
            }
            for &(i, v) in rest {
                if let Some(slot) = bound.get_mut(i) {
                    *slot = Bound::Unknown;
                }
                st.bind(i, v)?;
            }
            st.execute()
        })();
        if ran.is_err() {
            // What was bound is no longer known to be current.
            bound.clear();
        }
        self.hot[which as usize] = Some(st);
        ran.ctx(self.loc)
    }

    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<()> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(p))
            .map(|_| ())
            .ctx(self.loc)
    }

    fn ids<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<String>> {
        let mut st = self.tx.prepare_cached(sql).ctx(self.loc)?;
        let v = st
            .query_map(p, |r| r.get::<_, String>(0))
            .ctx(self.loc)?
            .collect::<rusqlite::Result<Vec<_>>>();
        v.ctx(self.loc)
    }

    fn flag<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<bool> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(p, |r| r.get::<_, bool>(0)))
            .ctx(self.loc)
    }
}

impl IndexWriter for SqliteIndexTx<'_, '_> {
    fn store_is_empty(&mut self) -> Result<bool> {
        // A journal without items (every document was removed) is not a first index: items
        // that come back are merged with the status they had.
        self.flag(
            "SELECT NOT EXISTS (SELECT 1 FROM items) AND NOT EXISTS (SELECT 1 FROM events)",
            [],
        )
    }

    fn bulk_load(&mut self, starting: bool) -> Result<()> {
        // Build the secondary indexes once at the end (a sorted build) instead of updating them
        // row by row.
        if starting {
            // The page cache for the load. A store being built under its private name (staged)
            // has its journal in memory, so a full cache spills dirty pages straight into the
            // file, and a small one is best: pages are written out as the load goes instead of
            // piling up until the commit, where a flusher takes them to the disk meanwhile (see
            // [`LoadFlusher`]), and the cache's memory is reused instead of grown page by page
            // (a first index of 100k items: ~970 → ~940 ms with 2 MB instead of 64 MB,
            // alternating runs, and peak memory lower by the cache; 512 KiB since, for the
            // flusher: at 1k items a 2 MB cache held the whole load). A store in use has
            // its WAL: a small cache spills into the WAL mid-transaction and reads the pages
            // back while building the indexes, so that load gets a large one. In-memory temp
            // storage (set at open) keeps the index sorts off the disk in both.
            let kib = if self.split {
                STAGED_LOAD_CACHE_KIB
            } else {
                65536
            };
            if let Some(p) = self.staged {
                self.flusher = LoadFlusher::start(p, self.tx, self.start_writes_only);
            }
            self.tx
                .execute_batch(&format!("PRAGMA cache_size = -{kib};"))
                .ctx(self.loc)?;
            let v = if self.load_indexes_absent {
                load_indexes()
            } else {
                let mut st = self
                    .tx
                    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('items', 'events', 'deps', 'item_sources')")
                    .ctx(self.loc)?;
                let v = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .ctx(self.loc)?
                    .collect::<rusqlite::Result<Vec<(String, String)>>>()
                    .ctx(self.loc)?;
                for (name, _) in &v {
                    self.tx
                        .execute(&format!("DROP INDEX \"{name}\""), [])
                        .ctx(self.loc)?;
                }
                v
            };
            // The load counts in memory: no trigger of this connection may count as well.
            self.tx
                .execute_batch(
                    "DROP TRIGGER IF EXISTS temp.item_counts_insert;
                     DROP TRIGGER IF EXISTS temp.item_counts_delete;
                     DROP TRIGGER IF EXISTS temp.item_counts_update;
                     DELETE FROM item_counts;",
                )
                .ctx(self.loc)?;
            self.counts = Some(BulkCounts::default());
            self.deferred = v;
            return Ok(());
        }
        self.write_counts()?;
        if !self.split {
            for (_, sql) in std::mem::take(&mut self.deferred) {
                self.tx.execute(&sql, []).ctx(self.loc)?;
            }
            self.tx
                .execute_batch("PRAGMA cache_size = -2000;")
                .ctx(self.loc)?;
        }
        Ok(())
    }

    fn replace_walk_diagnostics(&mut self, checkout: &str, diags: &[Diagnostic]) -> Result<()> {
        self.exec(
            "DELETE FROM diagnostics WHERE scope = 'walk' AND checkout = ?1",
            [checkout],
        )?;
        for d in diags {
            insert_diag(self.tx, checkout, d, "walk").ctx(self.loc)?;
        }
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(index_flow::SET_META, params![key, value])
    }

    fn insert_diagnostic(&mut self, checkout: &str, d: &Diagnostic, scope: &str) -> Result<()> {
        insert_diag(self.tx, checkout, d, scope).ctx(self.loc)
    }

    fn delete_file_diagnostics(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM diagnostics WHERE checkout = ?1 AND path = ?2 AND scope = 'file'",
            params![checkout, path],
        )
    }

    fn item_ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>> {
        self.ids(index_flow::ITEM_IDS_AT, params![checkout, path])
    }

    fn delete_sources_at(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM item_sources WHERE checkout = ?1 AND path = ?2",
            params![checkout, path],
        )
    }

    fn touch_file(&mut self, checkout: &str, path: &str, st: &FileState) -> Result<()> {
        self.exec(
            "UPDATE files SET size = ?3, mtime_ns = ?4 WHERE checkout = ?1 AND path = ?2",
            params![checkout, path, st.size as i64, st.mtime_ns],
        )
    }

    fn existing(&mut self, id: &str, checkout: &str) -> Result<Option<Existing>> {
        self.tx
            .prepare_cached(
                "SELECT i.status, i.status_rank, i.terminal, s.file_status, i.checkout, i.path, i.content_hash,
                        i.parent, i.depends_on, i.line
                 FROM items i LEFT JOIN item_sources s ON s.checkout = ?2 AND s.id = i.id WHERE i.id = ?1",
            )
            .and_then(|mut st| {
                st.query_row(params![id, checkout], |r| {
                    Ok(Existing {
                        status: r.get(0)?,
                        rank: r.get(1)?,
                        terminal: r.get::<_, i64>(2)? != 0,
                        last_file_status: r.get(3)?,
                        checkout: r.get(4)?,
                        path: r.get(5)?,
                        content_hash: r.get(6)?,
                        parent: r.get(7)?,
                        depends_on: r.get(8)?,
                        line: r.get(9)?,
                    })
                })
                .optional()
            })
            .ctx(self.loc)
    }

    fn insert_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<i64> {
        // Parameter numbers as in `event_params`.
        self.run_sticky(
            Hot::Event,
            &[
                (2, Arg::Text(e.action)),
                (3, Arg::text(e.from)),
                (4, Arg::text(e.to)),
                (5, Arg::Text(&ctx.actor)),
                (6, Arg::Text(&ctx.machine)),
                (7, Arg::Text(&ctx.source)),
                (8, Arg::text(e.reason)),
                (9, Arg::Text(&ctx.correlation_id)),
                (10, Arg::Text(&ctx.at)),
            ],
            &[(1, &e.item)],
        )?;
        Ok(self.tx.last_insert_rowid())
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
        self.run_sticky(
            Hot::Source,
            &[
                (1, Arg::Text(checkout)),
                (3, Arg::Text(path)),
                (5, Arg::text(file_status)),
                (6, Arg::Int(drifted as i64)),
            ],
            &[(2, &id), (4, &line), (7, &status_line)],
        )
    }

    fn refresh_drift(&mut self, id: &str, status: &str) -> Result<()> {
        refresh_drift(self.tx, id, status).ctx(self.loc)
    }

    fn upsert_item(&mut self, w: &ItemWrite<'_>) -> Result<()> {
        let i = &w.it.item;
        match &mut self.counts {
            Some(c) => c.add(&i.kind, w.status, w.rank, w.terminal, i.lane.as_deref()),
            None => self.count_writes()?,
        }
        let line = |l: Option<u32>| Arg::int(l.map(i64::from));
        self.run_sticky(
            Hot::Item,
            &[
                (2, Arg::Text(&i.kind)),
                (4, Arg::Text(w.status)),
                (5, Arg::int(w.rank)),
                (6, Arg::Int(w.terminal as i64)),
                (7, Arg::text(i.priority.as_deref())),
                (8, Arg::Int(w.it.priority_rank.unwrap_or(NO_PRIORITY))),
                (9, Arg::text(i.parent.as_deref())),
                (10, Arg::text(i.lane.as_deref())),
                (11, Arg::text(i.owner.as_deref())),
                (12, Arg::Text(&w.it.encoded.labels)),
                (13, Arg::Text(&w.it.encoded.depends_on)),
                (14, Arg::Text(w.checkout)),
                (15, Arg::Text(w.path)),
                (20, Arg::Text(w.at)),
                (21, Arg::Int(w.blocked as i64)),
                (22, line(i.field_lines.parent)),
                (23, line(i.field_lines.depends_on)),
            ],
            &[
                (1, &i.id),
                (3, &i.title),
                (16, &i.line),
                (17, &w.it.encoded.fields),
                (18, &w.it.encoded.sections),
                (19, &i.content_hash),
            ],
        )
    }

    fn replace_deps(&mut self, id: &str, deps: &[String], known: bool) -> Result<()> {
        if known {
            self.exec("DELETE FROM deps WHERE item = ?1", [id])?;
        }
        for dep in deps {
            self.run(Hot::Dep, &[(1, &id), (2, dep)])?;
        }
        Ok(())
    }

    fn prune_sources(&mut self, checkout: &str, path: &str, declared: &[&str]) -> Result<()> {
        let json = serde_json::to_string(declared).unwrap_or_else(|_| "[]".into());
        self.exec(
            "DELETE FROM item_sources WHERE checkout = ?1 AND path = ?2
               AND id NOT IN (SELECT value FROM json_each(?3))",
            params![checkout, path, json],
        )
    }

    fn upsert_file(
        &mut self,
        checkout: &str,
        path: &str,
        st: &FileState,
        broken: bool,
        recheck: bool,
    ) -> Result<()> {
        if let Some(f) = &mut self.flusher {
            f.poll(self.tx);
        }
        self.run_sticky(
            Hot::File,
            &[
                (1, Arg::Text(checkout)),
                (6, Arg::Int(broken as i64)),
                (7, Arg::Int(recheck as i64)),
            ],
            &[
                (2, &path),
                (3, &(st.size as i64)),
                (4, &st.mtime_ns),
                (5, &&st.hash[..]),
            ],
        )
    }

    fn delete_file(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "DELETE FROM files WHERE checkout = ?1 AND path = ?2",
            params![checkout, path],
        )
    }

    fn mark_recheck(&mut self, checkout: &str, path: &str) -> Result<()> {
        self.exec(
            "UPDATE files SET recheck = 1 WHERE checkout = ?1 AND path = ?2",
            params![checkout, path],
        )
    }

    fn remove_item(&mut self, id: &str) -> Result<Option<String>> {
        let status: Option<String> = self
            .tx
            .prepare_cached("SELECT status FROM items WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .ctx(self.loc)?;
        self.count_writes()?;
        self.exec("DELETE FROM items WHERE id = ?1", [id])?;
        self.exec("DELETE FROM deps WHERE item = ?1", [id])?;
        Ok(status)
    }

    fn is_referenced(&mut self, id: &str) -> Result<bool> {
        self.flag(
            "SELECT EXISTS (SELECT 1 FROM deps WHERE dep = ?1) OR EXISTS (SELECT 1 FROM items WHERE parent = ?1)",
            [id],
        )
    }

    fn item_known(&mut self, id: &str) -> Result<bool> {
        self.flag("SELECT EXISTS (SELECT 1 FROM items WHERE id = ?1)", [id])
    }

    fn removed_status(&mut self, id: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached(index_flow::REMOVED_STATUS)
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .map(Option::flatten)
            .ctx(self.loc)
    }

    fn refresh_blocked(&mut self, ids: Option<&[String]>) -> Result<()> {
        let json = ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        refresh_blocked(self.tx, json.as_deref()).ctx(self.loc)
    }

    fn set_blocked(&mut self, id: &str, blocked: bool) -> Result<()> {
        self.exec(
            "UPDATE items SET blocked = ?2 WHERE id = ?1",
            params![id, blocked as i64],
        )
    }

    fn graph_rows(&mut self) -> Result<Vec<GraphRow>> {
        let mut st = self
            .tx
            .prepare("SELECT id, parent, depends_on, checkout, path, line, parent_line, depends_line FROM items")
            .ctx(self.loc)?;
        let v = st
            .query_map([], |r| {
                Ok(GraphRow {
                    id: r.get(0)?,
                    parent: r.get(1)?,
                    deps: index_flow::json_list(&r.get::<_, String>(2)?),
                    checkout: std::sync::Arc::from(r.get::<_, String>(3)?),
                    path: std::sync::Arc::from(r.get::<_, String>(4)?),
                    line: r.get(5)?,
                    lines: evident_core::item::FieldLines {
                        parent: r.get(6)?,
                        depends_on: r.get(7)?,
                        status: None,
                    },
                })
            })
            .ctx(self.loc)?
            .collect::<rusqlite::Result<Vec<_>>>();
        v.ctx(self.loc)
    }

    fn check_graph_later(&mut self, rows: Vec<GraphRow>) -> Result<Option<Vec<GraphRow>>> {
        if !self.split {
            return Ok(Some(rows));
        }
        // The indexes of a staged store are built after this transaction commits, on this
        // thread, while the other core has nothing left to parse: the checks (and freeing the
        // rows, one allocation per id and edge) run there meanwhile (~60 ms of a first index of
        // 100k items).
        let spawned = std::thread::Builder::new()
            .name("graph".into())
            .spawn(move || index_flow::graph_diagnostics(&rows));
        match spawned {
            Ok(h) => {
                self.graph = Some(h);
                Ok(None)
            }
            Err(e) => Err(StoreError::Backend {
                location: self.loc.display().to_string(),
                message: format!("cannot start the graph checks: {e}"),
            }),
        }
    }

    fn clear_graph_diagnostics(&mut self) -> Result<()> {
        self.exec("DELETE FROM diagnostics WHERE scope = 'graph'", [])
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// A connection with no transaction open, on a published store whose WAL holds no frame,
    /// is left for the exit to release: closing it would checkpoint nothing and cut nothing,
    /// and the OS drops its file locks, its mapping of the WAL index and its memory with the
    /// process, as it does for a process that dies (SQLite's locking assumes that). Closing
    /// was ~110k instructions of a warm no-change `index` of 1k documents (freeing the parsed
    /// schema, unlocking, unmapping) and ~0.05 ms. A store this process wrote to holds frames
    /// in its WAL until a close checkpoints them, so it is closed as usual; a staged store is
    /// published, as when it is dropped.
    fn end_of_process(self: Box<Self>) {
        let idle = self.staged.is_none()
            && self.early_sync.is_none()
            && matches!(
                *self.schema.lock().unwrap_or_else(|e| e.into_inner()),
                Schema::Ready
            )
            && self.conn.get().is_some_and(Connection::is_autocommit)
            && wal_is_empty(&self.path);
        if idle {
            std::mem::forget(self);
        }
    }

    fn is_new(&self) -> bool {
        self.staged.is_some()
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn schema_version(&mut self) -> Result<u32> {
        self.version()
    }

    fn file_states(&mut self, checkout: &str) -> Result<FileStates> {
        if self.staged.is_some() {
            // Created by this process and not yet indexed: it has seen no file (and its schema
            // may still be in the making, see `Schema`).
            return Ok(FileStates::default());
        }
        let path = self.path.clone();
        read_file_states(self.db()?, checkout).ctx(&path)
    }

    fn file_states_of(&mut self, checkout: &str, paths: &[String]) -> Result<FileStates> {
        let mut states = FileStates::default();
        if self.staged.is_some() {
            return Ok(states);
        }
        let path = self.path.clone();
        let mut st = self
            .db()?
            .prepare_cached(
                "SELECT size, mtime_ns, hash, broken, recheck FROM files WHERE checkout = ?1 AND path = ?2",
            )
            .ctx(&path)?;
        for p in paths {
            let found = st
                .query_row(params![checkout, p], |r| {
                    let mut hash = [0u8; 16];
                    if let Ok(b) = r.get_ref(2)?.as_blob() {
                        let n = b.len().min(16);
                        hash[..n].copy_from_slice(&b[..n]);
                    }
                    Ok(FileState {
                        size: r.get::<_, i64>(0)? as u64,
                        mtime_ns: r.get(1)?,
                        hash,
                        broken: r.get::<_, i64>(3)? != 0,
                        recheck: r.get::<_, i64>(4)? != 0,
                    })
                })
                .optional()
                .ctx(&path)?;
            if let Some(state) = found {
                states.insert(p.clone(), state);
            }
        }
        Ok(states)
    }

    fn parse_fingerprint(&mut self, checkout: &str) -> Result<Option<String>> {
        if self.staged.is_some() {
            return Ok(None);
        }
        self.db()?
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut st| {
                st.query_row([index_flow::fingerprint_key(checkout)], |r| r.get(0))
                    .optional()
            })
            .ctx(&self.path)
    }

    fn apply_index(
        &mut self,
        batch: &IndexBatch,
        changes: &mut dyn Iterator<Item = FileChange>,
        ctx: &EventContext,
    ) -> Result<IndexReport> {
        let path = self.path.clone();
        // Nothing changed: no write transaction at all (I4: an unchanged repository writes nothing).
        if batch.is_empty() {
            // Every diagnostic, in one read: the walk's are compared with this walk's, and the
            // report carries them all (what `index` prints).
            let (all, walk) = self.diagnostics_with_walk(&batch.checkout)?;
            let unchanged = match &batch.walk_diagnostics {
                None => true,
                Some(new) => same_walk(walk, new),
            };
            if unchanged {
                // A new store that found nothing to index is published now: the first load
                // it was staged for is over.
                let report = IndexReport {
                    diagnostics: Some(all),
                    ..IndexReport::default()
                };
                return self.published_after_index(report);
            }
        }
        let split = self.staged.is_some();
        let staged = self.staged.clone();
        let load_indexes_absent = split && self.load_indexes_pending;
        // Whether the store is published unflushed is known once its schema thread is joined.
        self.db()?;
        let start_writes_only = self.unflushed.get();
        let tx = self
            .conn_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path)?;
        let (report, deferred, graph, flusher) = {
            let mut w = SqliteIndexTx {
                tx: &tx,
                loc: &path,
                deferred: Vec::new(),
                load_indexes_absent,
                split,
                hot: Default::default(),
                graph: None,
                sticky: Default::default(),
                counts: None,
                counting: false,
                staged: staged.as_deref(),
                flusher: None,
                start_writes_only,
            };
            let report = index_flow::apply_index(&mut w, batch, changes, ctx)?;
            (report, w.deferred, w.graph, w.flusher)
        };
        tx.commit().ctx(&path)?;
        self.early_sync = flusher.map(LoadFlusher::finish);
        if !deferred.is_empty() || graph.is_some() {
            self.build_deferred(&deferred, graph)?;
        }
        self.published_after_index(report)
    }

    fn transition(&mut self, req: &TransitionRequest, ctx: &EventContext) -> Result<Event> {
        let path = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path)?;
        install_count_triggers(&tx).ctx(&path)?;
        let current: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT status, status_rank FROM items WHERE id = ?1",
                [&req.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx(&path)?;
        let Some((current, rank)) = current else {
            return Err(StoreError::NotFound(req.id.clone()));
        };
        check_transition(req, &current, rank)?;
        let held = claim_of(&tx, &req.id).ctx(&path)?;
        let release = rules::transition_lease(req, &ctx.actor, held.as_ref())?;
        tx.execute(
            "UPDATE items SET status = ?2, status_rank = ?3, terminal = ?4, updated_at = ?5 WHERE id = ?1",
            params![req.id, req.to.key, req.to.rank, req.to.terminal as i64, ctx.at],
        )
        .ctx(&path)?;
        let json = serde_json::to_string(&[&req.id]).unwrap_or_else(|_| "[]".into());
        refresh_blocked(&tx, Some(&json)).ctx(&path)?;
        if let Some((checkout, fs)) = &req.file_status {
            tx.execute(
                "UPDATE item_sources SET file_status = ?3 WHERE checkout = ?1 AND id = ?2",
                params![checkout, req.id, fs],
            )
            .ctx(&path)?;
        }
        refresh_drift(&tx, &req.id, &req.to.key).ctx(&path)?;
        let e = NewEvent {
            item: &req.id,
            action: req.action,
            from: Some(&current),
            to: Some(&req.to.key),
            reason: req.reason.as_deref(),
        };
        let seq = insert_event(&tx, &e, ctx).ctx(&path)?;
        if let Some(reason) = release {
            tx.execute("DELETE FROM claims WHERE item = ?1", [&req.id])
                .ctx(&path)?;
            insert_event(&tx, &NewEvent::note(&req.id, action::RELEASE, &reason), ctx)
                .ctx(&path)?;
        }
        tx.commit().ctx(&path)?;
        Ok(Event::recorded(seq, &e, ctx))
    }

    fn get_item(&mut self, id: &str) -> Result<Option<ItemRow>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, fields, sections, content_hash FROM items WHERE id = ?1"
        );
        self.db()?
            .prepare_cached(&sql)
            .ctx(&self.path)?
            .query_row([id], |r| {
                let mut it = row_to_item(r)?;
                it.fields = serde_json::from_str(&r.get::<_, String>(16)?).unwrap_or_default();
                it.sections = decode_sections(&r.get::<_, String>(17)?);
                it.content_hash = r.get(18)?;
                Ok(it)
            })
            .optional()
            .ctx(&self.path)
    }

    fn kind_status(&mut self, id: &str) -> Result<Option<(String, String)>> {
        self.db()?
            .prepare_cached("SELECT kind, status FROM items WHERE id = ?1")
            .ctx(&self.path)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .ctx(&self.path)
    }

    fn list_items(&mut self, f: &ItemFilter) -> Result<Vec<ItemRow>> {
        let mut sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let push_in = |sql: &mut String,
                       col: &str,
                       vals: &[String],
                       args: &mut Vec<rusqlite::types::Value>| {
            if vals.is_empty() {
                return;
            }
            sql.push_str(&format!(
                " AND {col} IN ({})",
                vec!["?"; vals.len()].join(",")
            ));
            args.extend(vals.iter().map(|v| rusqlite::types::Value::Text(v.clone())));
        };
        push_in(&mut sql, "kind", &f.kinds, &mut args);
        push_in(&mut sql, "status", &f.statuses, &mut args);
        for (col, v) in [
            ("lane", &f.lane),
            ("owner", &f.owner),
            ("parent", &f.parent),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                args.push(rusqlite::types::Value::Text(v.clone()));
            }
        }
        if let Some(l) = &f.label {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM json_each(items.labels) WHERE json_each.value = ?)",
            );
            args.push(rusqlite::types::Value::Text(l.clone()));
        }
        if let Some(s) = &f.search {
            sql.push_str(
                " AND (instr(lower(title), lower(?)) > 0 OR instr(lower(id), lower(?)) > 0)",
            );
            args.push(rusqlite::types::Value::Text(s.clone()));
            args.push(rusqlite::types::Value::Text(s.clone()));
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
        sql.push_str(&format!(" ORDER BY {order}"));
        if let Some(l) = f.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        let mut st = self.db()?.prepare(&sql).ctx(&self.path)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), row_to_item)
            .ctx(&self.path)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx(&self.path)?;
        Ok(rows)
    }

    fn ready_items(
        &mut self,
        limit: Option<usize>,
        unclaimed_at: Option<i64>,
    ) -> Result<Vec<ItemRow>> {
        let lim = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        match unclaimed_at {
            None => self.query_items(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items i WHERE {READY} ORDER BY priority_rank, id{lim}"
                ),
                &[],
            ),
            Some(now) => self.rows(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items i WHERE {READY}
                       AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item = i.id AND c.expires_ms > ?1)
                     ORDER BY priority_rank, id{lim}"
                ),
                [now],
                row_to_item,
            ),
        }
    }

    fn blocked_items(&mut self, limit: Option<usize>) -> Result<Vec<ItemRow>> {
        let lim = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items i WHERE {BLOCKED} ORDER BY priority_rank, id{lim}"
        );
        self.query_items(&sql, &[])
    }

    fn dependents(&mut self, id: &str) -> Result<Vec<ItemRow>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id IN (SELECT item FROM deps WHERE dep = ?1) ORDER BY id");
        self.query_items(&sql, &[id])
    }

    fn events(&mut self, item: Option<&str>, limit: Option<usize>) -> Result<Vec<Event>> {
        let lim = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        match item {
            Some(id) => self.rows(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE item = ?1 ORDER BY seq DESC{lim}"
                ),
                [id],
                row_to_event,
            ),
            None => self.rows(
                &format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC{lim}"),
                [],
                row_to_event,
            ),
        }
    }

    fn diagnostics(&mut self) -> Result<Vec<Diagnostic>> {
        self.query_diagnostics("", &[])
    }

    fn item_diagnostics(&mut self, id: &str) -> Result<Vec<Diagnostic>> {
        self.query_diagnostics("WHERE item = ?1", &[id])
    }

    fn attention_count(&mut self) -> Result<u64> {
        self.db()?
            .query_row(
                "SELECT COUNT(*) FROM diagnostics WHERE severity IN ('error', 'warning')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .ctx(&self.path)
    }

    fn ids_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        // Ids from `PREFIX-` up to (not including) `PREFIX.`: '.' follows '-' in ASCII.
        self.rows(
            "SELECT id FROM items WHERE id >= ?1 AND id < ?2",
            params![format!("{prefix}-"), format!("{prefix}.")],
            |r| r.get(0),
        )
    }

    fn summary(&mut self, recent: usize) -> Result<Summary> {
        let p = self.path.clone();
        let mut s = Summary::default();
        {
            let mut st = self.db()?.prepare_cached(KIND_STATUS_COUNTS).ctx(&p)?;
            // The same rows count the finished items.
            let mut terminal = 0u64;
            s.by_kind_status = st
                .query_map([], |r| {
                    terminal += r.get::<_, i64>(4)? as u64;
                    Ok(KindStatusCount {
                        kind: r.get(0)?,
                        status: r.get(1)?,
                        status_rank: r.get(2)?,
                        count: r.get::<_, i64>(3)? as u64,
                    })
                })
                .ctx(&p)?
                .collect::<rusqlite::Result<_>>()
                .ctx(&p)?;
            s.terminal = terminal;
            let mut st = self.db()?.prepare_cached(LANE_COUNTS).ctx(&p)?;
            s.by_lane = st
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                .ctx(&p)?
                .collect::<rusqlite::Result<_>>()
                .ctx(&p)?;
        }
        s.total = s.by_kind_status.iter().map(|r| r.count).sum();
        let count = |conn: &Connection, sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .ctx(&p)
        };
        s.ready = count(
            self.db()?,
            &format!("SELECT COUNT(*) FROM items i WHERE {READY}"),
        )?;
        s.blocked = count(
            self.db()?,
            &format!("SELECT COUNT(*) FROM items i WHERE {BLOCKED}"),
        )?;
        s.diagnostics_errors = count(
            self.db()?,
            "SELECT COUNT(*) FROM diagnostics WHERE severity = 'error'",
        )?;
        s.diagnostics_warnings = count(
            self.db()?,
            "SELECT COUNT(*) FROM diagnostics WHERE severity = 'warning'",
        )?;
        s.recent = self.events(None, Some(recent))?;
        Ok(s)
    }

    fn allocate_sequence(&mut self, prefix: &str, floor: u64) -> Result<u64> {
        let path = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path)?;
        let next: Option<i64> = tx
            .query_row(
                "SELECT next FROM id_counters WHERE prefix = ?1",
                [prefix],
                |r| r.get(0),
            )
            .optional()
            .ctx(&path)?;
        let n = (next.unwrap_or(1) as u64).max(floor);
        tx.execute(
            "INSERT INTO id_counters (prefix, next) VALUES (?1, ?2) ON CONFLICT(prefix) DO UPDATE SET next = excluded.next",
            params![prefix, (n + 1) as i64],
        )
        .ctx(&path)?;
        tx.commit().ctx(&path)?;
        Ok(n)
    }

    fn drift(&mut self, checkout: &str) -> Result<Vec<Drift>> {
        let mut rows = self.rows(
            "SELECT i.id, i.kind, i.status, i.status_rank, s.file_status, s.path, s.line, s.status_line
             FROM item_sources s INDEXED BY item_sources_drifted JOIN items i ON i.id = s.id
             WHERE s.checkout = ?1 AND s.drifted = 1",
            [checkout],
            |r| {
                Ok(Drift {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    status: r.get(2)?,
                    status_rank: r.get(3)?,
                    file_status: r.get(4)?,
                    path: r.get(5)?,
                    line: r.get(6)?,
                    status_line: r.get(7)?,
                })
            },
        )?;
        // Sorted here: an ORDER BY would steer the planner off the small drifted-rows index.
        rows.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        Ok(rows)
    }

    fn source(&mut self, checkout: &str, id: &str) -> Result<Option<SourceRow>> {
        self.db()?
            .prepare_cached(
                "SELECT path, line, file_status FROM item_sources WHERE checkout = ?1 AND id = ?2",
            )
            .ctx(&self.path)?
            .query_row(params![checkout, id], |r| {
                Ok(SourceRow {
                    path: r.get(0)?,
                    line: r.get(1)?,
                    file_status: r.get(2)?,
                })
            })
            .optional()
            .ctx(&self.path)
    }

    fn sources(&mut self, id: &str) -> Result<Vec<ItemSource>> {
        self.rows(
            "SELECT checkout, path, line, file_status, status_line FROM item_sources WHERE id = ?1 ORDER BY checkout",
            [id],
            |r| {
                Ok(ItemSource {
                    checkout: r.get(0)?,
                    path: r.get(1)?,
                    line: r.get(2)?,
                    file_status: r.get(3)?,
                    status_line: r.get(4)?,
                })
            },
        )
    }

    fn ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT id FROM item_sources WHERE checkout = ?1 AND path = ?2 ORDER BY line",
            params![checkout, path],
            |r| r.get(0),
        )
    }

    /// Two queries, each over a JSON list of its keys, driven by that list (`CROSS JOIN` keeps
    /// it the outer loop: left to the planner, a query scanned all of `item_sources` for each
    /// key, 4 s at 100k items against ~0.1 s for the lookups one at a time).
    fn compare_rows(
        &mut self,
        checkout: &str,
        paths: &[String],
        ids: &[String],
    ) -> Result<CompareRows> {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let mut rows = CompareRows::default();
        if !paths.is_empty() {
            let at: Vec<(String, String)> = self.rows(
                "SELECT s.path, s.id FROM json_each(?2) j
                 CROSS JOIN item_sources s ON s.checkout = ?1 AND s.path = j.value
                 ORDER BY s.path, s.line",
                params![checkout, json(paths)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (path, id) in at {
                rows.ids_at.entry(path).or_default().push(id);
            }
        }
        if !ids.is_empty() {
            let items: Vec<(String, StoredItemState)> = self.rows(
                "SELECT i.id, i.kind, i.status, s.file_status FROM json_each(?2) j
                 CROSS JOIN items i ON i.id = j.value
                 LEFT JOIN item_sources s ON s.checkout = ?1 AND s.id = i.id",
                params![checkout, json(ids)],
                |r| {
                    Ok((
                        r.get(0)?,
                        StoredItemState {
                            kind: r.get(1)?,
                            status: r.get(2)?,
                            file_status: r.get(3)?,
                        },
                    ))
                },
            )?;
            rows.items.extend(items);
        }
        Ok(rows)
    }

    fn append_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<Event> {
        let path = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path)?;
        let seq = insert_event(&tx, e, ctx).ctx(&path)?;
        tx.commit().ctx(&path)?;
        Ok(Event::recorded(seq, e, ctx))
    }

    fn set_pending_writeback(&mut self, checkout: &str, paths: &[String]) -> Result<()> {
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        tx.execute(
            "DELETE FROM pending_writeback WHERE checkout = ?1",
            [checkout],
        )
        .ctx(&loc)?;
        for p in paths {
            tx.execute(
                "INSERT OR IGNORE INTO pending_writeback (checkout, path) VALUES (?1, ?2)",
                params![checkout, p],
            )
            .ctx(&loc)?;
        }
        tx.commit().ctx(&loc)
    }

    fn pending_writeback(&mut self, checkout: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT path FROM pending_writeback WHERE checkout = ?1 ORDER BY path",
            [checkout],
            |r| r.get(0),
        )
    }

    fn repo_add(&mut self, slug: &str, path: &str) -> Result<()> {
        self.db_mut()?
            .execute(
                "INSERT INTO repos (slug, path) VALUES (?1, ?2) ON CONFLICT(slug) DO UPDATE SET path = excluded.path",
                params![slug, path],
            )
            .map(|_| ())
            .ctx(&self.path)
    }

    fn repo_remove(&mut self, slug: &str) -> Result<bool> {
        self.db_mut()?
            .execute("DELETE FROM repos WHERE slug = ?1", [slug])
            .map(|n| n > 0)
            .ctx(&self.path)
    }

    fn repos(&mut self) -> Result<Vec<(String, String)>> {
        self.rows("SELECT slug, path FROM repos ORDER BY slug", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    fn claim(&mut self, req: &ClaimRequest, ctx: &EventContext) -> Result<Claim> {
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        require_item(&tx, &req.id, &loc)?;
        let held = claim_of(&tx, &req.id).ctx(&loc)?;
        let plan = rules::claim_plan(req, held.as_ref(), &ctx.at)?;
        tx.execute(
            "INSERT INTO claims (item, agent, claimed_at, expires_ms, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(item) DO UPDATE SET agent = excluded.agent, claimed_at = excluded.claimed_at,
               expires_ms = excluded.expires_ms, expires_at = excluded.expires_at",
            params![plan.claim.item, plan.claim.agent, plan.claim.claimed_at, plan.claim.expires_ms, plan.claim.expires_at],
        )
        .ctx(&loc)?;
        insert_event(
            &tx,
            &NewEvent::note(&req.id, action::CLAIM, &plan.reason),
            ctx,
        )
        .ctx(&loc)?;
        tx.commit().ctx(&loc)?;
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
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        let held = claim_of(&tx, id).ctx(&loc)?;
        let Some(reason) = rules::release_plan(id, agent, held.as_ref(), now_ms, force)? else {
            return Ok(None);
        };
        tx.execute("DELETE FROM claims WHERE item = ?1", [id])
            .ctx(&loc)?;
        insert_event(&tx, &NewEvent::note(id, action::RELEASE, &reason), ctx).ctx(&loc)?;
        tx.commit().ctx(&loc)?;
        Ok(held)
    }

    fn claims(&mut self, now_ms: i64) -> Result<Vec<Claim>> {
        self.rows(
            "SELECT item, agent, claimed_at, expires_ms, expires_at FROM claims WHERE expires_ms > ?1 ORDER BY item",
            [now_ms],
            row_to_claim,
        )
    }

    fn add_evidence(
        &mut self,
        item: &str,
        spec: &str,
        ctx: &EventContext,
    ) -> Result<StoredEvidence> {
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        require_item(&tx, item, &loc)?;
        tx.execute(
            "INSERT INTO evidence (item, spec, actor, at) VALUES (?1, ?2, ?3, ?4)",
            params![item, spec, ctx.actor, ctx.at],
        )
        .ctx(&loc)?;
        let seq = tx.last_insert_rowid();
        insert_event(&tx, &NewEvent::note(item, action::EVIDENCE, spec), ctx).ctx(&loc)?;
        tx.commit().ctx(&loc)?;
        Ok(StoredEvidence::recorded(seq, item, spec, ctx))
    }

    fn evidence(&mut self, item: Option<&str>) -> Result<Vec<StoredEvidence>> {
        let f = |r: &rusqlite::Row<'_>| {
            Ok(StoredEvidence {
                seq: r.get(0)?,
                item: r.get(1)?,
                spec: r.get(2)?,
                actor: r.get(3)?,
                at: r.get(4)?,
            })
        };
        self.rows_by_item(
            "SELECT seq, item, spec, actor, at FROM evidence",
            "ORDER BY seq",
            item,
            f,
        )
    }

    fn signoff(
        &mut self,
        item: &str,
        kind: &str,
        role: &str,
        note: Option<&str>,
        ctx: &EventContext,
    ) -> Result<Signoff> {
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        require_item(&tx, item, &loc)?;
        tx.execute(
            "INSERT INTO signoffs (item, kind, role, actor, at, correlation_id, note) VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6)",
            params![item, role, ctx.actor, ctx.at, ctx.correlation_id, note, kind],
        )
        .ctx(&loc)?;
        let seq = tx.last_insert_rowid();
        let (act, reason) = rules::signoff_event(kind, role, note);
        insert_event(&tx, &NewEvent::note(item, act, &reason), ctx).ctx(&loc)?;
        tx.commit().ctx(&loc)?;
        Ok(Signoff::recorded(seq, item, kind, role, note, ctx))
    }

    fn signoffs(&mut self, item: Option<&str>) -> Result<Vec<Signoff>> {
        let f = |r: &rusqlite::Row<'_>| {
            Ok(Signoff {
                seq: r.get(0)?,
                item: r.get(1)?,
                role: r.get(2)?,
                actor: r.get(3)?,
                at: r.get(4)?,
                correlation_id: r.get(5)?,
                note: r.get(6)?,
                kind: r.get(7)?,
            })
        };
        self.rows_by_item(
            "SELECT seq, item, role, actor, at, correlation_id, note, kind FROM signoffs",
            "ORDER BY seq",
            item,
            f,
        )
    }

    fn gate_cache(&mut self, item: Option<&str>) -> Result<Vec<GateCacheEntry>> {
        let f = |r: &rusqlite::Row<'_>| {
            Ok(GateCacheEntry {
                item: r.get(0)?,
                gate: r.get(1)?,
                input_key: r.get(2)?,
                result: r.get(3)?,
                evaluated_at: r.get(4)?,
            })
        };
        self.rows_by_item(
            "SELECT item, gate, input_key, result, evaluated_at FROM gate_cache",
            "",
            item,
            f,
        )
    }

    fn put_gate_cache(&mut self, entries: &[GateCacheEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let loc = self.path.clone();
        let tx = self
            .db_mut()?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&loc)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO gate_cache (item, gate, input_key, result, evaluated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(item, gate) DO UPDATE SET input_key = excluded.input_key, result = excluded.result,
                       evaluated_at = excluded.evaluated_at",
                )
                .ctx(&loc)?;
            for e in entries {
                st.execute(params![
                    e.item,
                    e.gate,
                    e.input_key,
                    e.result,
                    e.evaluated_at
                ])
                .ctx(&loc)?;
            }
        }
        tx.commit().ctx(&loc)
    }

    fn item_exists(&mut self, id: &str) -> Result<bool> {
        self.db()?
            .prepare_cached("SELECT 1 FROM items WHERE id = ?1")
            .ctx(&self.path)?
            .query_row([id], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .ctx(&self.path)
    }
}

/// Recompute every checkout's `drifted` flag for `id`, whose effective status is `status`.
fn refresh_drift(tx: &rusqlite::Transaction<'_>, id: &str, status: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE item_sources SET drifted = (file_status IS NOT NULL AND file_status <> ?2) WHERE id = ?1")?
        .execute(params![id, status])
        .map(|_| ())
}

/// `priority_rank` of an item without a priority (sorts last).
const NO_PRIORITY: i64 = 1_000_000;
/// Blocked: open, and either in a status called `blocked` or waiting on a dependency that is not
/// terminal (or not known). Maintained by [`refresh_blocked`].
const BLOCKED: &str = "i.terminal = 0 AND i.blocked = 1";
/// `status`'s counts by kind and status, with the finished items among them (from the table of
/// counts, schema 8: a row per combination that occurs, not per item; the lowest rank is taken
/// over the rows that still count items, as it was over the items; -1 is no rank).
const KIND_STATUS_COUNTS: &str =
    "SELECT kind, status, MIN(CASE WHEN n > 0 AND status_rank >= 0 THEN status_rank END), SUM(n),
       SUM(n * terminal)
     FROM item_counts GROUP BY kind, status HAVING SUM(n) > 0
     ORDER BY kind, MIN(CASE WHEN n > 0 AND status_rank >= 0 THEN status_rank END), status";
/// `status`'s counts of open items by lane (from the table of counts; char(0) is no lane).
const LANE_COUNTS: &str = "SELECT NULLIF(lane, char(0)), SUM(n) FROM item_counts WHERE terminal = 0
     GROUP BY lane HAVING SUM(n) > 0 ORDER BY lane = char(0), lane";
/// The triggers that keep `item_counts` (schema 8) current, created by every transaction that
/// writes items before it does ([`install_count_triggers`]). TEMP: they belong to the
/// connection and are not in the store's schema, which every connection of every command parses
/// when it first reads (three triggers there cost each command about 0.07 ms, readers
/// included). A first load drops them and counts in memory instead ([`BulkCounts`]).
const COUNT_TRIGGERS: &str = "
CREATE TEMP TRIGGER IF NOT EXISTS item_counts_insert AFTER INSERT ON main.items BEGIN
INSERT INTO item_counts VALUES (new.kind, new.status, ifnull(new.status_rank, -1), new.terminal,
 ifnull(new.lane, char(0)), 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TEMP TRIGGER IF NOT EXISTS item_counts_delete AFTER DELETE ON main.items BEGIN
UPDATE item_counts SET n = n - 1 WHERE (kind, status, status_rank, terminal, lane) =
 (old.kind, old.status, ifnull(old.status_rank, -1), old.terminal, ifnull(old.lane, char(0)));
END;
CREATE TEMP TRIGGER IF NOT EXISTS item_counts_update
AFTER UPDATE OF kind, status, status_rank, terminal, lane ON main.items
WHEN (old.kind, old.status, old.status_rank, old.terminal, old.lane)
 IS NOT (new.kind, new.status, new.status_rank, new.terminal, new.lane) BEGIN
UPDATE item_counts SET n = n - 1 WHERE (kind, status, status_rank, terminal, lane) =
 (old.kind, old.status, ifnull(old.status_rank, -1), old.terminal, ifnull(old.lane, char(0)));
INSERT INTO item_counts VALUES (new.kind, new.status, ifnull(new.status_rank, -1), new.terminal,
 ifnull(new.lane, char(0)), 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;";

/// Make `conn`'s writes to items keep the table of counts (see [`COUNT_TRIGGERS`]). Inside a
/// transaction, the triggers go if it rolls back, with the writes they would have counted.
fn install_count_triggers(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(COUNT_TRIGGERS)
}

/// Ready: open, with a known status, and not blocked.
const READY: &str = "i.terminal = 0 AND i.blocked = 0 AND i.status_rank IS NOT NULL";

/// Recompute `blocked` for the items in `ids` (a JSON array) and the items that depend on them;
/// for every item when `ids` is `None`.
fn refresh_blocked(tx: &rusqlite::Transaction<'_>, ids: Option<&str>) -> rusqlite::Result<()> {
    const VALUE: &str = "CASE WHEN items.terminal = 0 AND (items.status = 'blocked' OR EXISTS (
        SELECT 1 FROM deps d LEFT JOIN items j ON j.id = d.dep
        WHERE d.item = items.id AND (j.id IS NULL OR j.terminal = 0))) THEN 1 ELSE 0 END";
    match ids {
        // Everything: the set of waiting items is computed once, not per row, and only the rows
        // whose flag changes are written.
        None => tx
            .execute(
                "UPDATE items SET blocked = 1 - blocked WHERE blocked <> (terminal = 0 AND (status = 'blocked' OR id IN (
                    SELECT d.item FROM deps d LEFT JOIN items j ON j.id = d.dep
                    WHERE j.id IS NULL OR j.terminal = 0)))",
                [],
            )
            .map(|_| ()),
        Some(json) => tx
            .execute(
                &format!(
                    "UPDATE items SET blocked = {VALUE} WHERE id IN (SELECT value FROM json_each(?1))
                       OR id IN (SELECT item FROM deps WHERE dep IN (SELECT value FROM json_each(?1)))"
                ),
                [json],
            )
            .map(|_| ()),
    }
}

impl Drop for SqliteStore {
    /// A new store that no write published yet is published now, its schema finished first
    /// (when creating the schema failed, the staged file is removed instead).
    fn drop(&mut self) {
        if let Some(staged) = self.staged.clone() {
            if self.publish().is_err() {
                let _ = std::fs::remove_file(staged);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Everything that defines a schema, in a form that does not depend on how it was built:
    /// each table's columns (name, type, not null, default, key), whether it has a rowid or
    /// AUTOINCREMENT, each index's columns, uniqueness and condition, each trigger's text.
    fn shape(c: &Connection) -> Vec<String> {
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let objects: Vec<(String, String, String, Option<String>)> = c
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut out = Vec::new();
        for (ty, name, table, sql) in objects {
            let sql = sql.unwrap_or_default();
            match ty.as_str() {
                "table" => {
                    let cols: Vec<String> = c
                        .prepare(&format!("SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}')"))
                        .unwrap()
                        .query_map([], |r| {
                            Ok(format!(
                                "{}:{}:{}:{}:{:?}:{}",
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, i64>(3)?,
                                r.get::<_, Option<String>>(4)?,
                                r.get::<_, i64>(5)?
                            ))
                        })
                        .unwrap()
                        .collect::<rusqlite::Result<_>>()
                        .unwrap();
                    out.push(format!(
                        "table {name} rowid={} autoincrement={} {cols:?}",
                        !sql.contains("WITHOUT ROWID"),
                        sql.contains("AUTOINCREMENT")
                    ));
                }
                "index" => {
                    let cols: Vec<String> = c
                        .prepare(&format!("SELECT name FROM pragma_index_info('{name}')"))
                        .unwrap()
                        .query_map([], |r| r.get::<_, Option<String>>(0))
                        .unwrap()
                        .map(|n| n.unwrap().unwrap_or_default())
                        .collect();
                    out.push(format!("index {name} on {table} {cols:?} {}", squash(&sql)));
                }
                _ => out.push(format!("{ty} {name} on {table} {}", squash(&sql))),
            }
        }
        out
    }

    #[test]
    fn the_baseline_builds_what_the_migrations_build() {
        let replayed = Connection::open_in_memory().unwrap();
        for (n, sql) in MIGRATIONS {
            if *n <= BASELINE.0 {
                replayed.execute_batch(sql).unwrap();
            }
        }
        let baseline = Connection::open_in_memory().unwrap();
        baseline.execute_batch(BASELINE.1).unwrap();
        let (a, b) = (shape(&replayed), shape(&baseline));
        assert!(a.len() > 20, "{a:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y);
        }
        assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
        // And a new store (written from the image), once published, is at the latest version,
        // with what migrations after the baseline add.
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.publish().unwrap();
        assert_eq!(s.schema_version().unwrap(), LATEST_SCHEMA);
        if LATEST_SCHEMA == BASELINE.0 {
            let new = shape(s.db().unwrap());
            assert_eq!(new, b);
        }
        let page_size: i64 = s
            .db()
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 16384);
    }

    /// The image new stores are written from is what the baseline script builds, byte for byte
    /// (but for the SQLite version that wrote it, bytes 96 to 99 of the header). When the script
    /// changes, `EVIDENT_BLESS=1 cargo test -p evident-store the_new_store_image` writes the
    /// image again.
    #[test]
    fn the_new_store_image_is_the_baseline_script() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("built.db");
        build_baseline_file(&built).unwrap();
        let want = std::fs::read(&built).unwrap();
        let kept = crate::image::decode(BASELINE_IMAGE);
        let same = |kept: &[u8]| {
            let mut kept = kept.to_vec();
            if kept.len() >= 100 && want.len() >= 100 {
                kept[96..100].copy_from_slice(&want[96..100]);
            }
            kept == want
        };
        if !matches!(kept.as_deref().map(same), Ok(true)) {
            if std::env::var_os("EVIDENT_BLESS").is_some() {
                let path = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/migrations/sqlite/baseline.img"
                );
                std::fs::write(path, crate::image::encode(&want)).unwrap();
                return;
            }
            panic!(
                "migrations/sqlite/baseline.img is not what baseline.sql builds: run \
                 `EVIDENT_BLESS=1 cargo test -p evident-store the_new_store_image` to write it again"
            );
        }
        // The image lacks exactly the load indexes; a store opened new and published without
        // a load has the whole baseline.
        let full = Connection::open_in_memory().unwrap();
        full.execute_batch(BASELINE.1).unwrap();
        let index_names = |c: &Connection| -> Vec<String> {
            c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let mut missing = index_names(&full);
        let in_image = index_names(&Connection::open(&built).unwrap());
        missing.retain(|n| !in_image.contains(n));
        let mut load = LOAD_INDEXES.map(String::from).to_vec();
        load.sort();
        assert_eq!(missing, load);
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path).unwrap());
        let published = Connection::open(&path).unwrap();
        assert_eq!(shape(&published), shape(&full));
    }

    /// A new store's first load builds the load indexes its image left out, once each: the
    /// published store has the whole baseline schema, and its queries use them.
    #[test]
    fn a_first_load_builds_the_indexes_the_new_stores_image_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evident.db");
        let mut s = SqliteStore::open(&path).unwrap();
        let changes: Vec<FileChange> = ["T-1", "T-2"]
            .iter()
            .map(|id| FileChange::Update(crate::testing::one_item_update(test_item(id), None)))
            .collect();
        let batch = crate::testing::batch_of("/repo", &changes);
        let ctx = EventContext {
            actor: "t".into(),
            machine: "m".into(),
            source: "file".into(),
            correlation_id: "c".into(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        let report = s
            .apply_index(&batch, &mut changes.into_iter(), &ctx)
            .unwrap();
        assert_eq!(report.created, 2);
        assert!(s.staged.is_none(), "the first index published the store");
        drop(s);
        let published = Connection::open(&path).unwrap();
        let full = Connection::open_in_memory().unwrap();
        full.execute_batch(BASELINE.1).unwrap();
        assert_eq!(shape(&published), shape(&full));
        let n = crate::testing::sqlite_count(
            &published,
            "SELECT COUNT(*) FROM items INDEXED BY items_open WHERE terminal = 0",
        )
        .unwrap();
        assert_eq!(n, 2);
    }

    /// Each load index is found in the baseline script, whole: its statement, run alone,
    /// builds the index the script builds.
    #[test]
    fn the_load_indexes_are_the_baseline_scripts() {
        let full = Connection::open_in_memory().unwrap();
        full.execute_batch(BASELINE.1).unwrap();
        let built = load_indexes();
        assert_eq!(built.len(), LOAD_INDEXES.len());
        for (name, sql) in built {
            let want: String = full
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(sql, want);
        }
    }

    /// Every parameter an item row repeats from the row before is left bound; each row still
    /// reads back exactly as written, through every change of a value to another, to none and
    /// back (a parameter that stays bound must never carry the row before's value wrongly).
    #[test]
    fn repeated_values_left_bound_still_write_each_row_as_given() {
        let (_dir, mut s) = published_store();
        let path = s.path.clone();
        let tx = s.conn_mut().unwrap().transaction().unwrap();
        type Row = (
            String,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            Option<i64>,
        );
        let mut want: Vec<Row> = Vec::new();
        {
            let mut w = index_tx(&tx, &path);
            let lanes = [
                Some("a"),
                Some("a"),
                None,
                Some("b"),
                None,
                None,
                Some("a"),
                Some("ab"),
            ];
            let statuses = [
                ("todo", Some(0)),
                ("todo", Some(0)),
                ("odd", None),
                ("done", Some(2)),
            ];
            for n in 0..24usize {
                let id = format!("T-{n:02}");
                let lane = lanes[n % lanes.len()];
                let (status, rank) = statuses[n % statuses.len()];
                let parent = (n % 3 != 0).then(|| format!("P-{}", n / 6));
                let doc = format!("plan-{}.md", n / 5);
                let mut it = test_item(&id);
                it.kind = if n % 7 == 0 { "bug" } else { "task" }.into();
                it.status = status.into();
                it.parent = parent.clone();
                it.lane = lane.map(str::to_string);
                it.owner = (n % 2 == 0).then(|| "ann".to_string());
                it.path = doc.clone();
                it.line = n as u32;
                it.field_lines.parent = parent.as_ref().map(|_| n as u32);
                let it = indexed(it);
                w.upsert_item(&ItemWrite {
                    it: &it,
                    status,
                    rank,
                    terminal: status == "done",
                    checkout: if n % 11 == 0 { "/b" } else { "/a" },
                    path: &doc,
                    at: "t",
                    blocked: false,
                })
                .unwrap();
                want.push((
                    id,
                    status.to_string(),
                    rank,
                    lane.map(str::to_string),
                    parent,
                    it.item.owner.clone(),
                    doc,
                    it.item.field_lines.parent.map(i64::from),
                ));
            }
        }
        let got: Vec<Row> = tx
            .prepare(
                "SELECT id, status, status_rank, lane, parent, owner, path, parent_line
                 FROM items ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(got, want);
    }

    /// A bulk load's in-memory counts keep one row per combination, however many there are.
    #[test]
    fn bulk_counts_count_each_combination_once() {
        let mut c = BulkCounts::default();
        let lanes: Vec<String> = (0..37).map(|i| format!("lane-{i}")).collect();
        for i in 0..3000usize {
            let lane = (i % 38 < 37).then(|| lanes[i % 38].as_str());
            let (status, rank) = [("todo", Some(0)), ("done", Some(2)), ("odd", None)][i % 3];
            c.add("story", status, rank, status == "done", lane);
        }
        assert_eq!(c.written, 3000);
        // 38 lane values (one is none) × 3 statuses, each combination met as often as i % 114
        // says: every residue of 114 occurs 3000 / 114 times, rounded up for the first 3000 % 114.
        assert_eq!(c.rows.len(), 114);
        let total: i64 = c.rows.iter().map(|r| r.n).sum();
        assert_eq!(total, 3000);
        assert!(
            c.rows.iter().all(|r| r.n == 26 || r.n == 27),
            "uneven counts"
        );
    }

    /// The count triggers keep `item_counts` equal to what the items say through inserts,
    /// changes (of counted columns and of others), removals and rollbacks.
    #[test]
    fn the_count_triggers_keep_the_counts_of_the_items() {
        let (_dir, mut s) = published_store();
        let c = s.conn_mut().unwrap();
        let both = |c: &Connection| crate::testing::sqlite_item_counts(c).unwrap();
        let insert =
            |c: &Connection, id: &str, status: &str, rank: Option<i64>, lane: Option<&str>| {
                c.execute(
                "INSERT INTO items (id, kind, title, status, status_rank, terminal, priority_rank,
                   labels, depends_on, checkout, path, line, fields, sections, content_hash,
                   updated_at, lane)
                 VALUES (?1, 'story', 't', ?2, ?3, ?2 = 'done', 1000000, '[]', '[]', '/r', 'a.md',
                   1, '{}', '[]', 'h', 't', ?4)",
                params![id, status, rank, lane],
            )
            .unwrap();
            };
        install_count_triggers(c).unwrap();
        insert(c, "S-1", "todo", Some(0), Some("core"));
        insert(c, "S-2", "todo", Some(0), None);
        insert(c, "S-3", "done", Some(2), Some("core"));
        insert(c, "S-4", "odd", None, None);
        insert(c, "S-5", "todo", Some(0), Some("core"));
        let (items, counts) = both(c);
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(items, counts);
        // Created again, the triggers are not doubled.
        install_count_triggers(c).unwrap();
        for sql in [
            "UPDATE items SET status = 'done', status_rank = 2, terminal = 1 WHERE id = 'S-1'",
            "UPDATE items SET lane = 'ops' WHERE id = 'S-2'",
            "UPDATE items SET lane = NULL WHERE id = 'S-2'",
            "UPDATE items SET title = 'x', status = status WHERE id = 'S-5'",
            "UPDATE items SET status_rank = 0, status = 'todo' WHERE id = 'S-4'",
            "UPDATE items SET status_rank = NULL, status = 'odd' WHERE id = 'S-4'",
            "DELETE FROM items WHERE id = 'S-3'",
        ] {
            c.execute(sql, []).unwrap();
            let (items, counts) = both(c);
            assert_eq!(items, counts, "after {sql}");
        }
        // A transaction that rolls back takes its counting with it.
        {
            let tx = c.transaction().unwrap();
            tx.execute("DELETE FROM items WHERE id = 'S-2'", [])
                .unwrap();
            tx.rollback().unwrap();
        }
        let (items, counts) = both(c);
        assert_eq!(items, counts);
        c.execute("DELETE FROM items", []).unwrap();
        assert_eq!(both(c), (vec![], vec![]));
    }

    /// A bulk load counts its items in memory (count triggers its connection had are dropped,
    /// and none are created during it, so nothing counts twice) and writes the counts at its
    /// end; when an id was written twice or an item removed, the counts come from the rows
    /// instead. Either way they are the items' own.
    #[test]
    fn a_bulk_load_writes_the_counts_of_what_it_loaded() {
        let item = |id: &str, lane: Option<&str>| {
            let mut it = test_item(id);
            it.lane = lane.map(str::to_string);
            indexed(it)
        };
        for (twice, removed) in [(false, false), (true, false), (false, true)] {
            let (_dir, mut s) = published_store();
            let path = s.path.clone();
            let tx = s.conn_mut().unwrap().transaction().unwrap();
            {
                let mut w = index_tx(&tx, &path);
                install_count_triggers(&tx).unwrap();
                w.bulk_load(true).unwrap();
                let mut writes = vec![
                    (item("A", Some("x")), "todo", Some(0), false),
                    (item("B", Some("x")), "todo", Some(0), false),
                    (item("C", None), "done", Some(2), true),
                    (item("D", None), "odd", None, false),
                ];
                if twice {
                    writes.push((item("A", Some("x")), "done", Some(2), true));
                }
                for (it, status, rank, terminal) in &writes {
                    w.upsert_item(&ItemWrite {
                        it,
                        status,
                        rank: *rank,
                        terminal: *terminal,
                        checkout: "/r",
                        path: &it.item.path,
                        at: "t",
                        blocked: false,
                    })
                    .unwrap();
                }
                if removed {
                    // B leaves (x, todo) with A alone; D's combination goes.
                    w.remove_item("B").unwrap();
                    w.remove_item("D").unwrap();
                }
                w.bulk_load(false).unwrap();
            }
            let (from_items, kept) = crate::testing::sqlite_item_counts(&tx).unwrap();
            let combinations = match (twice, removed) {
                (true, _) => 4,
                (_, true) => 2,
                _ => 3,
            };
            assert_eq!(from_items.len(), combinations, "{from_items:?}");
            assert_eq!(
                kept, from_items,
                "written twice: {twice}, removed: {removed}"
            );
            // No trigger of the load's connection counted as well.
            let triggers = crate::testing::sqlite_count(
                &tx,
                "SELECT COUNT(*) FROM sqlite_temp_master WHERE type = 'trigger'",
            )
            .unwrap();
            assert_eq!(triggers, 0);
        }
    }

    /// A new, published (empty) store in a temporary folder (kept while the folder is).
    fn published_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("evident.db")).unwrap();
        s.publish().unwrap();
        (dir, s)
    }

    /// A store is left open at the end of the process only when closing it would do nothing
    /// (see `end_of_process`): with frames in its WAL it is closed, which checkpoints them and
    /// cuts the WAL, so no frame outlives the process that wrote it.
    #[test]
    fn a_store_with_frames_in_its_wal_is_closed_at_the_end_of_the_process() {
        let (dir, mut s) = published_store();
        let db = dir.path().join("evident.db");
        let wal = dir.path().join("evident.db-wal");
        s.conn_mut()
            .unwrap()
            .execute("INSERT INTO repos (slug, path) VALUES ('a', '/a')", [])
            .unwrap();
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "the row is in the WAL"
        );
        Box::new(s).end_of_process();
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "closed: checkpointed"
        );
        // A store that was only read is left open; another connection still writes to it.
        let mut s = SqliteStore::open(&db).unwrap();
        assert!(s.file_states("/a").unwrap().is_empty());
        Box::new(s).end_of_process();
        let mut s = SqliteStore::open(&db).unwrap();
        s.conn_mut()
            .unwrap()
            .execute("INSERT INTO repos (slug, path) VALUES ('b', '/b')", [])
            .unwrap();
        let n =
            crate::testing::sqlite_count(s.db().unwrap(), "SELECT COUNT(*) FROM repos").unwrap();
        assert_eq!(n, 2);
    }

    /// An index writer over `tx`, outside any bulk load.
    fn index_tx<'a, 'c>(tx: &'a rusqlite::Transaction<'c>, loc: &'a Path) -> SqliteIndexTx<'a, 'c> {
        SqliteIndexTx {
            tx,
            loc,
            deferred: Vec::new(),
            load_indexes_absent: false,
            split: false,
            hot: Default::default(),
            graph: None,
            sticky: Default::default(),
            counts: None,
            counting: false,
            staged: None,
            flusher: None,
            start_writes_only: false,
        }
    }

    /// A task in status `todo`, alone in its document `ID.md`.
    fn test_item(id: &str) -> evident_core::Item {
        crate::testing::todo_task(id, &format!("{id}.md"))
    }

    fn indexed(it: evident_core::Item) -> IndexedItem {
        IndexedItem {
            encoded: EncodedItem::of(&it),
            item: it,
            status: None,
            priority_rank: None,
        }
    }

    /// Repeated values are bound once per statement and again only when they change: rows
    /// written for alternating checkouts each keep their own.
    #[test]
    fn sticky_parameters_are_bound_again_when_they_change() {
        let (_dir, mut s) = published_store();
        let path = s.path.clone();
        let tx = s.conn_mut().unwrap().transaction().unwrap();
        {
            let mut w = index_tx(&tx, &path);
            let st = FileState {
                size: 1,
                mtime_ns: 2,
                hash: [3; 16],
                broken: false,
                recheck: false,
            };
            for (checkout, p) in [
                ("/a", "1.md"),
                ("/a", "2.md"),
                ("/b", "3.md"),
                ("/a", "4.md"),
            ] {
                w.upsert_file(checkout, p, &st, false, false).unwrap();
            }
        }
        let rows: Vec<(String, String)> = tx
            .prepare("SELECT checkout, path FROM files ORDER BY path")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let want: Vec<(String, String)> = [
            ("/a", "1.md"),
            ("/a", "2.md"),
            ("/b", "3.md"),
            ("/a", "4.md"),
        ]
        .iter()
        .map(|(c, p)| (c.to_string(), p.to_string()))
        .collect();
        assert_eq!(rows, want);
    }

    fn plan(s: &SqliteStore, sql: &str) -> Vec<String> {
        s.db()
            .unwrap()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// `status` counts ready and blocked work on every call: both must be answered from
    /// `items_open` alone, never by visiting each open row of the table.
    #[test]
    fn ready_and_blocked_are_counted_from_the_index_alone() {
        let (_dir, s) = published_store();
        for filter in [READY, BLOCKED] {
            let p = plan(&s, &format!("SELECT COUNT(*) FROM items i WHERE {filter}"));
            assert!(
                p.iter().any(|l| l.contains("COVERING INDEX items_open")),
                "{filter}: {p:?}"
            );
        }
        // The ready list walks the same index in priority order: no sort.
        let p = plan(
            &s,
            &format!("SELECT {ITEM_COLUMNS} FROM items i WHERE {READY} ORDER BY priority_rank, id LIMIT 10"),
        );
        assert!(p.iter().any(|l| l.contains("items_open")), "{p:?}");
        assert!(!p.iter().any(|l| l.contains("TEMP B-TREE")), "{p:?}");
    }

    /// Publishing links the staged file in only where no store is; where the file system
    /// refuses a hard link, it renames instead (a folder cannot be hard-linked, which stands in
    /// for such a file system here).
    #[test]
    fn a_staged_store_is_linked_in_once_or_renamed_where_links_fail() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, target) = (dir.path().join("new"), dir.path().join("evident.db"));
        std::fs::write(&staged, "first").unwrap();
        assert!(link_if_absent(&staged, &target).unwrap());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "first");
        std::fs::write(dir.path().join("other"), "second").unwrap();
        assert!(!link_if_absent(&dir.path().join("other"), &target).unwrap());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "first");

        let (folder, moved) = (dir.path().join("staged-folder"), dir.path().join("moved"));
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("page"), "x").unwrap();
        assert!(std::fs::hard_link(&folder, &moved).is_err());
        assert!(link_if_absent(&folder, &moved).unwrap());
        assert!(!folder.exists());
        assert_eq!(std::fs::read_to_string(moved.join("page")).unwrap(), "x");
    }

    /// A new store whose deferred index build fails is never published: every later use of it
    /// reports the failure, and dropping it removes the staged file, leaving no store behind.
    #[test]
    fn a_failed_index_build_leaves_no_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evident.db");
        let mut s = SqliteStore::open(&path).unwrap();
        let staged = s.staged.clone().expect("a new store is staged");
        s.db().unwrap();
        let bad = [(
            "broken".to_string(),
            "CREATE INDEX broken ON no_such_table (x)".to_string(),
        )];
        let err = s.build_deferred(&bad, None).unwrap_err().to_string();
        assert!(err.contains("no_such_table"), "{err}");
        let again = s.schema_version().unwrap_err().to_string();
        assert!(again.contains("no_such_table"), "{again}");
        drop(s);
        assert!(!staged.exists(), "the staged file is removed");
        assert!(!path.exists(), "nothing is published");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The partial indexes of schema 7 serve the queries they were cut for: a partial index
    /// is only used where the query's own conditions imply the index's, so a reworded query
    /// could silently fall back to reading the whole table.
    #[test]
    fn the_board_queries_read_the_lean_indexes() {
        let (_dir, s) = published_store();
        let ids_at = index_flow::ITEM_IDS_AT
            .replace("$1", "'/repo'")
            .replace("$2", "'a.md'");
        for (sql, index) in [
            // Schema 8: the counts read the table of counts, never a row per item.
            (KIND_STATUS_COUNTS, "item_counts"),
            (LANE_COUNTS, "item_counts"),
            (
                "SELECT EXISTS (SELECT 1 FROM items WHERE parent = 'EP-1')",
                "INDEX items_parent",
            ),
            (
                "SELECT id FROM items WHERE 1 AND parent = 'EP-1' ORDER BY id ASC",
                "INDEX items_parent",
            ),
            (
                "SELECT checkout, path, line, file_status FROM item_sources WHERE id = 'EP-1' ORDER BY checkout",
                "PRIMARY KEY (id=?)",
            ),
            (&ids_at, "INDEX item_sources_path"),
        ] {
            let p = plan(&s, sql);
            assert!(p.iter().any(|l| l.contains(index)), "{sql}: {p:?}");
        }
    }
}
