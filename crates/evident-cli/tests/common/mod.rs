//! Test environment: a temporary repository and a way to run the real `evident` binary in it
//! with time, actor, machine and correlation id fixed, so output is deterministic.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::new_without_default
)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_evident")
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status()
            .expect("git init");
        Env { dir }
    }

    /// A repository initialised with `preset` and no example items.
    pub fn with_preset(preset: &str) -> Env {
        let e = Env::new();
        let r = e.run(&["init", "--preset", preset, "--no-examples"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        e
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        self.write_bytes(rel, content.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, content: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    /// Set the file's mtime an hour back: old enough for an index to trust it (a recent mtime
    /// makes the next pass compare the bytes again).
    pub fn age(&self, rel: &str) {
        std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .expect("open")
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .expect("set mtime");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env("EVIDENT_ACTOR", "tester")
            .env("EVIDENT_MACHINE", "machine-a")
            .env("EVIDENT_NOW", "2026-01-02T03:04:05Z")
            .env("EVIDENT_CORRELATION_ID", "corr-1")
            .env("NO_COLOR", "1")
            .env("GIT_AUTHOR_NAME", "tester")
            .env("GIT_AUTHOR_EMAIL", "tester@example.com")
            .env("GIT_COMMITTER_NAME", "tester")
            .env("GIT_COMMITTER_EMAIL", "tester@example.com")
            .env_remove("EVIDENT_STORE")
            .env_remove("EVIDENT_ID_SCHEME");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("run evident");
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Run and expect a refusal: exit 1, nothing on stdout, and every one of `needles` in the
    /// error on stderr.
    pub fn refused(&self, args: &[&str], needles: &[&str]) -> Run {
        let r = self.ok(args, 1);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        for n in needles {
            assert!(r.stderr.contains(n), "{args:?}: no `{n}` in {}", r.stderr);
        }
        r
    }

    /// Run and expect exit code `code`.
    pub fn ok(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "evident {args:?}\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }
}

pub fn story(id: &str, status: &str, extra: &str) -> String {
    format!("---\nid: {id}\nkind: story\ntitle: \"Story {id}\"\nstatus: {status}\n{extra}---\n\n# Story {id}\n\n## Description\n\nText.\n")
}

/// The byte ranges where two texts differ: (common prefix length, old middle, new middle).
pub fn diff_middle<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    let p = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let s = old[p..]
        .bytes()
        .rev()
        .zip(new[p..].bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    (p, &old[p..old.len() - s], &new[p..new.len() - s])
}

/// Run git in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=tester",
            "-c",
            "user.email=tester@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
