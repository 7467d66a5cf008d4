//! Git access for the consistency engine, through the `git` command (the user's own git, with
//! their configuration, credentials and hooks). Every call is counted so tests can assert how
//! many a command makes. Network calls are best effort: offline or no remote is not an error.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// How many git commands this process has run.
pub fn calls() -> usize {
    CALLS.load(Ordering::Relaxed)
}

fn git(root: &Path) -> Command {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(root)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    c
}

fn run(root: &Path, args: &[&str]) -> Option<Output> {
    git(root).args(args).stdin(Stdio::null()).output().ok()
}

fn ok_stdout(root: &Path, args: &[&str]) -> Option<String> {
    run(root, args)
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Is `root` inside a git work tree?
pub fn is_repo(root: &Path) -> bool {
    ok_stdout(root, &["rev-parse", "--is-inside-work-tree"]).as_deref() == Some("true")
}

/// The upstream of the current branch, if any (`origin/main`).
pub fn upstream(root: &Path) -> Option<String> {
    ok_stdout(
        root,
        &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"],
    )
    .filter(|s| !s.is_empty())
}

/// Fetch the upstream's remote, best effort: gives up silently when offline, when there is no
/// remote, or after `timeout`.
pub fn fetch(root: &Path, timeout: Duration) {
    let Ok(mut child) = git(root)
        .args(["fetch", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// How many commits HEAD is behind its upstream (`None` without an upstream).
pub fn behind(root: &Path) -> Option<u64> {
    upstream(root)?;
    ok_stdout(root, &["rev-list", "--count", "HEAD..@{u}"]).and_then(|s| s.parse().ok())
}

/// `git pull --ff-only`; the error text when it fails.
pub fn pull_ff_only(root: &Path) -> Result<(), String> {
    match run(root, &["pull", "--ff-only", "--quiet"]) {
        Some(o) if o.status.success() => Ok(()),
        Some(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        None => Err("git could not be run".into()),
    }
}

/// Which of `paths` (repository-relative) have uncommitted changes, staged or not.
pub fn dirty(root: &Path, paths: &[&str]) -> std::collections::HashSet<String> {
    let mut args = vec!["status", "--porcelain", "-z", "--"];
    args.extend_from_slice(paths);
    let Some(out) = run(root, &args).filter(|o| o.status.success()) else {
        return Default::default();
    };
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|e| e.len() > 3)
        .map(|e| e[3..].to_string())
        .collect()
}

/// Stage `paths` and commit exactly them; the new commit's id, or the error text.
pub fn commit(
    root: &Path,
    paths: &[&str],
    subject: &str,
    body: &str,
    trailer: &str,
) -> Result<String, String> {
    let mut add = vec!["add", "--"];
    add.extend_from_slice(paths);
    match run(root, &add) {
        Some(o) if o.status.success() => {}
        Some(o) => return Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        None => return Err("git could not be run".into()),
    }
    let mut args = vec![
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        subject,
        "-m",
        body,
        "-m",
        trailer,
        "--",
    ];
    args.extend_from_slice(paths);
    match run(root, &args) {
        Some(o) if o.status.success() => {}
        Some(o) => {
            let mut e = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if e.is_empty() {
                e = String::from_utf8_lossy(&o.stdout).trim().to_string();
            }
            return Err(e);
        }
        None => return Err("git could not be run".into()),
    }
    ok_stdout(root, &["rev-parse", "HEAD"]).ok_or_else(|| "commit made but HEAD unreadable".into())
}

/// The commit HEAD points at, if any.
pub fn head(root: &Path) -> Option<String> {
    ok_stdout(root, &["rev-parse", "--verify", "-q", "HEAD"])
}

/// Is `commit` a commit in this repository that HEAD contains?
pub fn commit_reachable(root: &Path, commit: &str) -> Result<(), String> {
    if commit.starts_with('-') || !commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.len() < 4
    {
        return Err(format!(
            "`{commit}` is not a commit id (4 to 40 hex digits)"
        ));
    }
    let obj = format!("{commit}^{{commit}}");
    if ok_stdout(root, &["rev-parse", "--verify", "-q", &obj]).is_none() {
        return Err(format!("commit {commit} is not in this repository"));
    }
    match run(root, &["merge-base", "--is-ancestor", commit, "HEAD"]) {
        Some(o) if o.status.success() => Ok(()),
        _ => Err(format!(
            "commit {commit} exists but HEAD does not contain it"
        )),
    }
}

/// Is `path` (repository-relative) present in HEAD's tree?
pub fn path_at_head(root: &Path, path: &str) -> bool {
    run(root, &["cat-file", "-e", &format!("HEAD:{path}")]).is_some_and(|o| o.status.success())
}

/// Unix time of the last commit touching `path`, if any.
pub fn last_commit_time(root: &Path, path: &str) -> Option<i64> {
    ok_stdout(root, &["log", "-1", "--format=%ct", "--", path])?
        .parse()
        .ok()
}
