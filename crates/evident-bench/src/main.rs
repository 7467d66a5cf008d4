//! Evident's benchmark program (not a test: it prints a table, it asserts nothing).
//!
//! It generates synthetic repositories (one-per-file stories mixed with workplans of 20 tasks),
//! measures the I/O floors (walking and reading every file; walking and stat-ing every file, each
//! as a whole process, like the runs they are compared with), then times the real `evident` binary: cold index (no store yet; the OS page
//! cache is warm, as for any second run), warm no-change index, `list --json`, `status --json`,
//! `show` and `move`. Peak RSS comes from `getrusage` of each measured child.
//!
//! With `--drop-caches` (Linux, root) it also measures the read floor and the cold index with the
//! OS page cache dropped before every run: a cold start in the full sense.
//!
//! Usage: evident-bench [--sizes 1000,10000,100000] [--runs 3 (at least 30 at 1k, 10 at 10k)] [--dir bench-data] [--evident PATH] [--drop-caches]
//!        evident-bench --gates --sizes 10000 [--runs 3] [--dir bench-data]
//!          gate check --all and readiness, first pass and over unchanged items
//!        evident-bench --sqlite-floor --sizes 100000 [--runs 3] [--dir bench-data]
//!          SQLite's own time to hold what a first index writes; see sqlite_floor.rs
//!        evident-bench --concurrency [--clients 1,4,16] [--seconds 3] [--pg URL]
//!          store throughput (transitions/s, reads/s) on SQLite and PostgreSQL; see concurrency.rs

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

mod concurrency;
mod gates_bench;
mod sqlite_floor;

struct Opts {
    sizes: Vec<usize>,
    runs: usize,
    dir: PathBuf,
    evident: PathBuf,
    /// Also measure the read floor and the cold index with the OS page cache dropped before
    /// each run (Linux, root).
    drop_caches: bool,
    /// Measure gates (`gate check --all`, `readiness`) instead.
    gates: bool,
    /// Measure SQLite's own floor for a first load instead.
    sqlite_floor: bool,
    /// This program, copied next to the copy of `evident` (see [`installed_copies`]): the floor
    /// passes and the measuring helper run from it.
    bench: PathBuf,
    /// Holds the copies for the length of the run.
    _copies: tempfile::TempDir,
}

/// Copy `evident` and this program into a temporary folder with a plain file copy, and run those.
/// A linker writes its output through a memory map, and that file sits in the page cache in
/// small pages: started from there, `evident` took ~0.4 ms longer and the floor program ~0.13 ms
/// (each faults its code in a page at a time), an artefact of the build that no installed binary
/// has (copied, or read back from disk, it lies in large pages). Both sides of every ratio run
/// from copies.
fn installed_copies(evident: &Path) -> Result<(tempfile::TempDir, PathBuf, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("evident-bench-programs")
        .tempdir()?;
    let exe = std::env::current_exe()?;
    let bench = dir.path().join("evident-bench");
    let ev = dir.path().join("evident");
    std::fs::copy(&exe, &bench).with_context(|| format!("copying {}", exe.display()))?;
    std::fs::copy(evident, &ev).with_context(|| format!("copying {}", evident.display()))?;
    Ok((dir, bench, ev))
}

fn parse_opts() -> Result<Opts> {
    let mut sizes = vec![1_000, 10_000, 100_000];
    let mut runs = 3;
    let mut dir = PathBuf::from("bench-data");
    let exe = std::env::current_exe()?;
    let mut evident = exe.with_file_name("evident");
    let mut drop_caches = false;
    let mut gates = false;
    let mut sqlite_floor = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--sizes" => {
                sizes = val()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--runs" => runs = val()?.parse()?,
            "--dir" => dir = PathBuf::from(val()?),
            // Runs happen inside the generated repositories: a relative path is made absolute.
            "--evident" => {
                let p = PathBuf::from(val()?);
                evident = std::path::absolute(&p)
                    .with_context(|| format!("--evident {}", p.display()))?;
            }
            "--drop-caches" => drop_caches = true,
            "--gates" => gates = true,
            "--sqlite-floor" => sqlite_floor = true,
            "-h" | "--help" => {
                println!("evident-bench [--sizes 1000,10000,100000] [--runs 3] [--dir bench-data] [--evident PATH] [--drop-caches] [--gates | --sqlite-floor]\nevident-bench --concurrency [--clients 1,4,16] [--seconds 3] [--pg URL]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if !evident.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p evident) or pass --evident",
            evident.display()
        );
    }
    let (copies, bench, evident) = installed_copies(&evident)?;
    Ok(Opts {
        sizes,
        runs: runs.max(1),
        dir,
        evident,
        drop_caches,
        gates,
        sqlite_floor,
        bench,
        _copies: copies,
    })
}

