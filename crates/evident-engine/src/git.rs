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
    may_be_repo(root)
        && ok_stdout(root, &["rev-parse", "--is-inside-work-tree"]).as_deref() == Some("true")
}

/// Could `root` be inside a git repository? False only when no folder from `root` up holds a
/// `.git` entry and `GIT_DIR` is unset: then git would only fail, and asking it costs a process
/// (`check` and `fix` on a folder outside git used to start one to learn there is no upstream).
fn may_be_repo(root: &Path) -> bool {
    std::env::var_os("GIT_DIR").is_some()
        || root
            .ancestors()
            .any(|d| std::fs::symlink_metadata(d.join(".git")).is_ok())
}

/// The upstream of the current branch, if any (`origin/main`).
pub fn upstream(root: &Path) -> Option<String> {
    if !may_be_repo(root) {
        return None;
    }
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

/// `user.name` as git would answer `git config user.name` from `root`, or `None` when it is not
/// set. Every event records an actor, and spawning git costs more than a small index, so the
/// plain cases are read from the configuration files directly (system, then global, then the
/// repository's own, the last value winning). Anything this reader does not follow (includes,
/// worktree configuration, `GIT_CONFIG_*` or `GIT_DIR` in the environment, a `.git` file, a
/// value continued over lines) is left to git itself.
pub fn user_name(root: &Path) -> Option<String> {
    let env: Vec<(String, std::ffi::OsString)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v))
        .collect();
    match user_name_from_files(root, &env) {
        Some(answer) => answer,
        None => ok_stdout(root, &["config", "user.name"]).filter(|s| !s.is_empty()),
    }
}

/// `Some(answer)` when the configuration files could be read without git; `None` to ask git.
/// `env` is the process environment.
fn user_name_from_files(
    root: &Path,
    env: &[(String, std::ffi::OsString)],
) -> Option<Option<String>> {
    let var = |name: &str| {
        env.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    if env
        .iter()
        .any(|(k, _)| k.starts_with("GIT_CONFIG") && k != "GIT_CONFIG_NOSYSTEM")
        || var("GIT_DIR").is_some()
    {
        return None;
    }
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    if var("GIT_CONFIG_NOSYSTEM").is_none() {
        files.push("/etc/gitconfig".into());
    }
    let home = var("HOME").map(std::path::PathBuf::from);
    match var("XDG_CONFIG_HOME") {
        Some(x) => files.push(std::path::PathBuf::from(x).join("git/config")),
        None => files.extend(home.as_ref().map(|h| h.join(".config/git/config"))),
    }
    files.extend(home.as_ref().map(|h| h.join(".gitconfig")));
    // The repository's own configuration: the nearest `.git` folder above `root`.
    let mut dir = Some(root);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(m) if m.is_dir() => {
                files.push(dot_git.join("config"));
                break;
            }
            // A worktree or submodule (`gitdir:` file), or a symlink: git knows where to look.
            Ok(_) => return None,
            Err(_) => dir = d.parent(),
        }
    }
    let mut name = None;
    for f in files {
        let text = match std::fs::read(&f) {
            Ok(b) => String::from_utf8(b).ok()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        if let Some(v) = parse_user_name(&text)? {
            name = Some(v);
        }
    }
    Some(name.filter(|n| !n.is_empty()))
}

/// The last `user.name` in one configuration file: `Some(None)` when it sets none, `None` when
/// the file uses something only git should interpret.
fn parse_user_name(text: &str) -> Option<Option<String>> {
    let mut in_user = false;
    let mut found = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let header = rest.split(']').next()?.trim();
            let lower = header.to_ascii_lowercase();
            if lower.starts_with("include") || lower.contains("worktreeconfig") {
                return None;
            }
            in_user = lower == "user";
            // A key on the header's line (`[user] name = x`).
            let after = rest.split_once(']')?.1.trim();
            if !after.is_empty() && !after.starts_with('#') && !after.starts_with(';') {
                return None;
            }
            continue;
        }
        if line.to_ascii_lowercase().contains("worktreeconfig") {
            return None;
        }
        if !in_user {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        if !key.eq_ignore_ascii_case("name") {
            continue;
        }
        found = Some(config_value(value)?);
    }
    Some(found)
}

