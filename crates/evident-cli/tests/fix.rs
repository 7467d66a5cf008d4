//! The consistency engine's reference scenario: two clones share a store; machine A marks tasks
//! done; machine B's stale checkout still says todo. `fix` on B regresses nothing, warns once
//! per item, writes B's files back and commits; a second run is a no-op; `--no-writeback` leaves
//! B's files alone; behind its upstream, B gets no write and the pull-gate warning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const PLAN: &str = "---\nid: WP-1\ntype: workplan\ntitle: Plan\nstatus: in_progress\n---\n\n## Tasks\n\n### T01 — First\n\n```task\nid: T-1\nstatus: todo   # keep this comment\npriority: high\n```\n\n### T02 — Second\n\n```task\nid: T-2\nstatus: \"todo\"\n```\n\n### T03 — Third\n\n```task\nid: T-3\nstatus: todo\n```\n";

struct World {
    _bare: tempfile::TempDir,
    a: Env,
    b: Env,
    _store: tempfile::TempDir,
    store: String,
}

impl World {
    fn new() -> World {
        let bare = tempfile::tempdir().unwrap();
        git(bare.path(), &["init", "-q", "--bare"]);
        let a = Env::with_preset("workplan");
        a.write("wp.md", PLAN);
        git(a.root(), &["add", "-A"]);
        git(a.root(), &["commit", "-qm", "plan"]);
        git(a.root(), &["branch", "-M", "main"]);
        git(
            a.root(),
            &["remote", "add", "origin", bare.path().to_str().unwrap()],
        );
        git(a.root(), &["push", "-q", "-u", "origin", "HEAD:main"]);
        git(a.root(), &["branch", "-q", "--set-upstream-to=origin/main"]);
        let b = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        git(
            b.root(),
            &["clone", "-q", bare.path().to_str().unwrap(), "."],
        );
        let store = tempfile::tempdir().unwrap();
        let path = store.path().join("hub.db").to_str().unwrap().to_string();
        let w = World {
            _bare: bare,
            a,
            b,
            _store: store,
            store: path,
        };
        w.run(&w.a, &["index"], 0);
        w.run(&w.b, &["index"], 0);
        w
    }

    fn run(&self, e: &Env, args: &[&str], code: i32) -> Run {
        let r = e.run_env(args, &[("EVIDENT_STORE", &self.store)]);
        assert_eq!(r.code, code, "evident {args:?}\n{}\n{}", r.stdout, r.stderr);
        r
    }

    fn events(&self, e: &Env) -> usize {
        self.run(e, &["--json", "log", "--limit", "10000"], 0)
            .json()["events"]
            .as_array()
            .unwrap()
            .len()
    }