/// A small deterministic generator (no dependency, same data every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

const CONFIG: &str = r#"[project]
name = "bench"
roots = ["."]
id_scheme = "random"

[detect]
kind_fields = ["kind", "type"]
task_kind = "task"

[workflows.default]
initial = "todo"
statuses = [
  { name = "todo", rank = 0 },
  { name = "in_progress", rank = 1 },
  { name = "blocked", rank = 1 },
  { name = "done", rank = 2, terminal = true },
  { name = "cancelled", rank = 2, terminal = true },
]

[kinds.story]
prefix = "ST"
dir = "stories"

[kinds.workplan]
prefix = "WP"
dir = "plans"

[kinds.task]
prefix = "TK"
dir = "tasks"
"#;

struct Generated {
    files: usize,
    items: usize,
    /// Items in `todo`, for `move`.
    movable: Vec<String>,
    sample: String,
}

fn generate(root: &Path, n: usize) -> Result<Generated> {
    let marker = root.join(".generated");
    let plans = n / 2 / 21;
    let stories = n - plans * 21;
    if root.exists() && !marker.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let statuses = [
        "todo",
        "todo",
        "in_progress",
        "blocked",
        "done",
        "done",
        "cancelled",
    ];
    let priorities = ["high", "medium", "low", "P0-Critical"];
    let lanes = ["core", "web", "ops", "payments"];
    let mut rng = Lcg(42);
    let mut movable = Vec::new();
    let fresh = !marker.exists();
    if fresh {
        std::fs::create_dir_all(root)?;
        std::fs::write(root.join("evident.toml"), CONFIG)?;
    }
    for i in 0..stories {
        let id = format!("ST-{i:06}");
        let status = rng.pick(&statuses);
        if status == "todo" && movable.len() < 64 {
            movable.push(id.clone());
        }
        let dir = root.join(format!("stories/d{:04}", i / 500));
        if fresh && i % 500 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let deps = if i > 0 && rng.next().is_multiple_of(4) {
            format!("depends_on: [ST-{:06}]\n", rng.next() as usize % i)
        } else {
            String::new()
        };
        let text = format!(
            "---\nid: {id}\nkind: story\ntitle: \"Story number {i}: make the widget better\"\nstatus: {status}\npriority: {}\nlane: {}\nlabels: [bench, l{}]\n{deps}owner: person{}\n---\n\n# Story number {i}\n\n## Description\n\nAs a user I want the widget to be better so that the numbers go up. Story {i}.\n\n## Acceptance Criteria\n\n- [ ] the widget renders\n- [ ] the widget is better\n- [x] someone looked at it\n",
            rng.pick(&priorities),
            rng.pick(&lanes),
            rng.next() % 10,
            rng.next() % 50
        );
        if fresh {
            std::fs::write(dir.join(format!("{id}.md")), text)?;
        }
    }
    for p in 0..plans {
        let wid = format!("WP-{p:05}");
        let mut text = String::new();
        {
            write!(text, "---\nid: {wid}\ntype: workplan\ntitle: \"Workplan {p}\"\nstatus: in_progress\nowner: lead{}\n---\n\n# Workplan {p}\n\n## Problem\n\nThings are slow.\n\n## Tasks\n\n", p % 7)?;
        }
        for t in 0..20 {
            let tid = format!("{wid}-T{t:02}");
            let status = rng.pick(&statuses);
            if status == "todo" && movable.len() < 128 {
                movable.push(tid.clone());
            }
            {
                let dep = if t > 0 {
                    format!("depends_on: [{wid}-T{:02}]\n", t - 1)
                } else {
                    String::new()
                };
                write!(
                    text,
                    "### T{t:02} — Task {t} of plan {p}\n\n```task\nid: {tid}\nstatus: {status}\npriority: {}\n{dep}```\n\nDo the thing number {t}.\n\n",
                    rng.pick(&priorities)
                )?;
            }
        }
        if fresh {
            let dir = root.join(format!("plans/d{:04}", p / 500));
            if p % 500 == 0 {
                std::fs::create_dir_all(&dir)?;
            }
            std::fs::write(dir.join(format!("{wid}.md")), text)?;
        }
    }
    if fresh {
        std::fs::write(&marker, "")?;
        // An index does not trust the mtime of a document modified in the last two seconds (it
        // could change again within the same tick) and reads it again next time: right after
        // generating, the warm runs would read every document. Wait that window out, so every
        // run measures a repository at rest, as one is between edits.
        std::thread::sleep(std::time::Duration::from_millis(2100));
    }
    Ok(Generated {
        files: stories + plans,
        items: stories + plans * 21,
        movable,
        sample: "ST-000000".into(),
    })
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata)) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        let p = e.path();
        if ft.is_dir() {
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            walk(&p, f)?;
        } else if p.extension().and_then(|x| x.to_str()) == Some("md") {
            let m = e.metadata()?;
            f(&p, &m);
        }
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Walk the tree and read (or stat) every Markdown file, in this process.
fn floor_pass(root: &Path, read: bool) -> Result<usize> {
    let mut bytes = 0usize;
    walk(root, &mut |p, m| {
        if read {
            bytes += std::fs::read(p).map(|b| b.len()).unwrap_or(0);
        } else {
            bytes += m.len() as usize;
        }
    })?;
    Ok(bytes)
}

