//! `evident-bench --sqlite-floor`: how long SQLite alone takes to hold what a first index
//! writes, with none of Evident's work around it. For each size it indexes the generated
//! repository once with `evident`, then, in this process and with the same bundled SQLite,
//! copies the tables an index pass fills (`INSERT … SELECT` from the attached store: no per-row
//! statements, and SQLite moves the records as they are, without decoding them), builds their
//! secondary indexes and commits, into a fresh file with the page size and pragmas of a first
//! load. Because the tables match, SQLite copies each record whole (its transfer optimisation),
//! without building it from values as a real load must, so this is an optimistic
//! lower bound for the store's share of a cold index; the table sets it beside the read floor
//! the cold-index target is measured against.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{generate, median, ms, run_measured, time_floor, Opts};

/// The tables an index pass writes, in the order they are filled.
const TABLES: [&str; 5] = ["files", "items", "item_sources", "deps", "events"];

struct Phases {
    rows: Duration,
    indexes: Duration,
    commit: Duration,
}

/// Copy `tables` of the store at `src` into a new file under `dir`, then index and commit.
fn copy_once(src: &Path, dir: &Path, tables: &[&str]) -> Result<Phases> {
    let dst = dir.join("floor.db");
    for f in ["floor.db", "floor.db-journal"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let source = rusqlite::Connection::open(src)?;
    let mut schema: Vec<(String, String, String)> = Vec::new();
    {
        let mut st = source.prepare(
            "SELECT type, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        for r in rows {
            schema.push(r?);
        }
    }
    drop(source);
    let c = rusqlite::Connection::open(&dst)?;
    c.execute_batch(
        "PRAGMA page_size = 16384; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;",
    )?;
    for (kind, table, sql) in &schema {
        if kind == "table" && tables.contains(&table.as_str()) {
            c.execute_batch(sql)?;
        }
    }
    let src = src.to_str().context("non-UTF-8 store path")?;
    c.execute("ATTACH DATABASE ?1 AS src", [src])?;
    let t0 = Instant::now();
    c.execute_batch("BEGIN")?;
    for t in tables {
        c.execute_batch(&format!("INSERT INTO main.{t} SELECT * FROM src.{t}"))?;
    }
    let t1 = Instant::now();
    for (kind, table, sql) in &schema {
        if kind == "index" && tables.contains(&table.as_str()) {
            c.execute_batch(sql)?;
        }
    }
    let t2 = Instant::now();
    c.execute_batch("COMMIT")?;
    let t3 = Instant::now();
    Ok(Phases {
        rows: t1 - t0,
        indexes: t2 - t1,
        commit: t3 - t2,
    })
}

pub fn run(opts: &Opts) -> Result<()> {
    let mut out = String::from(
        "| items | tables | read floor ms | rows ms | indexes ms | commit ms | SQLite total ms | × read |\n|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for &n in &opts.sizes {
        let root = opts.dir.join(format!("n{n}"));
        eprintln!("== {n} items: generating in {}", root.display());
        generate(&root, n)?;
        let read_floor = time_floor(opts, &root, opts.runs, true)?;
        let _ = std::fs::remove_dir_all(root.join(".evident"));
        run_measured(opts, &root, &["index"])?;
        let store = root.join(".evident/evident.db");
        let scratch = tempfile::tempdir()?;
        for (label, tables) in [("all five", &TABLES[..]), ("items only", &["items"][..])] {
            let mut runs = Vec::new();
            for _ in 0..opts.runs {
                runs.push(copy_once(&store, scratch.path(), tables)?);
            }
            let pick = |f: fn(&Phases) -> Duration| median(runs.iter().map(f).collect());
            let total = median(runs.iter().map(|p| p.rows + p.indexes + p.commit).collect());
            out.push_str(&format!(
                "| {n} | {label} | {} | {} | {} | {} | {} | {:.2} |\n",
                ms(read_floor),
                ms(pick(|p| p.rows)),
                ms(pick(|p| p.indexes)),
                ms(pick(|p| p.commit)),
                ms(total),
                total.as_secs_f64() / read_floor.as_secs_f64()
            ));
        }
    }
    print!("{out}");
    println!(
        "\nMedians of {} runs. SQLite alone, in this process (no start-up, no parsing, no per-row statements): \
         the tables a first index fills, copied with INSERT … SELECT from the store `evident index` built \
         (records moved as they are), their secondary indexes built, then one commit, into a fresh file \
         with a first load's pragmas. A lower bound for the store's share of a cold index.",
        opts.runs
    );
    println!("Machine: {}.", crate::machine());
    Ok(())
}
