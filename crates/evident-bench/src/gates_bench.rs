//! `evident-bench --gates`: `gate check --all` and `readiness` over generated repositories
//! whose stories and tasks carry gates. It reports the first pass (every gate evaluated), the
//! second pass over unchanged items (which must evaluate nothing: the count is printed from the
//! command's own JSON), and `readiness` on the warm cache.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{generate, median, ms, run_measured, Opts, CONFIG};

const GATES: &str = r#"
[[gates]]
id = "story-done"
kind = "story"
into = ["done"]
severity = "advisory"

  [[gates.criteria]]
  id = "acceptance"
  section = "Acceptance Criteria"
  min = 2
  count = "checkboxes"

  [[gates.criteria]]
  id = "no-markers"
  no_markers = ["TBD", "TODO"]

  [[gates.criteria]]
  id = "deps-done"
  dependencies_done = true

[[gates]]
id = "task-done"
kind = "task"
into = ["done"]
severity = "advisory"

  [[gates.criteria]]
  id = "deps-done"
  dependencies_done = true
"#;

/// Run `evident ARGS --json` in `root`: (wall time, the JSON).
fn json(opts: &Opts, root: &Path, args: &[&str]) -> Result<(Duration, serde_json::Value)> {
    let t = Instant::now();
    let out = Command::new(&opts.evident)
        .args(args)
        .arg("--json")
        .current_dir(root)
        .env("EVIDENT_ACTOR", "bench")
        .output()?;
    let d = t.elapsed();
    if !matches!(out.status.code(), Some(0) | Some(2)) {
        bail!("evident {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v = serde_json::from_slice(&out.stdout).context("evident printed no JSON")?;
    Ok((d, v))
}

pub fn run(opts: &Opts) -> Result<()> {
    let mut rows = Vec::new();
    for &n in &opts.sizes {
        let root = opts.dir.join(format!("g{n}"));
        eprintln!("== gates over {n} items in {}", root.display());
        generate(&root, n)?;
        std::fs::write(root.join("evident.toml"), format!("{CONFIG}{GATES}"))?;
        let store = root.join(".evident");
        let mut first = Vec::new();
        let mut evaluated_first = 0u64;
        for _ in 0..opts.runs {
            let _ = std::fs::remove_dir_all(&store);
            run_measured(opts, &root, &["index"])?;
            let (d, v) = json(opts, &root, &["gate", "check", "--all"])?;
            evaluated_first = v["evaluated"].as_u64().unwrap_or(0);
            first.push(d);
        }
        let mut second = Vec::new();
        let mut evaluated_second = 0u64;
        let mut cached = 0u64;
        for _ in 0..opts.runs {
            let (d, v) = json(opts, &root, &["gate", "check", "--all"])?;
            evaluated_second += v["evaluated"].as_u64().unwrap_or(0);
            cached = v["cached"].as_u64().unwrap_or(0);
            second.push(d);
        }
        let mut ready = Vec::new();
        let mut score = String::new();
        for _ in 0..opts.runs {
            let (d, v) = json(opts, &root, &["readiness"])?;
            evaluated_second += v["evaluated"].as_u64().unwrap_or(0);
            score = format!("{}/{}", v["passed"], v["total"]);
            ready.push(d);
        }
        rows.push(vec![
            n.to_string(),
            evaluated_first.to_string(),
            ms(median(first)),
            cached.to_string(),
            evaluated_second.to_string(),
            ms(median(second)),
            ms(median(ready)),
            score,
        ]);
    }
    let header = [
        "items",
        "evaluated (1st)",
        "gate check --all 1st ms",
        "cached (2nd)",
        "evaluated (2nd + readiness)",
        "gate check --all 2nd ms",
        "readiness ms",
        "readiness score",
    ];
    println!("| {} |", header.join(" | "));
    println!("|{}", "---:|".repeat(header.len()));
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
    println!(
        "\nMedians of {} runs, whole processes. The second pass and readiness run over unchanged items: their evaluation count must be 0.",
        opts.runs
    );
    Ok(())
}