    fn status(&self, e: &Env, id: &str) -> String {
        self.run(e, &["--json", "show", id], 0).json()["item"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn codes(report: &serde_json::Value, code: &str) -> Vec<serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .cloned()
        .collect()
}

#[test]
fn stale_checkout_is_written_back_never_regressed() {
    let w = World::new();
    w.run(&w.a, &["move", "T-1", "done"], 0);
    w.run(&w.a, &["move", "T-2", "in_progress"], 0);
    assert_eq!(w.b.read("wp.md"), PLAN, "B's checkout is stale");

    // check: read-only, one store-ahead warning per item, exit 2.
    let events_before = w.events(&w.b);
    let r = w.run(&w.b, &["--json", "check"], 2).json();
    let ahead = codes(&r, "EV204");
    let ids: Vec<&str> = ahead.iter().map(|f| f["item"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["T-1", "T-2"]);
    assert_eq!(w.b.read("wp.md"), PLAN);
    assert_eq!(w.events(&w.b), events_before, "check writes nothing");

    // dry run: a diff, nothing written.
    let r = w.run(&w.b, &["fix", "--dry-run"], 2);
    assert!(
        r.stdout
            .contains("-status: todo   # keep this comment\n+status: done   # keep this comment"),
        "{}",
        r.stdout
    );
    assert_eq!(w.b.read("wp.md"), PLAN);

    // fix: nothing regressed, files written back (status bytes only) and committed.
    let head_before = git(w.b.root(), &["rev-parse", "HEAD"]);
    let r = w.run(&w.b, &["--json", "fix"], 0).json();
    assert_eq!(codes(&r, "EV204").len(), 2, "warned once per item");
    assert!(codes(&r, "EV204")
        .iter()
        .all(|f| f["action"] == "written back"));
    assert_eq!(w.status(&w.b, "T-1"), "done");
    assert_eq!(w.status(&w.b, "T-2"), "in_progress");
    let after = w.b.read("wp.md");
    assert_eq!(
        after,
        PLAN.replace("status: todo   # keep", "status: done   # keep")
            .replace("status: \"todo\"", "status: \"in_progress\"")
    );
    let commit = r["commit"].as_str().unwrap().to_string();
    assert_ne!(commit, head_before);
    let msg = git(w.b.root(), &["log", "-1", "--format=%B"]);
    assert!(
        msg.starts_with("chore(evident): sync status from store"),
        "{msg}"
    );
    assert!(
        msg.contains("T-1: todo → done") && msg.contains("T-2: todo → in_progress"),
        "{msg}"
    );
    assert!(msg.contains("Evident-Run: corr-1"), "{msg}");
    let changed = git(w.b.root(), &["show", "--stat", "--format=", "HEAD"]);
    assert!(
        changed.contains("wp.md") && changed.contains("1 file changed"),
        "{changed}"
    );
    let log = w.run(&w.b, &["--json", "log", "T-1"], 0).json();
    assert_eq!(log["events"][0]["action"], "writeback");
    assert_eq!(log["events"][0]["source"], "fix");

    // A second fix: no commit, no file write, no event (I4).
    let events = w.events(&w.b);
    let r = w.run(&w.b, &["--json", "fix"], 0).json();
    assert!(
        r["commit"].is_null() && r["written"].as_array().unwrap().is_empty(),
        "{r}"
    );
    assert_eq!(git(w.b.root(), &["rev-parse", "HEAD"]), commit);
    assert_eq!(w.b.read("wp.md"), after);
    assert_eq!(w.events(&w.b), events);
    w.run(&w.b, &["check"], 0);
}

#[test]
fn no_writeback_leaves_files_alone() {
    let w = World::new();
    w.run(&w.a, &["move", "T-1", "done"], 0);
    let r = w.run(&w.b, &["--json", "fix", "--no-writeback"], 2).json();
    assert_eq!(codes(&r, "EV204")[0]["action"], "none (--no-writeback)");
    assert_eq!(w.b.read("wp.md"), PLAN);
    assert!(r["commit"].is_null());
    assert_eq!(w.status(&w.b, "T-1"), "done", "and nothing regressed");
}

#[test]
fn behind_upstream_nothing_is_written_until_pulled() {
    let w = World::new();
    w.run(&w.a, &["move", "T-1", "done"], 0);
    git(w.a.root(), &["commit", "-qam", "T-1 done"]);
    git(w.a.root(), &["push", "-q"]);
    w.run(&w.a, &["move", "T-3", "in_progress"], 0);
    let head = git(w.b.root(), &["rev-parse", "HEAD"]);
    let r = w.run(&w.b, &["--json", "fix"], 2).json();
    let gate = codes(&r, "EV207");
    assert_eq!(gate.len(), 1);
    assert_eq!(gate[0]["severity"], "warning");
    assert_eq!(gate[0]["action"], "nothing written in this repository");
    assert_eq!(r["behind_upstream"], 1);
    assert_eq!(w.b.read("wp.md"), PLAN, "nothing written");
    assert_eq!(git(w.b.root(), &["rev-parse", "HEAD"]), head, "no commit");
    // In check the same finding is informational.
    let r = w.run(&w.b, &["--json", "check"], 2).json();
    assert_eq!(codes(&r, "EV207")[0]["severity"], "info");
    // fix --pull fast-forwards first, then writes back only what the store still has ahead.
    let r = w.run(&w.b, &["--json", "fix", "--pull"], 0).json();
    assert!(codes(&r, "EV207").is_empty(), "{r}");
    let text = w.b.read("wp.md");
    assert!(text.contains("id: T-1\nstatus: done"), "{text}");
    assert!(text.contains("id: T-3\nstatus: in_progress"), "{text}");
    assert_eq!(w.status(&w.b, "T-1"), "done");
}

#[test]
fn files_with_uncommitted_changes_are_skipped() {
    let w = World::new();
    w.run(&w.a, &["move", "T-1", "done"], 0);
    let edited = PLAN.replace("### T03 — Third", "### T03 — Third, renamed");
    w.b.write("wp.md", &edited);
    let r = w.run(&w.b, &["--json", "fix"], 2).json();
    let skipped = codes(&r, "EV208");
    assert_eq!(skipped.len(), 1, "{r}");
    assert_eq!(skipped[0]["item"], "T-1");
    assert_eq!(
        w.b.read("wp.md"),
        edited,
        "the user's uncommitted work is untouched"
    );
    assert_eq!(w.status(&w.b, "T-1"), "done");
    // Once committed, the next fix writes it back.
    git(w.b.root(), &["commit", "-qam", "rename"]);
    git(w.b.root(), &["branch", "-q", "--unset-upstream"]);
    w.run(&w.b, &["fix"], 0);
    assert!(w
        .b
        .read("wp.md")
        .contains("id: T-1\nstatus: done   # keep this comment"));
}

#[test]
fn registered_repositories_are_checked_and_fixed_by_slug_or_all() {
    let w = World::new();
    w.run(
        &w.a,
        &["repo", "add", "machine-a", w.a.root().to_str().unwrap()],
        0,
    );
    w.run(
        &w.a,
        &["repo", "add", "machine-b", w.b.root().to_str().unwrap()],
        0,
    );
    let list = w.run(&w.a, &["--json", "repo", "list"], 0).json();
    assert_eq!(list["repos"].as_array().unwrap().len(), 2);
    w.run(&w.a, &["repo", "add", "bad slug!", "."], 1);
    w.run(&w.a, &["repo", "add", "x", "/definitely/not/here"], 1);
    w.run(&w.a, &["move", "T-1", "done"], 0);
    let r = w.run(&w.a, &["--json", "check", "--all"], 2).json();
    assert_eq!(r["kind"], "check_all");
    let reports = r["reports"].as_array().unwrap();
    assert_eq!(reports[0]["slug"], "machine-a");
    assert!(codes(&reports[0], "EV204").is_empty());
    assert_eq!(codes(&reports[1], "EV204").len(), 1);
    // Fix one repository by slug, from the other checkout.
    w.run(&w.a, &["fix", "--repo", "machine-b"], 0);
    assert!(w.b.read("wp.md").contains("id: T-1\nstatus: done"));
    w.run(&w.a, &["check", "--all"], 0);
    w.run(&w.a, &["fix", "--repo", "nope"], 1);
    w.run(&w.a, &["repo", "remove", "machine-b"], 0);
    w.run(&w.a, &["repo", "remove", "machine-b"], 1);
}

#[test]
fn a_fix_killed_at_any_failpoint_is_completed_by_the_next() {
    for point in ["fix:before-write", "fix:after-write", "fix:after-index"] {
        let w = World::new();
        w.run(&w.a, &["move", "T-1", "done"], 0);
        let head = git(w.b.root(), &["rev-parse", "HEAD"]);
        let r = w.b.run_env(
            &["fix"],
            &[("EVIDENT_STORE", &w.store), ("EVIDENT_FAILPOINT", point)],
        );
        assert_eq!(r.code, 86, "{point}: {}", r.stderr);
        // Every file is either old or new, never half-written.
        let text = w.b.read("wp.md");
        assert!(
            text == PLAN || text == PLAN.replace("status: todo   # keep", "status: done   # keep"),
            "{point}: {text}"
        );
        assert_eq!(w.status(&w.b, "T-1"), "done", "{point}");
        // The next fix completes: files written and committed, store and files agree.
        let r = w.run(&w.b, &["--json", "fix"], 0).json();
        assert!(r["commit"].is_string(), "{point}: {r}");
        assert_ne!(git(w.b.root(), &["rev-parse", "HEAD"]), head);
        assert!(
            git(w.b.root(), &["status", "--porcelain"]).is_empty(),
            "{point}: everything committed"
        );
        assert!(
            w.b.read("wp.md")
                .contains("id: T-1\nstatus: done   # keep this comment"),
            "{point}"
        );
        w.run(&w.b, &["check"], 0);
        let again = w.run(&w.b, &["--json", "fix"], 0).json();
        assert!(again["commit"].is_null(), "{point}: a third run is a no-op");
    }
}

#[test]
fn the_merge_driver_merges_concurrent_status_edits_by_rank() {
    let w = World::new();
    let r = w
        .run(&w.a, &["--json", "merge-driver", "install"], 0)
        .json();
    assert_eq!(r["gitattributes_updated"], true);
    assert!(w.a.read(".gitattributes").contains("*.md merge=evident"));
    git(w.a.root(), &["add", ".gitattributes"]);
    git(w.a.root(), &["commit", "-qm", "merge driver"]);
    git(w.a.root(), &["push", "-q"]);
    git(w.b.root(), &["pull", "-q", "--ff-only"]);
    w.run(&w.b, &["merge-driver", "install"], 0);
    // A finishes T-1; B starts it and renames T-3, both committed.
    w.a.write(
        "wp.md",
        &PLAN.replace("status: todo   # keep", "status: done   # keep"),
    );
    git(w.a.root(), &["commit", "-qam", "T-1 done"]);
    git(w.a.root(), &["push", "-q"]);
    w.b.write(
        "wp.md",
        &PLAN
            .replace("status: todo   # keep", "status: in_progress   # keep")
            .replace("### T03 — Third", "### T03 — Third (renamed)"),
    );
    git(w.b.root(), &["commit", "-qam", "T-1 started, T-3 renamed"]);
    git(w.b.root(), &["pull", "-q", "--no-rebase", "--no-edit"]);
    let merged = w.b.read("wp.md");
    assert_eq!(
        merged,
        PLAN.replace("status: todo   # keep", "status: done   # keep")
            .replace("### T03 — Third", "### T03 — Third (renamed)")
    );
    assert!(
        git(w.b.root(), &["status", "--porcelain"]).is_empty(),
        "merged cleanly"
    );
}

#[test]
fn a_failed_writeback_commit_is_reported_and_the_run_carries_on() {
    let w = World::new();
    w.run(&w.a, &["move", "T-1", "done"], 0);
    // No identity for git in B: the commit fails.
    let home = tempfile::tempdir().unwrap();
    git(w.b.root(), &["config", "user.useConfigOnly", "true"]);
    let mut c = w.b.command(&["--json", "fix"]);
    c.env("EVIDENT_STORE", &w.store)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("EMAIL", "");
    let o = c.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let failed = codes(&r, "EV209");
    assert_eq!(failed.len(), 1, "{r}");
    assert_eq!(failed[0]["severity"], "error");
    assert!(
        w.b.read("wp.md").contains("id: T-1\nstatus: done"),
        "the file was still written"
    );
    assert_eq!(w.status(&w.b, "T-1"), "done");
    // With an identity again, the next fix commits the interrupted writeback.
    git(w.b.root(), &["config", "user.useConfigOnly", "false"]);
    let r = w.run(&w.b, &["--json", "fix"], 0).json();
    assert!(r["commit"].is_string(), "{r}");
    assert!(git(w.b.root(), &["status", "--porcelain"]).is_empty());
}

#[test]
fn check_reports_every_kind_of_difference() {
    let e = Env::with_preset("phases");
    e.write(
        "phases/PH-1.md",
        "---\nid: PH-1\nkind: phase\nstatus: In Progress\n---\n",
    );
    e.write(
        "phases/PH-2.md",
        "---\nid: PH-2\nkind: phase\nstatus: In Progress\n---\n",
    );
    e.write(
        "phases/PH-3.md",
        "---\nid: PH-3\nkind: phase\nstatus: Not Started\n---\n",
    );
    e.write(
        "phases/PH-4.md",
        "---\nid: PH-4\nkind: phase\nstatus: Ready for Signoff\n---\n",
    );
    e.write(
        "phases/PH-5.md",
        "---\nid: PH-5\nkind: phase\nstatus: In Progress\n---\n",
    );
    e.ok(&["index"], 0);
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "phases"]);
    e.write(
        "phases/PH-6.md",
        "---\nid: PH-6\nkind: phase\nstatus: Not Started\n---\n",
    ); // not indexed
    std::fs::remove_file(e.path("phases/PH-5.md")).unwrap(); // gone
    e.write(
        "phases/PH-1.md",
        "---\nid: PH-1\nkind: phase\nstatus: Ready for Signoff\n---\n",
    ); // file ahead
    e.write(
        "phases/PH-2.md",
        "---\nid: PH-2\nkind: phase\nstatus: Completed (Doc Baseline)\n---\n",
    ); // equal rank
    e.write(
        "phases/PH-3.md",
        "---\nid: PH-3\nkind: phase\nstatus: Signed Off\n---\n",
    ); // not an allowed transition
    e.write(
        "phases/PH-4.md",
        "---\nid: PH-4\nkind: phase\nstatus: Not Started\n---\n",
    ); // lowered without reopen
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "edits"]);
    let r = e.ok(&["--json", "check"], 2).json();
    let by_item = |code: &str| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .map(|f| f["item"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(by_item("EV201"), vec!["PH-6"]);
    assert_eq!(by_item("EV202"), vec!["PH-5"]);
    // PH-2's file changed to an equal-rank status: an edit, so it applies like one.
    assert_eq!(by_item("EV203"), vec!["PH-1", "PH-2"]);
    assert_eq!(by_item("EV206"), vec!["PH-3"]);
    assert_eq!(by_item("EV117"), vec!["PH-4"]);
    // A changed document's status findings are at its status line.
    let line_of = |code: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .map(|f| f["line"].clone())
    };
    assert_eq!(line_of("EV117"), Some(serde_json::json!(4)));
    assert_eq!(line_of("EV206"), Some(serde_json::json!(4)));
    // PH-4 holds Ready for Signoff in the store without the evidence its gate asks for.
    assert_eq!(by_item("EV211"), vec!["PH-4"]);
    for f in r["findings"].as_array().unwrap() {
        for key in [
            "code", "name", "severity", "path", "line", "message", "action",
        ] {
            assert!(f.get(key).is_some(), "{f}");
        }
    }
    // fix resolves all but the refused lowering, which it writes back. What it cannot resolve
    // is the statuses these files claimed without the evidence their gates ask for.
    let r = e.ok(&["--json", "fix"], 2).json();
    let actions: Vec<(String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("EV201".into(), "indexed".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("EV202".into(), "removed from the store".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("EV203".into(), "applied to the store".into())),
        "{actions:?}"
    );
    assert!(
        e.read("phases/PH-4.md")
            .contains("status: Ready for Signoff"),
        "the refused lowering was written back"
    );
    let r = e.ok(&["--json", "check"], 2).json();
    let codes: Vec<(&str, &str)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["item"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("EV211", "PH-1"),
            ("EV211", "PH-2"),
            ("EV211", "PH-3"),
            ("EV211", "PH-4")
        ]
    );
}

