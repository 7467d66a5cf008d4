//! The storage contract. The store is an index that can always be rebuilt from the files, plus
//! the live state files cannot hold (effective statuses, the append-only journal, id counters).
//! Every backend implements [`Store`] with the guarantees written on it, and the same
//! conformance tests run against each.

mod image;
mod index_flow;
mod model;
mod pg;
mod rules;
mod sqlite;
pub mod testing;
mod unflushed;

pub use model::*;
pub use pg::{redact_url, PgStore, PgTarget};
pub use sqlite::{flush_new_stores_before_publishing, on_new_store, SqliteStore};
pub use unflushed::stores_set_aside;

/// The newest schema this binary understands (the same number for every backend: schema N
/// means the same tables and meaning everywhere).
pub const LATEST_SCHEMA: u32 = 9;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {location}: {message}")]
    Backend { location: String, message: String },
    /// The store file is not a SQLite database, or SQLite found it corrupt.
    #[error("store {location} is damaged or is not an Evident store: {message}")]
    Damaged { location: String, message: String },
    #[error("store {location} has schema version {found}, but this evident understands up to {supported}; upgrade evident (or point --store at another store)")]
    TooNew {
        location: String,
        found: u32,
        supported: u32,
    },
    #[error("item {0} is not in the store")]
    NotFound(String),
    #[error("{id} is claimed by {agent} until {until}")]
    Claimed {
        id: String,
        agent: String,
        until: String,
    },
    #[error("{id}: {from} → {to} would lower the status rank; only a reopen may do that")]
    Regression {
        id: String,
        from: String,
        to: String,
    },
    #[error("store {location} has schema version {found}, but this evident needs {needed}")]
    Behind {
        location: String,
        found: u32,
        needed: u32,
    },
    /// A first index built a new store, but another process put a store at the same path
    /// first: the pass wrote nothing that counts, and the store is now the other one; index
    /// again (the engine does).
    #[error("store {location} was created by another process during this first index; run the command again")]
    Superseded { location: String },
    #[error("item {id} changed concurrently (expected status `{expected}`, found `{found}`); run the command again")]
    Conflict {
        id: String,
        expected: String,
        found: String,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a checkout last saw of each document, by repository-relative path.
pub type FileStates = rustc_hash::FxHashMap<String, FileState>;

/// The storage contract.
///
/// Guarantees every backend gives:
/// - each method is atomic: it runs in one transaction and either all of its writes land or
///   none do;
/// - [`Store::apply_index`] merges file statuses under the truth model inside its transaction
///   ([`evident_core::truth::merge_file_status`]): no effective status rank is ever lowered by
///   indexing;
/// - write transactions are serialized per store (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a
///   transaction-level advisory lock on the store's schema), so every read-modify-write inside
///   one method sees the state it changes; readers never wait for writers;
/// - [`Store::transition`] is a compare-and-swap on the item's current status, checked inside the
///   write transaction: the caller validated the transition against `req.from` under the
///   workflow, and the store applies it only if the status is still `req.from`, so racing
///   machines can neither skip a guard nor apply a transition validated against a stale status;
///   a plain `transition` that would lower the rank is refused in the store as well
///   ([`StoreError::Regression`]); only `reopen` and `override` lower a rank;
/// - [`Store::claim`] is a compare-and-swap on the item's lease: at most one agent holds an
///   unexpired claim on an item at any time;
/// - events are append-only and are written in the same transaction as the change they record;
/// - [`Store::allocate_sequence`] never returns the same number twice for a prefix, across
///   processes sharing the store.
pub trait Store: Send {
    /// A short name of the backend (`sqlite`).
    fn backend(&self) -> &'static str;
    /// Where the store is, for messages (passwords redacted).
    fn location(&self) -> String;
    fn schema_version(&mut self) -> Result<u32>;
    /// Whether this process created the store and nothing has been indexed into it yet: a
    /// first index then reads every document, so its walk need not stat them first. A hint
    /// only; `false` is always safe.
    fn is_new(&self) -> bool {
        false
    }
    /// The process is about to exit with the command that used this store: release what
    /// must be released (publish a staged store, close a session a server would otherwise see
    /// broken off); a backend may leave to the OS what the process's exit releases anyway
    /// (memory, file locks). The default closes the store as dropping it does.
    fn end_of_process(self: Box<Self>) {}
    /// What `checkout` last indexed, by path.
    fn file_states(&mut self, checkout: &str) -> Result<FileStates>;
    /// What `checkout` last indexed of the files at `paths` (a path it never indexed is
    /// absent): for commands that re-read a few documents (`new`, `move`), which would
    /// otherwise read every file state of the checkout (52,400 rows in a repository of 100k
    /// items) to look up one or two.
    fn file_states_of(&mut self, checkout: &str, paths: &[String]) -> Result<FileStates> {
        let mut all = self.file_states(checkout)?;
        all.retain(|p, _| paths.contains(p));
        Ok(all)
    }
    /// The parse fingerprint `checkout`'s last index pass recorded ([`IndexBatch::parse_fingerprint`]),
    /// if any.
    fn parse_fingerprint(&mut self, checkout: &str) -> Result<Option<String>>;
    /// Apply one index pass atomically: `changes` streams the re-read documents in path order.
    fn apply_index(
        &mut self,
        batch: &IndexBatch,
        changes: &mut dyn Iterator<Item = FileChange>,
        ctx: &EventContext,
    ) -> Result<IndexReport>;
    /// Move one item's status (compare-and-swap on `req.from`), journaled.
    fn transition(&mut self, req: &TransitionRequest, ctx: &EventContext) -> Result<Event>;
    fn get_item(&mut self, id: &str) -> Result<Option<ItemRow>>;
    /// An item's kind and effective status, without its content.
    fn kind_status(&mut self, id: &str) -> Result<Option<(String, String)>>;
    fn list_items(&mut self, filter: &ItemFilter) -> Result<Vec<ItemRow>>;
    /// Open items whose dependencies are all terminal and that are not blocked, by priority;
    /// with `unclaimed_at` (now, in ms since the epoch), only those without an unexpired claim.
    fn ready_items(
        &mut self,
        limit: Option<usize>,
        unclaimed_at: Option<i64>,
    ) -> Result<Vec<ItemRow>>;
    /// Open items that are blocked (status `blocked`, or waiting on a dependency), by priority.
    fn blocked_items(&mut self, limit: Option<usize>) -> Result<Vec<ItemRow>>;
    /// Items that depend on `id`.
    fn dependents(&mut self, id: &str) -> Result<Vec<ItemRow>>;
    /// Events, newest first; for one item when `item` is given.
    fn events(&mut self, item: Option<&str>, limit: Option<usize>) -> Result<Vec<Event>>;
    fn diagnostics(&mut self) -> Result<Vec<evident_core::Diagnostic>>;
    /// Diagnostics about one item.
    fn item_diagnostics(&mut self, id: &str) -> Result<Vec<evident_core::Diagnostic>>;
    /// How many diagnostics of severity warning or error exist (exit code 2 when non-zero).
    fn attention_count(&mut self) -> Result<u64>;
    /// Ids that start with `prefix` followed by `-` (for sequential id allocation).
    fn ids_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>>;
    fn summary(&mut self, recent: usize) -> Result<Summary>;
    /// Next number for `prefix`, at least `floor`.
    fn allocate_sequence(&mut self, prefix: &str, floor: u64) -> Result<u64>;
    /// Items whose document in `checkout` does not say their effective status, by path.
    fn drift(&mut self, checkout: &str) -> Result<Vec<Drift>>;
    /// What `checkout`'s document last said about `id`.
    fn source(&mut self, checkout: &str, id: &str) -> Result<Option<SourceRow>>;
    /// Every checkout's document declaring `id`.
    fn sources(&mut self, id: &str) -> Result<Vec<ItemSource>>;
    /// [`Store::ids_at`] for each of `paths`, and [`Store::kind_status`] with
    /// [`Store::source`]'s file status for each of `ids`, in a fixed number of queries however
    /// many there are (`check` compares re-read documents a chunk at a time: three queries per
    /// document were a sixth of `check` at 100k items with 1% of them edited).
    /// Both backends answer in two statements (SQLite over JSON lists, PostgreSQL over arrays);
    /// the conformance suite checks the answer against the single lookups.
    fn compare_rows(
        &mut self,
        checkout: &str,
        paths: &[String],
        ids: &[String],
    ) -> Result<CompareRows>;
    /// Ids `checkout`'s document at `path` declared when last read.
    fn ids_at(&mut self, checkout: &str, path: &str) -> Result<Vec<String>>;
    /// Append one event to the journal (e.g. a `fix` writeback).
    fn append_event(&mut self, e: &NewEvent<'_>, ctx: &EventContext) -> Result<Event>;
    /// Replace the set of documents `checkout` is writing back into (empty: done).
    fn set_pending_writeback(&mut self, checkout: &str, paths: &[String]) -> Result<()>;
    /// Documents an interrupted writeback of `checkout` left uncommitted.
    fn pending_writeback(&mut self, checkout: &str) -> Result<Vec<String>>;
    /// Register (or re-point) a repository under `slug`.
    fn repo_add(&mut self, slug: &str, path: &str) -> Result<()>;
    /// Forget a repository; false when it was not registered.
    fn repo_remove(&mut self, slug: &str) -> Result<bool>;
    /// Registered repositories, by slug.
    fn repos(&mut self) -> Result<Vec<(String, String)>>;
    /// Whether an id is taken.
    fn item_exists(&mut self, id: &str) -> Result<bool>;
    /// Take or renew a lease on an item (journaled as `claim`). Fails with
    /// [`StoreError::Claimed`] while another agent's lease runs, and with
    /// [`StoreError::NotFound`] for an unknown item. An expired lease is taken over.
    fn claim(&mut self, req: &ClaimRequest, ctx: &EventContext) -> Result<Claim>;
    /// Give a lease back (journaled as `release`). Only its holder may release it unless
    /// `force`; an expired lease may be released by anyone. `Ok(None)` when nothing was held.
    fn release(
        &mut self,
        id: &str,
        agent: &str,
        now_ms: i64,
        force: bool,
        ctx: &EventContext,
    ) -> Result<Option<Claim>>;
    /// Leases still running at `now_ms`, by item.
    fn claims(&mut self, now_ms: i64) -> Result<Vec<Claim>>;
    /// Record evidence for an item (journaled as `evidence`); `spec` is its JSON.
    fn add_evidence(
        &mut self,
        item: &str,
        spec: &str,
        ctx: &EventContext,
    ) -> Result<StoredEvidence>;
    /// Recorded evidence, for one item or (`None`) every item, in order.
    fn evidence(&mut self, item: Option<&str>) -> Result<Vec<StoredEvidence>>;
    /// Record an immutable sign-off record: `kind` is `signoff` (journaled as `signoff`), or
    /// `review` with the gaps as `note` (journaled as `review`).
    fn signoff(
        &mut self,
        item: &str,
        kind: &str,
        role: &str,
        note: Option<&str>,
        ctx: &EventContext,
    ) -> Result<Signoff>;
    /// Sign-offs, for one item or (`None`) every item, in order.
    fn signoffs(&mut self, item: Option<&str>) -> Result<Vec<Signoff>>;
    /// Cached gate results, for one item or (`None`) every item.
    fn gate_cache(&mut self, item: Option<&str>) -> Result<Vec<GateCacheEntry>>;
    /// Store gate results (replacing each item's entry for that gate), in one transaction.
    fn put_gate_cache(&mut self, entries: &[GateCacheEntry]) -> Result<()>;
}
