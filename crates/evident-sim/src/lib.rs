//! A deterministic, seedable simulation of several machines working on one repository with a
//! shared store, driving the real `evident` and `git` binaries. Random steps (edit a status in a
//! file, commit, push, pull through the merge driver, `move`, `reopen`, `index`, `fix` with and
//! without `--pull` and `--no-writeback`, `fix` killed at a failpoint, `check`) are checked
//! after every step against the truth model's invariants:
//!
//! - I1: no item's effective rank goes down without a reopen (or override) event for it;
//! - I2: a status edited in a file is, once that checkout indexes, applied or reported (EV117);
//! - I4: a `fix` right after a `fix` changes nothing: no commit, no file, no event;
//! - I5: a writeback commit changes only status values;
//! - and `check` writes nothing.
//!
//! At the end every machine commits, pulls, fixes and pushes until they agree, and then every
//! file and the store must agree (I3). A failure carries the seed and the steps, shrunk to a
//! minimal failing sequence.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Statuses of the workplan workflow with their ranks.
const STATUSES: &[(&str, i64)] = &[
    ("todo", 0),
    ("in_progress", 1),
    ("blocked", 1),
    ("done", 2),
    ("cancelled", 2),
];
const MACHINES: usize = 3;
const TASKS: usize = 5;
/// Items: T-0..T-4 in the workplan, S-1 and S-2 one per file.
fn items() -> Vec<String> {
    let mut v: Vec<String> = (0..TASKS).map(|i| format!("T-{i}")).collect();
    v.push("S-1".into());
    v.push("S-2".into());
    v
}

fn rank(status: &str) -> i64 {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, r)| *r)
        .unwrap_or(-1)
}

fn file_of(item: &str) -> String {
    if item.starts_with('T') {
        "plan.md".into()
    } else {
        format!("{}.md", item.to_lowercase())
    }
}

/// One step of the simulation (data, so a trace replays exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    EditFile {
        m: usize,
        item: usize,
        status: usize,
    },
    Commit {
        m: usize,
    },
    Push {
        m: usize,
    },
    Pull {
        m: usize,
    },
    Move {
        m: usize,
        item: usize,
        status: usize,
    },
    Reopen {
        m: usize,
        item: usize,
        status: usize,
    },
    Index {
        m: usize,
    },
    Fix {
        m: usize,
        pull: bool,
        writeback: bool,
        crash: Option<&'static str>,
    },
    Check {
        m: usize,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let it = items();
        match self {
            Step::EditFile { m, item, status } => write!(
                f,
                "m{m}: edit {} to {} in the file",
                it[*item], STATUSES[*status].0
            ),
            Step::Commit { m } => write!(f, "m{m}: git commit -a"),
            Step::Push { m } => write!(f, "m{m}: git push"),
            Step::Pull { m } => write!(f, "m{m}: git pull (merge driver)"),
            Step::Move { m, item, status } => write!(
                f,
                "m{m}: evident move {} {}",
                it[*item], STATUSES[*status].0
            ),
            Step::Reopen { m, item, status } => write!(
                f,
                "m{m}: evident reopen {} {}",
                it[*item], STATUSES[*status].0
            ),
            Step::Index { m } => write!(f, "m{m}: evident index"),
            Step::Fix {
                m,
                pull,
                writeback,
                crash,
            } => write!(
                f,
                "m{m}: evident fix{}{}{}",
                if *pull { " --pull" } else { "" },
                if *writeback { "" } else { " --no-writeback" },
                crash
                    .map(|c| format!(" (killed at {c})"))
                    .unwrap_or_default()
            ),
            Step::Check { m } => write!(f, "m{m}: evident check"),
        }
    }
}

