//! Data crossing the storage contract.

use evident_core::item::{Item, Section};
use evident_core::{Diagnostic, StatusDef};
use serde::Serialize;

/// What a checkout last saw of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub size: u64,
    pub mtime_ns: i64,
    /// The digest of the bytes (`evident_codec::digest`; zeros when the file was not read).
    pub hash: [u8; 16],
    pub broken: bool,
    /// Re-parse on the next index even if unchanged (it lost a duplicate-id race).
    pub recheck: bool,
}

/// An item as parsed, with its status resolved against its workflow.
#[derive(Debug, Clone)]
pub struct IndexedItem {
    /// The parsed item. Its `fields` and `sections` may have been moved into `encoded`
    /// ([`EncodedItem::take`]); the store reads only the encoded form.
    pub item: Item,
    /// `None` when the status is not in the workflow (EV113).
    pub status: Option<std::sync::Arc<StatusDef>>,
    pub priority_rank: Option<i64>,
    /// The item's list and map fields as stored, encoded where parsing runs in parallel rather
    /// than in the store's single writer.
    pub encoded: EncodedItem,
}

/// JSON encodings of an item's composite fields.
#[derive(Debug, Clone, Default)]
pub struct EncodedItem {
    pub labels: String,
    pub depends_on: String,
    pub fields: String,
    pub sections: String,
}

impl EncodedItem {
    pub fn of(item: &Item) -> EncodedItem {
        let enc =
            |r: serde_json::Result<String>, empty: &str| r.unwrap_or_else(|_| empty.to_string());
        EncodedItem {
            labels: enc(serde_json::to_string(&item.labels), "[]"),
            depends_on: enc(serde_json::to_string(&item.depends_on), "[]"),
            fields: enc(serde_json::to_string(&item.fields), "{}"),
            sections: enc(serde_json::to_string(&item.sections), "[]"),
        }
    }

    /// Encode, then release the item's fields and sections: they are the bulk of its memory, and
    /// dropping them here, on the parsing thread, spares the store's single writer the work.
    pub fn take(item: &mut Item) -> EncodedItem {
        let e = EncodedItem::of(item);
        drop(std::mem::take(&mut item.fields));
        drop(std::mem::take(&mut item.sections));
        e
    }
}

/// A document that changed (or is new) in this index pass.
#[derive(Debug, Clone)]
pub struct FileUpdate {
    pub path: String,
    pub state: FileState,
    /// Parsing failed: keep the items the store has from this file untouched.
    pub broken: bool,
    pub items: Vec<IndexedItem>,
    pub diagnostics: Vec<Diagnostic>,
}

/// One document's change, streamed to [`crate::Store::apply_index`] in path order.
#[derive(Debug, Clone)]
pub enum FileChange {
    /// Re-parsed or new.
    Update(FileUpdate),
    /// Size or mtime changed but the bytes did not: refresh the stat only.
    Touched(String, FileState),
}

/// One index pass of one checkout. The changed documents themselves are streamed alongside, so
/// a pass over 100k documents never holds them all in memory.
#[derive(Debug, Clone, Default)]
pub struct IndexBatch {
    pub checkout: String,
    /// Paths whose changes may arrive in the stream (re-read documents).
    pub reread: std::collections::HashSet<String>,
    /// Documents that are gone from the checkout.
    pub removed: Vec<String>,
    /// Diagnostics about paths that are not documents (unreadable folders, escaping links),
    /// replacing the previous pass's; `None` keeps them (a partial pass over a few files).
    pub walk_diagnostics: Option<Vec<Diagnostic>>,
    /// What decided how the documents parse (the parser's revision and the parts of the
    /// configuration that matter), recorded with a pass that re-read something, in the same
    /// transaction; the next pass re-parses every document when it differs. `None` (a pass over
    /// a few files) leaves the recorded one.
    pub parse_fingerprint: Option<String>,
    /// Each kind's statuses (by canonical key), so an item that comes back after its removal is
    /// merged with the status it had then (its journal holds the key, not the rank). An item
    /// whose kind or old status is not here is created as its file says.
    pub statuses: std::collections::HashMap<String, Vec<StatusDef>>,
}

impl IndexBatch {
    /// The definition of `status` (a canonical key) in the workflow of `kind`.
    pub fn status_def(&self, kind: &str, status: &str) -> Option<&StatusDef> {
        self.statuses.get(kind)?.iter().find(|s| s.key == status)
    }

    /// Nothing was re-read and nothing removed.
    pub fn is_empty(&self) -> bool {
        self.reread.is_empty() && self.removed.is_empty()
    }
}