#[test]
fn a_stale_file_at_equal_rank_is_an_equal_rank_conflict() {
    let a = Env::with_preset("phases");
    a.write(
        "phases/PH-2.md",
        "---\nid: PH-2\nkind: phase\nstatus: Ready for Signoff\n---\n",
    );
    let b = Env::with_preset("phases");
    b.write(
        "phases/PH-2.md",
        "---\nid: PH-2\nkind: phase\nstatus: Ready for Signoff\n---\n",
    );
    git(b.root(), &["add", "-A"]);
    git(b.root(), &["commit", "-qm", "phases"]);
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("s.db");
    let env = [("EVIDENT_STORE", db.to_str().unwrap())];
    assert_eq!(a.run_env(&["index"], &env).code, 0);
    assert_eq!(b.run_env(&["index"], &env).code, 0);
    let r = a.run_env(
        &[
            "move",
            "PH-2",
            "Completed (Doc Baseline)",
            "--force",
            "--reason",
            "baseline only",
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = b.run_env(&["--json", "check"], &env);
    assert_eq!(r.code, 2);
    let j = r.json();
    let f = codes(&j, "EV205");
    assert_eq!(f.len(), 1, "{j}");
    assert_eq!(f[0]["item"], "PH-2");
    let r = b.run_env(&["fix"], &env);
    assert_eq!(
        r.code,
        0,
        "{}\n{}\n{}",
        r.stdout,
        r.stderr,
        git(b.root(), &["status", "--porcelain"])
    );
    assert!(b
        .read("phases/PH-2.md")
        .contains("status: Completed (Doc Baseline)"));
}