/// A small deterministic generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The random steps for a seed.
pub fn generate(seed: u64, steps: usize) -> Vec<Step> {
    let mut r = Rng::new(seed);
    let n_items = items().len();
    (0..steps)
        .map(|_| {
            let m = r.below(MACHINES);
            match r.below(100) {
                0..=19 => Step::EditFile {
                    m,
                    item: r.below(n_items),
                    status: r.below(STATUSES.len()),
                },
                20..=29 => Step::Commit { m },
                30..=37 => Step::Push { m },
                38..=45 => Step::Pull { m },
                46..=57 => Step::Move {
                    m,
                    item: r.below(n_items),
                    status: r.below(STATUSES.len()),
                },
                58..=61 => Step::Reopen {
                    m,
                    item: r.below(n_items),
                    status: r.below(3),
                },
                62..=69 => Step::Index { m },
                70..=94 => {
                    let crash = match r.below(10) {
                        0 => Some(
                            ["fix:before-write", "fix:after-write", "fix:after-index"][r.below(3)],
                        ),
                        _ => None,
                    };
                    Step::Fix {
                        m,
                        pull: r.below(3) == 0,
                        writeback: r.below(5) != 0,
                        crash,
                    }
                }
                _ => Step::Check { m },
            }
        })
        .collect()
}

/// Why a run failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Index of the failing step (`steps.len()` for the final convergence check).
    pub at: usize,
    pub invariant: String,
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated at step {}: {}",
            self.invariant, self.at, self.detail
        )
    }
}

fn fail(at: usize, invariant: &str, detail: impl Into<String>) -> Failure {
    Failure {
        at,
        invariant: invariant.into(),
        detail: detail.into(),
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Which store the simulated machines share.
#[derive(Debug, Clone)]
pub enum SimStore {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL hub on this server (a URL without `schema`); every world gets its own
    /// schema, created with `evident migrate` and dropped afterwards.
    Postgres(String),
}

impl SimStore {
    pub fn name(&self) -> &'static str {
        match self {
            SimStore::Sqlite => "sqlite",
            SimStore::Postgres(_) => "postgres",
        }
    }
}

static WORLDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One simulated world: a bare repository, its clones, a shared store.
pub struct World {
    _tmp: tempfile::TempDir,
    evident: PathBuf,
    /// The shared store's URL (a file path for SQLite).
    store: String,
    /// The PostgreSQL schema to drop when the world ends.
    pg: Option<evident_store::PgTarget>,
    clones: Vec<PathBuf>,
    /// Items' effective ranks after the previous step.
    ranks: HashMap<String, i64>,
    last_seq: i64,
    /// Per machine: file edits not yet seen by that checkout's index (item, status).
    pending: Vec<Vec<(String, String)>>,
}

const PLAN_HEAD: &str = "---\nid: WP-1\ntype: workplan\ntitle: Simulated plan\nstatus: in_progress\n---\n\n# Simulated plan\n\n## Tasks\n";

fn initial_files() -> Vec<(String, String)> {
    let mut plan = PLAN_HEAD.to_string();
    for i in 0..TASKS {
        let q = ["todo", "\"todo\"", "'todo'  # quoted"][i % 3];
        plan.push_str(&format!("\n### T{i} — Task {i}\n\n```task\nid: T-{i}\nstatus: {q}\npriority: high\n```\n\nWork {i}.\n"));
    }
    vec![
        ("plan.md".into(), plan),
        ("s-1.md".into(), "---\nid: S-1\nstatus: todo\nkind: task\ntitle: \"Story one\"\n---\n\n## Notes\n\nText.\n".into()),
        ("s-2.md".into(), "---\nid: S-2\nstatus: in-progress   # kebab\nkind: task\ntitle: Story two\n---\n".into()),
    ]
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(t) = &self.pg {
            let _ = evident_store::PgStore::drop_schema(t);
        }
    }
}