/// A configuration value: quotes removed, escapes applied, a trailing comment dropped.
fn config_value(v: &str) -> Option<String> {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = v.chars();
    let mut pending_space = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => {
                let e = match chars.next()? {
                    'n' => '\n',
                    't' => '\t',
                    'b' => '\u{8}',
                    '"' => '"',
                    '\\' => '\\',
                    _ => return None,
                };
                out.push_str(&std::mem::take(&mut pending_space));
                out.push(e);
            }
            '#' | ';' if !quoted => break,
            c if c.is_whitespace() && !quoted => pending_space.push(c),
            c => {
                out.push_str(&std::mem::take(&mut pending_space));
                out.push(c);
            }
        }
    }
    if quoted {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn config_values_follow_gits_rules() {
        assert_eq!(config_value("Ann Lee").as_deref(), Some("Ann Lee"));
        assert_eq!(config_value("Ann   Lee  ").as_deref(), Some("Ann   Lee"));
        assert_eq!(config_value("\"Ann  \" # hi").as_deref(), Some("Ann  "));
        assert_eq!(config_value("Ann ; a comment").as_deref(), Some("Ann"));
        assert_eq!(config_value("\"A#n;n\"").as_deref(), Some("A#n;n"));
        assert_eq!(
            config_value("say \\\"hi\\\"").as_deref(),
            Some("say \"hi\"")
        );
        // Unterminated quotes, unknown escapes and continued lines are left to git.
        assert_eq!(config_value("\"Ann"), None);
        assert_eq!(config_value("Ann \\q"), None);
        assert_eq!(config_value("Ann \\"), None);
    }

    #[test]
    fn only_the_user_section_name_counts_and_includes_go_to_git() {
        let p = |t: &str| parse_user_name(t);
        assert_eq!(p("[core]\n\tname = x\n"), Some(None));
        assert_eq!(
            p("[User]\n\tNAME = Ann\n[user \"x\"]\n\tname = Bob\n"),
            Some(Some("Ann".into()))
        );
        assert_eq!(
            p("[user]\nname = Ann\n[core]\n[user]\n name=Cy\n"),
            Some(Some("Cy".into()))
        );
        assert_eq!(p("[include]\n\tpath = other\n"), None);
        assert_eq!(p("[includeIf \"gitdir:~/w/\"]\n\tpath = other\n"), None);
        assert_eq!(p("[extensions]\n\tworktreeConfig = true\n"), None);
        assert_eq!(p("[user] name = Ann\n"), None);
    }

    /// The reader answers what `git config user.name` answers, or defers to it.
    #[test]
    fn the_files_give_what_git_gives() {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let sub = repo.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let git_ok = Command::new("git")
            .args(["init", "-q"])
            .current_dir(repo.path())
            .env("HOME", home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .is_ok_and(|s| s.success());
        if !git_ok {
            eprintln!("git is not available; skipped");
            return;
        }
        let env = vec![
            ("HOME".to_string(), home.path().as_os_str().to_owned()),
            ("GIT_CONFIG_NOSYSTEM".to_string(), "1".into()),
        ];
        let by_git = || {
            let o = Command::new("git")
                .args(["config", "user.name"])
                .current_dir(&sub)
                .env_remove("XDG_CONFIG_HOME")
                .env("HOME", home.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            Some(String::from_utf8_lossy(&o.stdout).trim().to_string()).filter(|s| !s.is_empty())
        };
        let cases: [(&str, &str); 4] = [
            ("", ""),
            ("[user]\n\tname = Global Gale\n", ""),
            (
                "[user]\n\tname = Global Gale\n",
                "[core]\n\tbare = false\n[user]\n\tname = \"Local  Lee\" ; set by ops\n",
            ),
            ("# nothing\n", "[USER]\n\tName=Quinn # q\n"),
        ];
        for (global, local) in cases {
            std::fs::write(home.path().join(".gitconfig"), global).unwrap();
            let cfg = repo.path().join(".git/config");
            let base = std::fs::read_to_string(&cfg).unwrap();
            let base = base.split("#evident-test").next().unwrap().to_string();
            std::fs::write(&cfg, format!("{base}#evident-test\n{local}")).unwrap();
            assert_eq!(
                user_name_from_files(&sub, &env),
                Some(by_git()),
                "global {global:?} local {local:?}"
            );
        }
        // An include is git's to follow.
        std::fs::write(home.path().join(".gitconfig"), "[include]\n\tpath = x\n").unwrap();
        assert_eq!(user_name_from_files(&sub, &env), None);
        // So is a configuration given in the environment.
        let mut with_env = env.clone();
        with_env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
        std::fs::write(home.path().join(".gitconfig"), "").unwrap();
        assert_eq!(user_name_from_files(&sub, &with_env), None);
    }
}