/// What an index pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IndexReport {
    pub created: usize,
    pub updated: usize,
    pub removed: usize,
    pub status_applied: usize,
    pub status_refused: usize,
    /// Every diagnostic the store holds once the pass is over, when the pass had them at hand
    /// (a pass that built a new store: everything in it was written by this pass), in the order
    /// [`crate::Store::diagnostics`] returns them; `None` otherwise (ask the store).
    #[serde(skip)]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

/// Who/where/why for journal events.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub actor: String,
    pub machine: String,
    /// file, cli, api, sync, fix
    pub source: String,
    pub correlation_id: String,
    /// RFC 3339 UTC.
    pub at: String,
}

/// The journal's kinds of event.
pub mod action {
    pub const CREATED: &str = "created";
    pub const TRANSITION: &str = "transition";
    pub const REOPEN: &str = "reopen";
    pub const OVERRIDE: &str = "override";
    pub const REMOVED: &str = "removed";
    /// `fix` wrote the effective status back into a document.
    pub const WRITEBACK: &str = "writeback";
    /// An agent took (or renewed) a lease on the item.
    pub const CLAIM: &str = "claim";
    /// A lease was given back (or broken with `--force`).
    pub const RELEASE: &str = "release";
    /// Evidence was added from the CLI.
    pub const EVIDENCE: &str = "evidence";
    /// A role signed off.
    pub const SIGNOFF: &str = "signoff";
    /// A reviewer recorded gaps (the item is sent back in the same command).
    pub const REVIEW: &str = "review";
}

/// A request to change an item's status.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub id: String,
    /// The status the caller validated against; the store refuses if it changed meanwhile.
    pub from: String,
    pub to: StatusDef,
    /// One of [`action`]'s TRANSITION, REOPEN, OVERRIDE.
    pub action: &'static str,
    pub reason: Option<String>,
    /// When the file was written: (checkout, the canonical status now in that checkout's file).
    pub file_status: Option<(String, String)>,
    /// Now, in milliseconds since the Unix epoch: whether a lease on the item still runs.
    pub now_ms: i64,
    /// Move the item even while another agent's lease on it runs (`--force`; journaled as an
    /// override by the caller). Without it, such a move is refused with
    /// [`crate::StoreError::Claimed`].
    pub break_claim: bool,
}

/// An item as the store holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: String,
    pub status_rank: Option<i64>,
    pub terminal: bool,
    pub priority: Option<String>,
    pub parent: Option<String>,
    pub depends_on: Vec<String>,
    pub lane: Option<String>,
    pub owner: Option<String>,
    pub labels: Vec<String>,
    pub path: String,
    pub line: u32,
    #[serde(skip)]
    pub checkout: String,
    #[serde(skip)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pub sections: Vec<Section>,
    #[serde(skip)]
    pub content_hash: String,
    #[serde(skip)]
    pub priority_rank: Option<i64>,
}

/// A journal event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub item: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor: String,
    pub machine: String,
    pub source: String,
    pub reason: Option<String>,
    pub correlation_id: String,
    pub at: String,
}

/// How `list` sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Priority,
    Status,
    Kind,
    Title,
    Updated,
}

/// Filters for `list`; `None` means no filter. String filters compare canonical keys for kind
/// and status, exact values otherwise.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub kinds: Vec<String>,
    pub statuses: Vec<String>,
    pub lane: Option<String>,
    pub owner: Option<String>,
    pub label: Option<String>,
    pub parent: Option<String>,
    pub search: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: Option<usize>,
}

/// How many items of a kind have a status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct KindStatusCount {
    pub kind: String,
    pub status: String,
    pub status_rank: Option<i64>,
    pub count: u64,
}

/// Counts for `status`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    /// Sorted by kind, then status rank.
    pub by_kind_status: Vec<KindStatusCount>,
    /// (lane or None, count).
    pub by_lane: Vec<(Option<String>, u64)>,
    pub blocked: u64,
    pub ready: u64,
    pub terminal: u64,
    pub diagnostics_errors: u64,
    pub diagnostics_warnings: u64,
    pub recent: Vec<Event>,
}

/// An item whose document in a checkout says something other than its effective status.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Drift {
    pub id: String,
    pub kind: String,
    /// Effective status (canonical key).
    pub status: String,
    pub status_rank: Option<i64>,
    /// What the checkout's document says (canonical key).
    pub file_status: String,
    /// The document in this checkout.
    pub path: String,
    pub line: u32,
    /// Where that document writes the status, when known (schema 9).
    pub status_line: Option<u32>,
}

impl Drift {
    /// Where a finding about this drift points: the document's status line, or the item's
    /// line where the store does not know it.
    pub fn finding_line(&self) -> u32 {
        self.status_line.unwrap_or(self.line)
    }
}