impl World {
    pub fn new(evident: &Path, backend: &SimStore) -> Result<World, String> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let base = tmp.path().to_path_buf();
        let bare = base.join("origin.git");
        let (store, pg) = match backend {
            SimStore::Sqlite => (base.join("hub.db").display().to_string(), None),
            SimStore::Postgres(server) => {
                let n = WORLDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sep = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{sep}schema=sim_{}_{n}", std::process::id());
                let t = evident_store::PgTarget::parse(&url).map_err(|e| e.to_string())?;
                let _ = evident_store::PgStore::drop_schema(&t);
                (url, Some(t))
            }
        };
        let seed_dir = base.join("seed");
        std::fs::create_dir_all(&seed_dir).map_err(|e| e.to_string())?;
        let mut w = World {
            _tmp: tmp,
            evident: evident.to_path_buf(),
            store,
            pg,
            clones: vec![],
            ranks: HashMap::new(),
            last_seq: 0,
            pending: vec![vec![]; MACHINES],
        };
        git_ok(
            &base,
            &["init", "-q", "--bare", bare.to_str().unwrap_or_default()],
        )?;
        git_ok(&seed_dir, &["init", "-q"])?;
        w.evident_in(
            &seed_dir,
            0,
            &["init", "--preset", "workplan", "--no-examples"],
            &[],
        )?;
        if w.pg.is_some() {
            let o = w.evident_in(&seed_dir, 0, &["migrate"], &[])?;
            if o.code != 0 {
                return Err(format!("evident migrate: {}", o.stderr));
            }
        }
        for (rel, text) in initial_files() {
            std::fs::write(seed_dir.join(rel), text).map_err(|e| e.to_string())?;
        }
        w.evident_in(&seed_dir, 0, &["merge-driver", "install"], &[])?;
        git_ok(&seed_dir, &["add", "-A"])?;
        git_ok(&seed_dir, &["commit", "-qm", "seed"])?;
        git_ok(&seed_dir, &["branch", "-M", "main"])?;
        git_ok(
            &seed_dir,
            &["push", "-q", bare.to_str().unwrap_or_default(), "main"],
        )?;
        for m in 0..MACHINES {
            let dir = base.join(format!("m{m}"));
            git_ok(
                &base,
                &[
                    "clone",
                    "-q",
                    "-b",
                    "main",
                    bare.to_str().unwrap_or_default(),
                    dir.to_str().unwrap_or_default(),
                ],
            )?;
            w.evident_in(&dir, m, &["merge-driver", "install"], &[])?;
            w.clones
                .push(dir.canonicalize().map_err(|e| e.to_string())?);
        }
        for m in 0..MACHINES {
            w.evident(m, &["index"])?;
        }
        w.snapshot_ranks()?;
        Ok(w)
    }

    fn evident_in(
        &self,
        dir: &Path,
        m: usize,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Out, String> {
        let mut c = Command::new(&self.evident);
        c.args(args)
            .current_dir(dir)
            .env("EVIDENT_STORE", &self.store)
            .env("EVIDENT_ACTOR", format!("agent-{m}"))
            .env("EVIDENT_MACHINE", format!("machine-{m}"))
            .env("NO_COLOR", "1")
            .env("GIT_AUTHOR_NAME", "sim")
            .env("GIT_AUTHOR_EMAIL", "sim@example.com")
            .env("GIT_COMMITTER_NAME", "sim")
            .env("GIT_COMMITTER_EMAIL", "sim@example.com")
            .env_remove("EVIDENT_FAILPOINT");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().map_err(|e| format!("cannot run evident: {e}"))?;
        Ok(Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        })
    }

    fn evident(&self, m: usize, args: &[&str]) -> Result<Out, String> {
        self.evident_in(&self.clones[m], m, args, &[])
    }

    fn json(&self, m: usize, args: &[&str]) -> Result<Value, String> {
        let o = self.evident(m, args)?;
        serde_json::from_str(&o.stdout).map_err(|e| {
            format!(
                "evident {args:?} gave no JSON ({e}): {} {}",
                o.stdout, o.stderr
            )
        })
    }

    /// Effective statuses from the shared store.
    fn statuses(&self) -> Result<HashMap<String, String>, String> {
        let j = self.json(0, &["--json", "list"])?;
        Ok(j["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| {
                        Some((
                            i["id"].as_str()?.to_string(),
                            i["status"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn snapshot_ranks(&mut self) -> Result<(), String> {
        self.ranks = self
            .statuses()?
            .into_iter()
            .map(|(k, v)| (k, rank(&v)))
            .collect();
        let j = self.json(0, &["--json", "log", "--limit", "1"])?;
        self.last_seq = j["events"][0]["seq"].as_i64().unwrap_or(0);
        Ok(())
    }

    fn head(&self, m: usize) -> String {
        git_out(&self.clones[m], &["rev-parse", "HEAD"]).unwrap_or_default()
    }

    /// The status an item's document says in machine `m`'s checkout.
    fn file_status(&self, m: usize, item: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.clones[m].join(file_of(item))).ok()?;
        let key = format!("id: {item}\nstatus:");
        let at = text.find(&key)? + key.len();
        let line = text[at..].lines().next()?.trim();
        let value = line
            .split('#')
            .next()?
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        Some(value.replace('-', "_"))
    }

    fn set_file_status(&self, m: usize, item: &str, status: &str) -> Result<(), String> {
        let path = self.clones[m].join(file_of(item));
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let key = format!("id: {item}\nstatus:");
        let Some(at) = text.find(&key).map(|a| a + key.len()) else {
            return Ok(());
        };
        let end = text[at..].find('\n').map(|e| at + e).unwrap_or(text.len());
        let new = format!("{} {status}{}", &text[..at], &text[end..]);
        std::fs::write(&path, new).map_err(|e| e.to_string())
    }

    fn snapshot_files(&self) -> Vec<String> {
        self.clones
            .iter()
            .flat_map(|c| {
                initial_files()
                    .into_iter()
                    .map(move |(rel, _)| std::fs::read_to_string(c.join(rel)).unwrap_or_default())
            })
            .collect()
    }

    fn events_since(&self, seq: i64) -> Result<Vec<Value>, String> {
        let j = self.json(0, &["--json", "log", "--limit", "500"])?;
        Ok(j["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["seq"].as_i64().unwrap_or(0) > seq)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// What machine `m`'s checkout last read for `item` (Evident's own memory).
    fn memory(&self, m: usize, item: &str) -> Result<Option<String>, String> {
        let j = self.json(m, &["--json", "show", item])?;
        let me = self.clones[m].display().to_string();
        Ok(j["sources"].as_array().and_then(|a| {
            a.iter()
                .find(|s| s["checkout"] == me.as_str())
                .and_then(|s| s["file_status"].as_str().map(str::to_string))
        }))
    }

    /// Take machine `m`'s pending file edits in `scope` (a document, or all) that are edits from
    /// the checkout's point of view: the file still says it and the checkout last read otherwise.
    fn candidates(
        &mut self,
        m: usize,
        scope: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        let pending = std::mem::take(&mut self.pending[m]);
        let mut out = Vec::new();
        for (item, status) in pending {
            if scope.is_some_and(|f| f != file_of(&item)) {
                self.pending[m].push((item, status));
                continue;
            }
            if self.file_status(m, &item).as_deref() != Some(status.as_str()) {
                continue; // replaced (by git or Evident) before this checkout read it
            }
            if self.memory(m, &item)?.as_deref() == Some(status.as_str()) {
                continue; // this checkout already read exactly this
            }
            out.push((item, status));
        }
        Ok(out)
    }

    /// I2: each candidate edit is now applied (effective rank at least the edit's) or reported.
    fn verify(
        &mut self,
        m: usize,
        at: usize,
        cands: &[(String, String)],
        output: &str,
    ) -> Result<(), Failure> {
        if cands.is_empty() {
            return Ok(());
        }
        let now = self.statuses().map_err(|e| fail(at, "harness", e))?;
        let diags = self
            .json(m, &["--json", "diagnostics"])
            .map_err(|e| fail(at, "harness", e))?;
        let events = self
            .events_since(self.last_seq)
            .map_err(|e| fail(at, "harness", e))?;
        for (item, status) in cands {
            // Applied and then explicitly lowered in the same step.
            let reopened = events.iter().any(|e| {
                e["item"] == item.as_str() && (e["action"] == "reopen" || e["action"] == "override")
            });
            if reopened {
                continue;
            }
            let eff = now.get(item).map(|s| rank(s)).unwrap_or(-1);
            let in_output = output.contains("EV117") && output.contains(&format!("\"{item}\""));
            let in_store = diags["diagnostics"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|d| d["code"] == "EV117" && d["item"] == item.as_str())
            });
            if eff < rank(status) && !in_output && !in_store {
                return Err(fail(
                    at,
                    "I2 no lost edit",
                    format!("m{m}'s file says {item} = {status} but the store has {:?}, and nothing was reported", now.get(item)),
                ));
            }
        }
        Ok(())
    }

    /// Run one step and check the invariants.
    pub fn step(&mut self, at: usize, step: &Step) -> Result<(), Failure> {
        let it = items();
        let io = |e: String| fail(at, "harness", e);
        // Steps that read documents: which machine, and which documents.
        let reads: Option<(usize, Option<String>)> = match step {
            Step::Index { m } | Step::Fix { m, .. } => Some((*m, None)),
            Step::Move { m, item, .. } | Step::Reopen { m, item, .. } => {
                Some((*m, Some(file_of(&it[*item]))))
            }
            _ => None,
        };
        let cands = match &reads {
            Some((m, scope)) => self.candidates(*m, scope.as_deref()).map_err(io)?,
            None => vec![],
        };
        let mut observed: Option<String> = None;
        match step {
            Step::EditFile { m, item, status } => {
                let (item, status) = (&it[*item], STATUSES[*status].0);
                if self.file_status(*m, item).as_deref() != Some(status) {
                    self.set_file_status(*m, item, status).map_err(io)?;
                    self.pending[*m].retain(|(i, _)| i != item);
                    self.pending[*m].push((item.clone(), status.to_string()));
                }
            }
            Step::Commit { m } => {
                let _ = git_out(&self.clones[*m], &["add", "-A"]);
                let _ = git_out(&self.clones[*m], &["commit", "-qm", "sim edit"]);
            }
            Step::Push { m } => {
                let _ = git_out(&self.clones[*m], &["push", "-q"]);
            }
            Step::Pull { m } => self.pull(*m, at)?,
            Step::Move { m, item, status } => {
                let o = self
                    .evident(*m, &["--json", "move", &it[*item], STATUSES[*status].0])
                    .map_err(io)?;
                observed = Some(o.stdout + &o.stderr);
            }
            Step::Reopen { m, item, status } => {
                let o = self
                    .evident(
                        *m,
                        &[
                            "--json",
                            "reopen",
                            &it[*item],
                            STATUSES[*status].0,
                            "--reason",
                            "simulated reopen",
                        ],
                    )
                    .map_err(io)?;
                observed = Some(o.stdout + &o.stderr);
            }
            Step::Index { m } => {
                let o = self.evident(*m, &["--json", "index"]).map_err(io)?;
                observed = Some(o.stdout);
            }
            Step::Check { m } => {
                let (files, statuses, events, head) = (
                    self.snapshot_files(),
                    self.statuses().map_err(io)?,
                    self.events_since(0).map_err(io)?.len(),
                    self.head(*m),
                );
                self.evident(*m, &["check"]).map_err(io)?;
                let after = (
                    self.snapshot_files(),
                    self.statuses().map_err(io)?,
                    self.events_since(0).map_err(io)?.len(),
                    self.head(*m),
                );
                if (files, statuses, events, head) != after {
                    return Err(fail(
                        at,
                        "check is read-only",
                        "check changed a file, the store, the journal or HEAD",
                    ));
                }
            }
            Step::Fix {
                m,
                pull,
                writeback,
                crash,
            } => {
                let mut args = vec!["--json", "fix"];
                if *pull {
                    args.push("--pull");
                }
                if !*writeback {
                    args.push("--no-writeback");
                }
                let head_before = self.head(*m);
                let env: Vec<(&str, &str)> = crash
                    .map(|c| vec![("EVIDENT_FAILPOINT", c)])
                    .unwrap_or_default();
                let o = self
                    .evident_in(&self.clones[*m].clone(), *m, &args, &env)
                    .map_err(io)?;
                if crash.is_some() && o.code == 86 {
                    // Killed half-way (every failpoint is after the index): every file must still
                    // parse, old or new, never torn.
                    observed = Some(String::new());
                    let idx = self.evident(*m, &["--json", "check"]).map_err(io)?;
                    if idx.stdout.contains("\"EV101\"") {
                        return Err(fail(
                            at,
                            "crash safety",
                            "a document is torn after a killed fix",
                        ));
                    }
                } else {
                    if o.code != 0 && o.code != 2 {
                        return Err(fail(
                            at,
                            "fix runs",
                            format!("exit {}: {}", o.code, o.stderr),
                        ));
                    }
                    let report: Value =
                        serde_json::from_str(&o.stdout).map_err(|e| io(e.to_string()))?;
                    let gated = report["findings"].as_array().is_some_and(|f| {
                        f.iter()
                            .any(|x| x["code"] == "EV207" && x["severity"] == "warning")
                    });
                    if !gated {
                        observed = Some(o.stdout.clone());
                    }
                    if report["commit"].is_string() && self.head(*m) != head_before {
                        self.check_i5(*m, at)?;
                    }
                    if !gated && *writeback {
                        // I4: a second fix right away changes nothing.
                        let (files, head, events) = (
                            self.snapshot_files(),
                            self.head(*m),
                            self.events_since(0).map_err(io)?.len(),
                        );
                        let again = self.json(*m, &["--json", "fix"]).map_err(io)?;
                        let after = (
                            self.snapshot_files(),
                            self.head(*m),
                            self.events_since(0).map_err(io)?.len(),
                        );
                        if !again["commit"].is_null() || (files, head, events) != after {
                            return Err(fail(
                                at,
                                "I4 idempotence",
                                format!("a second fix changed something: {again}"),
                            ));
                        }
                    }
                }
            }
        }
        if let Some((m, _)) = reads {
            match &observed {
                Some(output) => self.verify(m, at, &cands, output)?,
                None => self.pending[m].extend(cands),
            }
        }
        self.check_i1(at)
    }

    fn pull(&mut self, m: usize, at: usize) -> Result<(), Failure> {
        let dir = self.clones[m].clone();
        if git_out(&dir, &["pull", "-q", "--no-rebase", "--no-edit"]).is_err()
            && dir.join(".git/MERGE_HEAD").exists()
        {
            let status = git_out(&dir, &["status", "--porcelain"]).unwrap_or_default();
            return Err(fail(
                at,
                "merge driver",
                format!("the pull left conflicts:\n{status}"),
            ));
        }
        Ok(())
    }

    /// I1: every rank that went down has a reopen or override event since the last step.
    fn check_i1(&mut self, at: usize) -> Result<(), Failure> {
        let now = self.statuses().map_err(|e| fail(at, "harness", e))?;
        let events = self
            .events_since(self.last_seq)
            .map_err(|e| fail(at, "harness", e))?;
        for (id, status) in &now {
            let (before, after) = (self.ranks.get(id).copied().unwrap_or(-1), rank(status));
            if after < before {
                let explained = events.iter().any(|e| {
                    e["item"] == id.as_str()
                        && (e["action"] == "reopen" || e["action"] == "override")
                });
                if !explained {
                    return Err(fail(
                        at,
                        "I1 no silent regression",
                        format!("{id} went from rank {before} to {status} without a reopen"),
                    ));
                }
            }
        }
        self.snapshot_ranks().map_err(|e| fail(at, "harness", e))
    }

    /// I5: the writeback commit just made changed only status values.
    fn check_i5(&self, m: usize, at: usize) -> Result<(), Failure> {
        let diff = git_out(&self.clones[m], &["diff", "-U0", "HEAD~1", "HEAD"]).unwrap_or_default();
        let minus: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .collect();
        let plus: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .collect();
        let strip = |l: &str| -> Option<String> {
            let body = &l[1..];
            let rest = body.trim_start().strip_prefix("status:")?;
            let value = rest.trim_start();
            let end = value
                .find("  #")
                .or_else(|| value.find(" #"))
                .unwrap_or(value.len());
            Some(format!(
                "{}status:{}",
                &body[..body.len() - body.trim_start().len()],
                &value[end..]
            ))
        };
        let ok = minus.len() == plus.len()
            && minus
                .iter()
                .zip(plus.iter())
                .all(|(a, b)| strip(a).is_some() && strip(a) == strip(b));
        if !ok {
            return Err(fail(
                at,
                "I5 minimal writeback",
                format!("the writeback commit changed more than status values:\n{diff}"),
            ));
        }
        Ok(())
    }

    /// I3: after every machine commits, pulls, fixes and pushes, all agree.
    /// `status` counts items by kind and status, and open items by lane, from what the store
    /// keeps for that purpose (SQLite: a table of counts kept by triggers): the counts must be
    /// those of the items `list` shows.
    fn check_counts(&self, at: usize) -> Result<(), Failure> {
        let io = |e: String| fail(at, "harness", e);
        let list = self.json(0, &["--json", "list"]).map_err(io)?;
        let status = self.json(0, &["--json", "status"]).map_err(io)?;
        let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut by_lane: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for i in list["items"].as_array().into_iter().flatten() {
            let text = |k: &str| i[k].as_str().map(str::to_string);
            *by_status
                .entry((
                    text("kind").unwrap_or_default(),
                    text("status").unwrap_or_default(),
                ))
                .or_default() += 1;
            if i["terminal"] == false {
                *by_lane.entry(text("lane")).or_default() += 1;
            }
        }
        let said: BTreeMap<(String, String), u64> = status["by_kind_status"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (
                    (text("kind"), text("status")),
                    r["count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let said_lanes: BTreeMap<Option<String>, u64> = status["by_lane"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["lane"].as_str().map(str::to_string),
                    r["open"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        if said != by_status || said_lanes != by_lane {
            return Err(fail(
                at,
                "status counts",
                format!(
                    "status says {said:?} and lanes {said_lanes:?}; the items listed give {by_status:?} and {by_lane:?}"
                ),
            ));
        }
        Ok(())
    }

    pub fn converge(&mut self, at: usize) -> Result<(), Failure> {
        let io = |e: String| fail(at, "harness", e);
        for _round in 0..6 {
            for m in 0..MACHINES {
                let dir = self.clones[m].clone();
                let _ = git_out(&dir, &["add", "-A"]);
                let _ = git_out(&dir, &["commit", "-qm", "sim: commit before converging"]);
                self.pull(m, at)?;
                let o = self.evident(m, &["--json", "fix"]).map_err(io)?;
                if o.code != 0 && o.code != 2 {
                    return Err(fail(
                        at,
                        "I3 convergence",
                        format!("fix failed: {}", o.stderr),
                    ));
                }
                let _ = git_out(&dir, &["push", "-q"]);
            }
        }
        let heads: Vec<String> = (0..MACHINES).map(|m| self.head(m)).collect();
        if heads.iter().any(|h| h != &heads[0]) {
            return Err(fail(
                at,
                "I3 convergence",
                format!("machines ended on different commits: {heads:?}"),
            ));
        }
        let store = self.statuses().map_err(io)?;
        for m in 0..MACHINES {
            for item in items() {
                let file = self.file_status(m, &item);
                if file.as_deref() != store.get(&item).map(String::as_str) {
                    return Err(fail(
                        at,
                        "I3 convergence",
                        format!(
                            "m{m}'s file says {item} = {file:?}, the store {:?}",
                            store.get(&item)
                        ),
                    ));
                }
            }
            let check = self.json(m, &["--json", "check"]).map_err(io)?;
            if check["findings"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x["severity"] != "info"))
            {
                return Err(fail(
                    at,
                    "I3 convergence",
                    format!("check on m{m} still finds: {check}"),
                ));
            }
        }
        self.check_counts(at)?;
        self.check_i1(at)
    }
}

fn git_out(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new("git")
        .args(["-c", "user.name=sim", "-c", "user.email=sim@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "true")
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

fn git_ok(dir: &Path, args: &[&str]) -> Result<(), String> {
    git_out(dir, args)
        .map(|_| ())
        .map_err(|e| format!("git {args:?}: {e}"))
}

/// Run a trace from a fresh world.
pub fn run_trace(evident: &Path, backend: &SimStore, steps: &[Step]) -> Result<(), Failure> {
    let mut w = World::new(evident, backend).map_err(|e| fail(0, "harness", e))?;
    for (i, s) in steps.iter().enumerate() {
        w.step(i, s)?;
    }
    w.converge(steps.len())
}

/// Shrink a failing trace: drop chunks while the same invariant still fails, within `budget`
/// replays.
pub fn shrink(
    evident: &Path,
    backend: &SimStore,
    steps: &[Step],
    failure: &Failure,
    mut budget: usize,
) -> (Vec<Step>, Failure) {
    let mut best: Vec<Step> = steps[..(failure.at + 1).min(steps.len())].to_vec();
    let mut best_failure = failure.clone();
    let mut chunk = best.len().div_ceil(2).max(1);
    while chunk >= 1 && budget > 0 {
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() && budget > 0 {
            let mut candidate = best.clone();
            let end = (i + chunk).min(candidate.len());
            candidate.drain(i..end);
            budget -= 1;
            match run_trace(evident, backend, &candidate) {
                Err(f) if f.invariant == failure.invariant => {
                    best = candidate[..(f.at + 1).min(candidate.len())].to_vec();
                    best_failure = f;
                    progressed = true;
                }
                _ => i += chunk,
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    (best, best_failure)
}

/// Locate the `evident` binary: `EVIDENT_BIN`, else next to this executable (or its parent,
/// for test executables in `deps/`).
pub fn find_evident() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EVIDENT_BIN") {
        return PathBuf::from(p).canonicalize().ok();
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("evident"), dir.parent()?.join("evident")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Summary of a successful run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub seed: u64,
    pub steps: usize,
}

/// Run `steps` random steps for `seed`; on failure, a shrunk reproduction.
pub fn simulate(
    evident: &Path,
    backend: &SimStore,
    seed: u64,
    steps: usize,
) -> Result<Summary, String> {
    let trace = generate(seed, steps);
    match run_trace(evident, backend, &trace) {
        Ok(()) => Ok(Summary { seed, steps }),
        Err(f) => {
            eprintln!(
                "[{}] seed {seed}: {f}; shrinking the {} steps...",
                backend.name(),
                f.at + 1
            );
            let (min, mf) = shrink(evident, backend, &trace, &f, 60);
            let mut s = format!(
                "[{}] seed {seed}: {f}\nminimal reproduction ({} steps), {mf}:\n",
                backend.name(),
                min.len()
            );
            for (i, st) in min.iter().enumerate() {
                s.push_str(&format!("  {i:>4}. {st}\n"));
            }
            Err(s)
        }
    }
}
