//! Store throughput under concurrent clients: transitions per second and reads per second with
//! 1, 4 and 16 clients, on the embedded SQLite store and on a PostgreSQL hub. Each client is a
//! thread with its own connection (as each `evident` process or `serve` worker has), working
//! through the storage contract itself, so the figures are the store's, not process start-up's.
//!
//! A transition is what `move` does in the store: read the item, then a compare-and-swap
//! transition validated against what was read (retried on conflict). Clients move their own
//! slice of items forward and reopen them at the end of the workflow, so every event is valid.
//! A read is `show`'s store work: one item with its fields and sections.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use evident_core::item::Item;
use evident_core::StatusDef;
use evident_store::*;

const STATUSES: [&str; 4] = ["todo", "in_progress", "in_review", "done"];

fn status(rank: usize) -> StatusDef {
    StatusDef {
        key: STATUSES[rank].into(),
        name: STATUSES[rank].into(),
        label: STATUSES[rank].into(),
        rank: rank as i64,
        terminal: rank == 3,
    }
}

fn ctx() -> EventContext {
    EventContext {
        actor: "bench".into(),
        machine: "bench".into(),
        source: "cli".into(),
        correlation_id: "bench".into(),
        at: "2026-01-01T00:00:00Z".into(),
    }
}

fn seed(store: &mut dyn Store, items: usize) -> Result<()> {
    let changes: Vec<FileChange> = (0..items)
        .map(|n| {
            let item = Item {
                title: format!("Benchmark item {n}"),
                content_hash: format!("h{n}"),
                ..evident_store::testing::todo_task(&format!("B-{n}"), &format!("b/{n}.md"))
            };
            FileChange::Update(evident_store::testing::one_item_update(
                item,
                Some(status(0).into()),
            ))
        })
        .collect();
    let batch = IndexBatch {
        checkout: "bench".into(),
        reread: changes
            .iter()
            .filter_map(|c| match c {
                FileChange::Update(u) => Some(u.path.clone()),
                FileChange::Touched(..) => None,
            })
            .collect(),
        removed: vec![],
        walk_diagnostics: None,
        parse_fingerprint: None,
        statuses: Default::default(),
    };
    store.apply_index(&batch, &mut changes.into_iter(), &ctx())?;
    Ok(())
}

/// One move through the store, as `move` does it: read, validate, compare-and-swap, retry.
fn advance(store: &mut dyn Store, id: &str, conflicts: &AtomicU64) -> Result<()> {
    loop {
        let it = store.get_item(id)?.context("item vanished")?;
        let rank = it.status_rank.unwrap_or(0) as usize;
        let (to, act) = if rank >= 3 {
            (status(0), action::REOPEN)
        } else {
            (status(rank + 1), action::TRANSITION)
        };
        let req = TransitionRequest {
            id: id.to_string(),
            from: it.status,
            to,
            action: act,
            reason: (act == action::REOPEN).then(|| "benchmark cycle".to_string()),
            file_status: None,
            now_ms: 0,
            break_claim: false,
        };
        match store.transition(&req, &ctx()) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => {
                conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

type Opener = Arc<dyn Fn() -> Result<Box<dyn Store>> + Send + Sync>;

/// Run `clients` threads for `secs`, each doing `op`; operations per second.
fn measure(
    open: &Opener,
    clients: usize,
    secs: f64,
    op: fn(&mut dyn Store, usize, u64, &AtomicU64) -> Result<()>,
    conflicts: &Arc<AtomicU64>,
) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (open, stop, done, start, conflicts) = (
                open.clone(),
                stop.clone(),
                done.clone(),
                start.clone(),
                conflicts.clone(),
            );
            std::thread::spawn(move || -> Result<()> {
                let mut s = open()?;
                start.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op(s.as_mut(), c, n, &conflicts)?;
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("client panicked"))??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64())
}

const ITEMS: usize = 2000;

fn transition_op(s: &mut dyn Store, client: usize, n: u64, conflicts: &AtomicU64) -> Result<()> {
    // Clients share items: client c moves items c, c+7, ... (some overlap across clients, so
    // compare-and-swap conflicts happen and are retried, as between real machines).
    let id = format!("B-{}", (client * 7 + n as usize * 13) % 64);
    advance(s, &id, conflicts)
}

fn read_op(s: &mut dyn Store, client: usize, n: u64, _: &AtomicU64) -> Result<()> {
    let id = format!("B-{}", (client * 31 + n as usize * 17) % ITEMS);
    std::hint::black_box(s.get_item(&id)?);
    Ok(())
}

pub struct Row {
    pub backend: &'static str,
    pub clients: usize,
    pub transitions: f64,
    pub conflicts: u64,
    pub reads: f64,
}

/// Measure one backend at each client count.
pub fn run_backend(
    backend: &'static str,
    open: Opener,
    clients: &[usize],
    secs: f64,
) -> Result<Vec<Row>> {
    seed(open()?.as_mut(), ITEMS)?;
    let mut rows = Vec::new();
    for &c in clients {
        let conflicts = Arc::new(AtomicU64::new(0));
        let transitions = measure(&open, c, secs, transition_op, &conflicts)?;
        let reads = measure(&open, c, secs, read_op, &conflicts)?;
        eprintln!("   {backend}, {c} clients: {transitions:.0} transitions/s, {reads:.0} reads/s");
        rows.push(Row {
            backend,
            clients: c,
            transitions,
            conflicts: conflicts.load(Ordering::Relaxed),
            reads,
        });
    }
    Ok(rows)
}

/// `evident-bench --concurrency`: both backends (PostgreSQL when it answers), one table.
pub fn main(clients: &[usize], secs: f64, pg_url: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let mut rows = Vec::new();
    eprintln!("== store throughput: sqlite ({})", path.display());
    let p = path.clone();
    rows.extend(run_backend(
        "sqlite",
        Arc::new(move || Ok(Box::new(SqliteStore::open(&p)?) as Box<dyn Store>)),
        clients,
        secs,
    )?);
    let url = pg_url.unwrap_or_else(evident_store::testing::test_server_url);
    let sep = if url.contains('?') { '&' } else { '?' };
    let target = PgTarget::parse(&format!("{url}{sep}schema=bench_{}", std::process::id()))?;
    let _ = PgStore::drop_schema(&target);
    match PgStore::migrate(&target) {
        Ok(_) => {
            eprintln!("== store throughput: postgres ({})", target.display);
            let t = target.clone();
            let r = run_backend(
                "postgres",
                Arc::new(move || Ok(Box::new(PgStore::open(&t)?) as Box<dyn Store>)),
                clients,
                secs,
            );
            let _ = PgStore::drop_schema(&target);
            rows.extend(r?);
        }
        Err(e) => eprintln!("== postgres skipped: {e}"),
    }
    println!("\n| backend | clients | transitions/s | CAS retries | reads/s |");
    println!("|---|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {} | {:.0} |",
            r.backend, r.clients, r.transitions, r.conflicts, r.reads
        );
    }
    Ok(())
}