/// What the store holds about re-read documents and the items they declare, for comparing them
/// with it (see [`crate::Store::compare_rows`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareRows {
    /// The ids a checkout last read at each path, in line order (paths it never read: absent).
    pub ids_at: std::collections::HashMap<String, Vec<String>>,
    /// Each known id's kind and effective status, and what the checkout's document last said
    /// of it (unknown ids: absent).
    pub items: std::collections::HashMap<String, StoredItemState>,
}

/// An item's kind and effective status, and the status a checkout's document last carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItemState {
    pub kind: String,
    pub status: String,
    pub file_status: Option<String>,
}

/// What a checkout's document last said about an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    pub path: String,
    pub line: u32,
    pub file_status: Option<String>,
}

/// One checkout's document declaring an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemSource {
    pub checkout: String,
    pub path: String,
    pub line: u32,
    /// The status that document said when the checkout last read it.
    pub file_status: Option<String>,
    /// The line of that status in the document, where it has one (stores indexed before
    /// schema 9 have none until the document is read again).
    pub status_line: Option<u32>,
}

/// A lease an agent holds on an item.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Claim {
    pub item: String,
    pub agent: String,
    pub claimed_at: String,
    /// When the lease ends (RFC 3339 UTC).
    pub expires_at: String,
    /// The same instant in milliseconds since the Unix epoch.
    #[serde(skip)]
    pub expires_ms: i64,
}

/// A request to claim (or renew the claim on) an item.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub id: String,
    pub agent: String,
    /// Now, in milliseconds since the Unix epoch (injectable for tests).
    pub now_ms: i64,
    /// Lease end, in milliseconds since the Unix epoch, and as RFC 3339 UTC.
    pub expires_ms: i64,
    pub expires_at: String,
}

/// Decode the `sections` column (the JSON an [`EncodedItem`] wrote).
pub(crate) fn decode_sections(json: &str) -> Vec<Section> {
    #[derive(serde::Deserialize)]
    struct SectionRow {
        name: String,
        line: u32,
        text: String,
    }
    serde_json::from_str::<Vec<SectionRow>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|s| Section {
            name: s.name,
            line: s.line,
            text: s.text,
        })
        .collect()
}

/// Evidence recorded with `evident evidence add` (the spec is JSON).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredEvidence {
    pub seq: i64,
    pub item: String,
    pub spec: String,
    pub actor: String,
    pub at: String,
}

/// An immutable sign-off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Signoff {
    pub seq: i64,
    pub item: String,
    pub role: String,
    pub actor: String,
    pub at: String,
    pub correlation_id: String,
    pub note: Option<String>,
    /// `signoff`, or `review` (gaps found: earlier sign-offs no longer count).
    pub kind: String,
}

/// A cached gate result: valid while `input_key` matches the inputs' key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateCacheEntry {
    pub item: String,
    pub gate: String,
    pub input_key: String,
    /// The result as JSON.
    pub result: String,
    pub evaluated_at: String,
}

/// What an event about to be appended says happened; its [`EventContext`] says who, where
/// and when.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub item: &'a str,
    pub action: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub reason: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event that records something about `item` without changing its status (a claim, a
    /// release, evidence, a sign-off).
    pub fn note(item: &'a str, action: &'a str, reason: &'a str) -> NewEvent<'a> {
        NewEvent {
            item,
            action,
            from: None,
            to: None,
            reason: Some(reason),
        }
    }
}

impl Event {
    /// The event just written with `seq`, as the caller's context describes it.
    pub(crate) fn recorded(seq: i64, e: &NewEvent<'_>, ctx: &EventContext) -> Event {
        Event {
            seq,
            item: e.item.to_string(),
            action: e.action.to_string(),
            from: e.from.map(str::to_string),
            to: e.to.map(str::to_string),
            actor: ctx.actor.clone(),
            machine: ctx.machine.clone(),
            source: ctx.source.clone(),
            reason: e.reason.map(str::to_string),
            correlation_id: ctx.correlation_id.clone(),
            at: ctx.at.clone(),
        }
    }
}

impl StoredEvidence {
    /// The evidence just written with `seq`.
    pub(crate) fn recorded(seq: i64, item: &str, spec: &str, ctx: &EventContext) -> StoredEvidence {
        StoredEvidence {
            seq,
            item: item.to_string(),
            spec: spec.to_string(),
            actor: ctx.actor.clone(),
            at: ctx.at.clone(),
        }
    }
}

impl Signoff {
    /// The sign-off record just written with `seq`.
    pub(crate) fn recorded(
        seq: i64,
        item: &str,
        kind: &str,
        role: &str,
        note: Option<&str>,
        ctx: &EventContext,
    ) -> Signoff {
        Signoff {
            seq,
            item: item.to_string(),
            role: role.to_string(),
            actor: ctx.actor.clone(),
            at: ctx.at.clone(),
            correlation_id: ctx.correlation_id.clone(),
            note: note.map(str::to_string),
            kind: kind.to_string(),
        }
    }
}