/// Runs per measurement at `items` items: at least 30 at up to 2k items and 10 at up to 20k,
/// `runs` above that. A small repository's runs take milliseconds, so one busy moment of a
/// shared machine moves a median of five (the same binary's warm no-change index at 1k:
/// 1.61× the stat floor over 5 runs, 1.48× over 30, the same hour).
fn runs_at(runs: usize, items: usize) -> usize {
    match items {
        0..=2_000 => runs.max(30),
        2_001..=20_000 => runs.max(10),
        _ => runs,
    }
}

/// The floors are whole processes, like the `evident` runs they are compared with: this
/// program re-invoked as `__floor read|stat DIR`, so process start-up is on both sides.
fn time_floor(opts: &Opts, root: &Path, runs: usize, read: bool) -> Result<Duration> {
    let exe = opts
        .bench
        .to_str()
        .context("non-UTF-8 path to evident-bench")?;
    let dir = root.canonicalize()?;
    let dir = dir.to_str().context("non-UTF-8 benchmark folder")?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let (d, _) = run_program(
            opts,
            root,
            Path::new(exe),
            &["__floor", if read { "read" } else { "stat" }, dir],
        )?;
        times.push(d);
    }
    Ok(median(times))
}

/// Run the command in a child of a fresh helper process, so `getrusage(RUSAGE_CHILDREN)`
/// reports this command's peak RSS alone.
fn run_measured(opts: &Opts, root: &Path, args: &[&str]) -> Result<(Duration, u64)> {
    run_program(opts, root, &opts.evident, args)
}

/// Run `program ARGS` under the `__rss` helper: (its wall time, its peak RSS in KiB).
fn run_program(opts: &Opts, root: &Path, program: &Path, args: &[&str]) -> Result<(Duration, u64)> {
    let t = Instant::now();
    let out = Command::new(&opts.bench)
        .arg("__rss")
        .arg(program)
        .args(args)
        .current_dir(root)
        .env("EVIDENT_ACTOR", "bench")
        .env("EVIDENT_MACHINE", "bench")
        .stderr(Stdio::inherit())
        .output()?;
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let code: i32 = parts.next().unwrap_or("1").parse().unwrap_or(1);
    let nanos: u64 = parts.next().unwrap_or("0").parse().unwrap_or(0);
    let rss: u64 = parts.next().unwrap_or("0").parse().unwrap_or(0);
    if code != 0 && code != 2 {
        bail!(
            "{} {args:?} failed with exit code {code}",
            program.display()
        );
    }
    let _ = elapsed;
    Ok((Duration::from_nanos(nanos), rss))
}

/// `evident-bench __rss PROGRAM ARGS...`: run PROGRAM, print "exit_code nanos peak_rss_kib".
fn rss_helper(args: &[String]) -> Result<()> {
    let t = Instant::now();
    let status = Command::new(&args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let nanos = t.elapsed().as_nanos();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    println!(
        "{} {} {}",
        status.code().unwrap_or(1),
        nanos,
        usage.max_rss()
    );
    Ok(())
}

/// Flush dirty pages and drop the OS page cache (Linux, root only).
fn drop_page_cache() -> Result<()> {
    Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .context("dropping the page cache needs root (Linux): run without --drop-caches")
}

/// The processor and core count, for telling tables from different machines apart: the
/// ratios follow how fast a machine computes against how fast it reads files, and these virtual
/// machines differ in both (docs/performance.md, "A ninth day").
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    match field("cpu MHz").and_then(|m| m.parse::<f64>().ok()) {
        Some(mhz) => format!("{model} at {:.1} GHz, {cores} cores", mhz / 1000.0),
        None => format!("{model}, {cores} cores"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__rss") {
        return rss_helper(&argv[2..]);
    }
    if argv.get(1).map(String::as_str) == Some("__floor") {
        let read = argv.get(2).map(String::as_str) == Some("read");
        let dir = argv.get(3).context("__floor read|stat DIR")?;
        std::hint::black_box(floor_pass(Path::new(dir), read)?);
        return Ok(());
    }
    if argv.get(1).map(String::as_str) == Some("--concurrency") {
        let mut clients = vec![1, 4, 16];
        let mut secs = 3.0;
        let mut pg = None;
        let mut args = argv[2..].iter();
        while let Some(a) = args.next() {
            let mut val = || args.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--clients" => {
                    clients = val()?
                        .split(',')
                        .map(|s| s.trim().parse())
                        .collect::<Result<_, _>>()?
                }
                "--seconds" => secs = val()?.parse()?,
                "--pg" => pg = Some(val()?.clone()),
                other => bail!("unknown argument {other}"),
            }
        }
        return concurrency::main(&clients, secs, pg);
    }
    let opts = parse_opts()?;
    if opts.gates {
        return gates_bench::run(&opts);
    }
    if opts.sqlite_floor {
        return sqlite_floor::run(&opts);
    }
    let mut rows = Vec::new();
    let mut cold_rows = Vec::new();
    for &n in &opts.sizes {
        let root = opts.dir.join(format!("n{n}"));
        eprintln!("== {n} items: generating in {}", root.display());
        let g = generate(&root, n)?;
        let store = root.join(".evident");
        let runs = runs_at(opts.runs, n);
        // Each floor run is taken right before the run it is compared with, so a busy spell on
        // a shared machine weighs on both sides of a ratio alike.
        let mut read_floors = Vec::new();
        let mut cold = Vec::new();
        let mut peak = 0u64;
        for _ in 0..runs {
            read_floors.push(time_floor(&opts, &root, 1, true)?);
            let _ = std::fs::remove_dir_all(&store);
            let (d, rss) = run_measured(&opts, &root, &["index"])?;
            cold.push(d);
            peak = peak.max(rss);
        }
        let mut stat_floors = Vec::new();
        let mut warms = Vec::new();
        for _ in 0..runs {
            stat_floors.push(time_floor(&opts, &root, 1, false)?);
            let (d, rss) = run_measured(&opts, &root, &["index"])?;
            warms.push(d);
            peak = peak.max(rss);
        }
        let (read_floor, stat_floor, warm) =
            (median(read_floors), median(stat_floors), median(warms));
        let mut timed = |args: &[&str]| -> Result<Duration> {
            let mut v = Vec::new();
            for _ in 0..runs {
                let (d, rss) = run_measured(&opts, &root, args)?;
                v.push(d);
                peak = peak.max(rss);
            }
            Ok(median(v))
        };
        let list = timed(&["--json", "list"])?;
        let status = timed(&["--json", "status"])?;
        let show = timed(&["--json", "show", &g.sample])?;
        let mut moves = Vec::new();
        // Items to move: whatever is `todo` now (a run interrupted earlier may have moved some).
        let listed = Command::new(&opts.evident)
            .args([
                "--json", "list", "--status", "todo", "--kind", "task", "--limit", "64",
            ])
            .current_dir(&root)
            .output()?;
        let listed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split("\"id\":\"")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(str::to_string))
            .collect();
        let movable = if listed.is_empty() {
            g.movable.clone()
        } else {
            listed
        };
        for id in movable.iter().take(runs) {
            let (d, rss) = run_measured(&opts, &root, &["move", id, "in_progress"])?;
            moves.push(d);
            peak = peak.max(rss);
            run_measured(
                &opts,
                &root,
                &["reopen", id, "todo", "--reason", "bench reset"],
            )?;
        }
        let mv = if moves.is_empty() {
            Duration::ZERO
        } else {
            median(moves)
        };
        // `check` with 1% of the items drifted: their documents edited, not yet indexed.
        let drift_files: Vec<PathBuf> = (0..g.items / 100)
            .map(|k| {
                let i = k * 50;
                root.join(format!("stories/d{:04}/ST-{i:06}.md", i / 500))
            })
            .filter(|p| p.exists())
            .collect();
        let originals: Vec<String> = drift_files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        for (p, text) in drift_files.iter().zip(&originals) {
            let edited = text.replacen("status: todo", "status: done", 1).replacen(
                "status: in_progress",
                "status: done",
                1,
            );
            let edited = if edited == *text {
                text.replacen("status: done", "status: cancelled", 1)
            } else {
                edited
            };
            std::fs::write(p, edited)?;
        }
        let mut checks = Vec::new();
        for _ in 0..runs {
            let (d, rss) = run_measured(&opts, &root, &["check"])?;
            checks.push(d);
            peak = peak.max(rss);
        }
        for (p, text) in drift_files.iter().zip(&originals) {
            std::fs::write(p, text)?;
        }
        // The documents just restored, and those `move` and `reopen` wrote, are inside the
        // racy window (see `generate`): wait it out before the store records them, so what
        // follows (the cold-cache runs, or the next invocation on this folder) starts from a
        // repository at rest. Back-to-back invocations measured the warm index at 1k 1.47× the
        // stat floor, then 1.88× and 1.89×: their first runs re-read and re-recorded those files.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        run_measured(&opts, &root, &["index"])?;
        let check = median(checks);
        let cold = median(cold);
        if opts.drop_caches {
            let mut floors = Vec::new();
            let mut indexes = Vec::new();
            for _ in 0..opts.runs {
                drop_page_cache()?;
                floors.push(time_floor(&opts, &root, 1, true)?);
                let _ = std::fs::remove_dir_all(&store);
                drop_page_cache()?;
                indexes.push(run_measured(&opts, &root, &["index"])?.0);
            }
            let (f, i) = (median(floors), median(indexes));
            cold_rows.push(vec![
                format!("{}", g.items),
                ms(f),
                ms(i),
                format!("{:.2}", i.as_secs_f64() / f.as_secs_f64()),
            ]);
        }
        rows.push(vec![
            format!("{}", g.items),
            format!("{}", g.files),
            ms(read_floor),
            ms(stat_floor),
            ms(cold),
            format!("{:.2}", cold.as_secs_f64() / read_floor.as_secs_f64()),
            ms(warm),
            format!("{:.2}", warm.as_secs_f64() / stat_floor.as_secs_f64()),
            ms(list),
            ms(status),
            ms(show),
            ms(mv),
            ms(check),
            format!("{:.2}", check.as_secs_f64() / warm.as_secs_f64()),
            format!("{:.0}", peak as f64 / 1024.0),
        ]);
    }
    let header = [
        "items",
        "files",
        "read floor ms",
        "stat floor ms",
        "cold index ms",
        "x read",
        "warm index ms",
        "x stat",
        "list --json ms",
        "status --json ms",
        "show ms",
        "move ms",
        "check 1% drift ms",
        "x warm",
        "peak RSS MB",
    ];
    println!("| {} |", header.join(" | "));
    println!("|{}", "---:|".repeat(header.len()));
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
    println!("\nMedians of {} runs per row ({} at 1k items and {} at 10k, where a run is short and a busy moment moves a median of few; the cold-cache table: {}); times are wall clock of the whole `evident` process (start-up included). Each floor run is taken right before the index run it is compared with. Both programs run from plain copies, as installed binaries do (see `installed_copies`).", opts.runs, runs_at(opts.runs, 1000), runs_at(opts.runs, 10_000), opts.runs);
    println!(
        "Cold index: an empty store, with the OS page cache as the previous runs left it (warm)."
    );
    println!("check 1% drift: documents of 1% of the items edited and not yet indexed; x warm = against the warm no-change index.");
    println!("Targets: cold index ≤ 3× read floor; warm index ≤ 1.5× stat floor; status --json < 100 ms at 100k; peak RSS ≤ 300 MB at 100k; check ≤ 1.5× warm index.");
    println!("Machine: {}.", machine());
    if !cold_rows.is_empty() {
        println!("\nWith the OS page cache dropped before every run:\n");
        println!("| items | read floor ms (cold cache) | cold index ms (cold cache) | x read |");
        println!("|---:|---:|---:|---:|");
        for r in cold_rows {
            println!("| {} |", r.join(" | "));
        }
    }
    Ok(())
}
