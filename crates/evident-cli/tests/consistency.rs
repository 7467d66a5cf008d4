//! The index and the truth model end to end: incremental reads, `--full` reaching the same
//! state, file status edits applied or reported, stale checkouts sharing a store, concurrent
//! processes creating items.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn index_counts(e: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json", "index"];
    a.extend_from_slice(args);
    let r = e.run(&a);
    assert!(r.code == 0 || r.code == 2, "{}", r.stderr);
    r.json()
}

fn event_count(e: &Env) -> usize {
    e.run(&["--json", "log", "--limit", "100000"]).json()["events"]
        .as_array()
        .unwrap()
        .len()
}

fn set_mtime_past(p: &std::path::Path) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
}

/// Stories S-0 … S-(n-1) in `work/s{i}.md`, modified an hour ago (not racily clean).
fn write_aged_stories(e: &Env, n: usize) {
    for i in 0..n {
        let rel = format!("work/s{i}.md");
        e.write(&rel, &story(&format!("S-{i}"), "todo", ""));
        set_mtime_past(&e.path(&rel));
    }
}

#[test]
fn incremental_index_reads_only_what_changed() {
    let e = Env::with_preset("basic");
    write_aged_stories(&e, 20);
    let j = index_counts(&e, &[]);
    assert_eq!(
        (
            j["scanned"].as_u64(),
            j["read"].as_u64(),
            j["created"].as_u64()
        ),
        (Some(20), Some(20), Some(20))
    );
    let events = event_count(&e);
    // Warm, no change: nothing read, nothing parsed, no event.
    let j = index_counts(&e, &[]);
    assert_eq!(
        (j["read"].as_u64(), j["parsed"].as_u64()),
        (Some(0), Some(0)),
        "{j}"
    );
    assert_eq!(event_count(&e), events);
    // Touched but identical: read (hash compared), not parsed.
    set_mtime_past(&e.path("work/s3.md"));
    let f = std::fs::File::options()
        .write(true)
        .open(e.path("work/s3.md"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .unwrap();
    let j = index_counts(&e, &[]);
    assert_eq!(
        (j["read"].as_u64(), j["parsed"].as_u64()),
        (Some(1), Some(0)),
        "{j}"
    );
    // Edited: parsed.
    e.write("work/s4.md", &story("S-4", "todo", "priority: high\n"));
    let j = index_counts(&e, &[]);
    assert_eq!(
        (j["parsed"].as_u64(), j["updated"].as_u64()),
        (Some(1), Some(1)),
        "{j}"
    );
    // Deleted: removed, journaled.
    std::fs::remove_file(e.path("work/s5.md")).unwrap();
    let j = index_counts(&e, &[]);
    assert_eq!(j["removed"], 1);
    let log = e.run(&["--json", "log", "S-5"]).json();
    assert_eq!(log["events"][0]["action"], "removed");
}

#[test]
fn full_index_reaches_the_identical_state() {
    let e = Env::with_preset("workplan");
    e.write("wp.md", "---\nid: WP-1\ntype: workplan\ntitle: Plan\nstatus: todo\n---\n\n## Tasks\n\n### One\n\n```task\nid: T-1\nstatus: todo\n```\n\n### Two\n\n```task\nid: T-2\nstatus: todo\ndepends_on: [T-1, T-9]\n```\n");
    e.write("bad.md", "---\nid: X\ntype: task\nstatus: [\n---\n");
    index_counts(&e, &[]);
    e.ok(&["move", "T-1", "done"], 0);
    e.write(
        "wp2.md",
        "---\nid: WP-2\ntype: workplan\nstatus: in_progress\n---\n",
    );
    index_counts(&e, &[]);
    let snapshot = |e: &Env| {
        let list = e.run(&["--json", "list"]).json();
        let diags = e.run(&["--json", "diagnostics"]).json();
        let shows: Vec<serde_json::Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| e.run(&["--json", "show", i["id"].as_str().unwrap()]).json())
            .collect();
        (list, diags, shows)
    };
    let before = snapshot(&e);
    let events = event_count(&e);
    let j = index_counts(&e, &["--full"]);
    assert_eq!(j["parsed"], j["scanned"], "--full parses everything");
    assert_eq!(snapshot(&e), before, "--full reaches the identical state");
    assert_eq!(event_count(&e), events, "and records nothing new");
    // A brand-new store built from the same files agrees on every item and diagnostic.
    let fresh = e.run_env(
        &["--json", "index", "--full"],
        &[("EVIDENT_STORE", "fresh.db")],
    );
    assert_eq!(fresh.code, 2);
    let fresh_list = e
        .run_env(&["--json", "list"], &[("EVIDENT_STORE", "fresh.db")])
        .json();
    let fresh_diags = e
        .run_env(&["--json", "diagnostics"], &[("EVIDENT_STORE", "fresh.db")])
        .json();
    assert_eq!((fresh_list, fresh_diags), (before.0, before.1));
}

#[test]
fn file_status_edits_are_applied_forward_and_reported_backward() {
    let e = Env::with_preset("basic");
    e.write("work/s.md", &story("S-1", "todo", ""));
    e.ok(&["index"], 0);
    // Forward edit in the file: applied, journaled with source `file`.
    e.write("work/s.md", &story("S-1", "in_review", ""));
    let j = index_counts(&e, &[]);
    assert_eq!(j["status_applied"], 1);
    let ev = &e.run(&["--json", "log", "S-1"]).json()["events"][0];
    assert_eq!(
        (
            ev["action"].as_str(),
            ev["to"].as_str(),
            ev["source"].as_str()
        ),
        (Some("transition"), Some("in_review"), Some("file"))
    );
    // Backward edit without a reopen: the store keeps the higher status, EV117 says why.
    e.write("work/s.md", &story("S-1", "todo", ""));
    let r = e.run(&["--json", "index"]);
    assert_eq!(r.code, 2);
    let d = r.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "EV117")
        .cloned()
        .expect("EV117");
    assert!(
        d["hint"].as_str().unwrap().contains("evident reopen S-1"),
        "{d}"
    );
    assert_eq!(d["line"], 5, "at the status the file carries: {d}");
    assert_eq!(
        e.run(&["--json", "show", "S-1"]).json()["item"]["status"],
        "in_review"
    );
    // The reopen the hint suggests resolves it.
    e.ok(
        &["reopen", "S-1", "todo", "--reason", "really not started"],
        0,
    );
    assert_eq!(
        e.ok(&["--json", "show", "S-1"], 0).json()["item"]["status"],
        "todo"
    );
    e.ok(&["index"], 0);
}

#[test]
fn a_document_removed_and_restored_from_an_older_copy_never_regresses_status() {
    let e = Env::new();
    e.ok(&["init", "--preset", "workplan"], 0);
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "plan"]);
    e.ok(&["index"], 0);
    let old = e.read("workplans/WP-1.md");
    e.ok(&["move", "WP-1-T02", "done"], 0);
    // The document goes away (a branch without it, a rebase), then an older copy comes back.
    std::fs::remove_file(e.path("workplans/WP-1.md")).unwrap();
    assert_eq!(index_counts(&e, &[])["removed"], 4);
    e.write("workplans/WP-1.md", &old);
    assert_eq!(index_counts(&e, &[])["created"], 4);
    let status = |id: &str| e.ok(&["--json", "show", id], 0).json()["item"]["status"].clone();
    assert_eq!(status("WP-1-T02"), "done", "restored at the status it had");
    let ev = &e
        .ok(&["--json", "log", "WP-1-T02", "--limit", "1"], 0)
        .json()["events"][0];
    assert_eq!(
        (ev["action"].as_str(), ev["to"].as_str()),
        (Some("created"), Some("done"))
    );
    // The older copy lags the store: `check` says so, `fix` writes the status back.
    let r = e.ok(&["--json", "check"], 2);
    let codes: Vec<String> = r.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["code"].as_str().unwrap(),
                f["item"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(codes, ["EV204 WP-1-T02"], "{codes:?}");
    // At the task's status line (the line `fix` rewrites), not its fence.
    let status_line = old
        .lines()
        .enumerate()
        .skip_while(|(_, l)| !l.contains("id: WP-1-T02"))
        .find(|(_, l)| l.trim_start().starts_with("status:"))
        .map(|(i, _)| i + 1)
        .unwrap();
    assert_eq!(
        r.json()["findings"][0]["line"],
        serde_json::json!(status_line),
        "{}",
        r.json()
    );
    e.ok(&["fix"], 0);
    let now = e.read("workplans/WP-1.md");
    assert_eq!(diff_middle(&old, &now).1, "in_progress");
    assert_eq!(diff_middle(&old, &now).2, "done");
    e.ok(&["check"], 0);
    // Only a reopen lowers it.
    e.ok(
        &[
            "reopen",
            "WP-1-T02",
            "in_progress",
            "--reason",
            "not done after all",
        ],
        0,
    );
    assert_eq!(status("WP-1-T02"), "in_progress");
}

#[test]
fn a_stale_checkout_sharing_the_store_never_regresses_status() {
    let a = Env::with_preset("workplan");
    a.write("wp.md", "---\nid: WP-1\ntype: workplan\nstatus: in_progress\n---\n\n```task\nid: T-1\nstatus: todo\n```\n\n```task\nid: T-2\nstatus: todo\n```\n");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@x"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(a.root(), &["add", "-A"]);
    git(a.root(), &["commit", "-qm", "init"]);
    let b = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    git(b.root(), &["clone", "-q", a.root().to_str().unwrap(), "."]);
    let store = tempfile::tempdir().unwrap();
    let shared = store.path().join("hub.db");
    let shared = shared.to_str().unwrap();
    let run = |e: &Env, args: &[&str], code: i32| {
        let r = e.run_env(args, &[("EVIDENT_STORE", shared)]);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        r
    };
    run(&a, &["index"], 0);
    run(&b, &["index"], 0);
    // Machine A finishes T-1; B's checkout still says todo.
    run(&a, &["move", "T-1", "done"], 0);
    assert!(b.read("wp.md").contains("id: T-1\nstatus: todo"));
    let events = run(&b, &["--json", "log", "--limit", "1000"], 0).json()["events"]
        .as_array()
        .unwrap()
        .len();
    for _ in 0..3 {
        run(&b, &["index"], 0);
        run(&b, &["index", "--full"], 0);
    }
    let t1 = run(&b, &["--json", "show", "T-1"], 0).json();
    assert_eq!(
        t1["item"]["status"], "done",
        "B's stale file never pulls the status down"
    );
    let after = run(&b, &["--json", "log", "--limit", "1000"], 0).json()["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, events, "and B's index records nothing");
    // A genuine forward edit on B is still applied (no lost edit).
    let text = b
        .read("wp.md")
        .replace("id: T-2\nstatus: todo", "id: T-2\nstatus: in_progress");
    b.write("wp.md", &text);
    let j = run(&b, &["--json", "index"], 0).json();
    assert_eq!(j["status_applied"], 1);
    assert_eq!(
        run(&a, &["--json", "show", "T-2"], 0).json()["item"]["status"],
        "in_progress"
    );
}

fn concurrent_new(scheme: &str) {
    let e = Env::with_preset("basic");
    e.ok(&["index"], 0);
    let procs = 8;
    let per = 5;
    let children: Vec<_> = (0..procs)
        .map(|p| {
            let script = (0..per)
                .map(|i| format!("\"{}\" new task \"p{p} item {i}\" && ", bin()))
                .collect::<String>()
                + "true";
            std::process::Command::new("sh")
                .args(["-c", &script])
                .current_dir(e.root())
                .env("EVIDENT_ID_SCHEME", scheme)
                .env("EVIDENT_ACTOR", format!("agent-{p}"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        ids.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    assert_eq!(ids.len(), procs * per);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicate ids: {ids:?}");
    let files = std::fs::read_dir(e.path("work/tasks")).unwrap().count();
    assert_eq!(files, procs * per);
    let j = e.ok(&["--json", "list", "--kind", "task"], 0).json();
    assert_eq!(j["count"], procs * per);
    let j = index_counts(&e, &[]);
    assert_eq!(j["created"], 0, "every new item was already in the store");
}

#[test]
fn concurrent_processes_never_produce_the_same_random_id() {
    concurrent_new("random");
}

#[test]
fn concurrent_processes_never_produce_the_same_sequential_id() {
    concurrent_new("sequential");
}

/// Processes that find no store all create it at once: each first index succeeds, every item
/// is created once (one `created` event each: the passes that lost the race to publish their
/// store were discarded and ran again), and the store then holds every document.
#[test]
fn concurrent_first_indexes_create_one_store() {
    for round in 0..5 {
        let e = Env::with_preset("basic");
        write_aged_stories(&e, 40);
        let _ = std::fs::remove_dir_all(e.path(".evident"));
        let children: Vec<_> = (0..6)
            .map(|_| {
                e.command(&["--json", "index"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let log = e.ok(&["--json", "log", "--limit", "1000"], 0).json();
        let created = log["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ev| ev["action"] == "created")
            .count();
        assert_eq!(created, 40, "round {round}: {log}");
        assert_eq!(e.ok(&["--json", "list"], 0).json()["count"], 40);
        let j = index_counts(&e, &[]);
        assert_eq!(j["read"], 0, "round {round}: {j}");
        // Each built a store under a temporary name; one was linked into place, and the others
        // were discarded: nothing temporary is left.
        let left: Vec<String> = std::fs::read_dir(e.path(".evident"))
            .unwrap()
            .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".new-"))
            .collect();
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
}

/// Per item, how many journal events of `action` the store holds, read from the file itself.
fn events_per_item(e: &Env, action: &str) -> std::collections::BTreeMap<String, i64> {
    let db = rusqlite::Connection::open(e.path(".evident/evident.db")).unwrap();
    let mut st = db
        .prepare("SELECT item, count(*) FROM events WHERE action = ?1 GROUP BY item")
        .unwrap();
    let rows = st
        .query_map([action], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows
}

/// Each of `n` items has exactly one journal event of `action` (after a pass killed at `ms`).
fn journaled_once_each(e: &Env, action: &str, n: usize, ms: u64) {
    let per_item = events_per_item(e, action);
    assert_eq!(per_item.len(), n, "{action}, killed after {ms} ms");
    assert!(
        per_item.values().all(|&c| c == 1),
        "{action}, killed after {ms} ms: {per_item:?}"
    );
}

/// Start `evident index`, kill it (SIGKILL) after `after`, and say whether it had finished.
fn kill_index_after(e: &Env, after: std::time::Duration) -> bool {
    let mut child = e
        .command(&["index"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    child.wait().unwrap();
    finished
}

/// A process killed at any moment of an index pass loses nothing and leaves nothing half
/// written: a first index leaves no store or a whole one (it is built under another name and
/// linked into place once complete), a later pass commits all of its changes or none, and the
/// next pass completes the work with every item created once and every status edit journaled
/// once (I1, I2).
#[test]
fn an_index_killed_at_any_moment_leaves_no_half_written_store() {
    const N: usize = 600;
    let e = Env::with_preset("basic");
    write_aged_stories(&e, N);
    let store = e.path(".evident/evident.db");
    // From before the process starts to after the pass is over (a first index of this many
    // items takes 40-80 ms in a test build here).
    let delays_ms = [0u64, 5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 200];
    let mut interrupted = [0, 0];
    for &ms in &delays_ms {
        let _ = std::fs::remove_dir_all(e.path(".evident"));
        let finished = kill_index_after(&e, std::time::Duration::from_millis(ms));
        interrupted[0] += usize::from(!finished);
        let existed = store.exists();
        if existed {
            // Whatever is at the store's name is a whole store: every item, journaled once.
            let db = rusqlite::Connection::open(&store).unwrap();
            let ok: String = db
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok", "killed after {ms} ms");
            let items: i64 = db
                .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
                .unwrap();
            assert_eq!(items, N as i64, "killed after {ms} ms");
        }
        let j = index_counts(&e, &[]);
        let expect_created = if existed { 0 } else { N as u64 };
        assert_eq!(
            j["created"].as_u64(),
            Some(expect_created),
            "killed after {ms} ms: {j}"
        );
        journaled_once_each(&e, "created", N, ms);
    }
    // Every status edited in its file, then a pass killed part-way: each edit is applied once.
    for &ms in &delays_ms {
        let e = Env::with_preset("basic");
        write_aged_stories(&e, N);
        assert_eq!(index_counts(&e, &[])["created"].as_u64(), Some(N as u64));
        for i in 0..N {
            let rel = format!("work/s{i}.md");
            e.write(&rel, &story(&format!("S-{i}"), "in_review", ""));
            set_mtime_past(&e.path(&rel));
        }
        let finished = kill_index_after(&e, std::time::Duration::from_millis(ms));
        interrupted[1] += usize::from(!finished);
        let j = index_counts(&e, &[]);
        assert_eq!(
            j["status_refused"].as_u64(),
            Some(0),
            "killed after {ms} ms: {j}"
        );
        let list = e.ok(&["--json", "list", "--status", "in_review"], 0).json();
        assert_eq!(
            list["count"].as_u64(),
            Some(N as u64),
            "killed after {ms} ms"
        );
        journaled_once_each(&e, "transition", N, ms);
    }
    // The test means something only if some passes were cut short.
    assert!(interrupted.iter().all(|&n| n > 0), "{interrupted:?}");
}

#[test]
fn gitignore_roots_and_exclusions_are_respected() {
    let e = Env::with_preset("basic");
    e.write(".gitignore", ".evident/\nignored/\n");
    e.write("work/a.md", &story("A-1", "todo", ""));
    e.write("ignored/b.md", &story("B-1", "todo", ""));
    e.write(".hidden/c.md", &story("C-1", "todo", ""));
    e.write("vendor/d.md", &story("D-1", "todo", ""));
    e.write(
        "README.md",
        "# Not an item\n\n```task\nid: DOC-1\nstatus: todo\n```\n",
    );
    let cfg = e
        .read("evident.toml")
        .replace("exclude = []", "exclude = [\"vendor/\"]");
    e.write("evident.toml", &cfg);
    e.ok(&["index"], 0);
    let ids: Vec<String> = e.ok(&["--json", "list"], 0).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        vec!["A-1"],
        "gitignored, hidden, excluded and non-item documents are not indexed"
    );
    // Roots narrow the walk.
    let cfg = e
        .read("evident.toml")
        .replace("roots = [\".\"]", "roots = [\"elsewhere\"]");
    e.write("evident.toml", &cfg);
    e.write("elsewhere/x.md", &story("X-1", "todo", ""));
    e.ok(&["index"], 0);
    let ids: Vec<String> = e.ok(&["--json", "list"], 0).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["X-1"]);
}

#[test]
fn store_location_flags_and_urls() {
    let e = Env::with_preset("basic");
    e.write("work/a.md", &story("A-1", "todo", ""));
    let elsewhere = tempfile::tempdir().unwrap();
    let db = elsewhere.path().join("x.db");
    let url = format!("sqlite://{}", db.display());
    e.ok(&["--store", &url, "index"], 0);
    assert!(db.exists());
    assert!(
        !e.path(".evident/evident.db").exists(),
        "the default store was not used"
    );
    let r = e.run_env(
        &["--json", "list"],
        &[("EVIDENT_STORE", db.to_str().unwrap())],
    );
    assert_eq!(r.json()["count"], 1);
    // The flag wins over the environment.
    let r = e.run_env(
        &["--json", "--store", "other.db", "list"],
        &[("EVIDENT_STORE", db.to_str().unwrap())],
    );
    assert_eq!(r.json()["count"], 0);
    let r = e.ok(
        &[
            "--store",
            "postgres://admin:hunter2@db.example/evident",
            "status",
        ],
        1,
    );
    assert!(
        r.stderr.contains("admin:***@db.example") && !r.stderr.contains("hunter2"),
        "{}",
        r.stderr
    );
    let r = e.ok(&["--store", "mysql://x", "status"], 1);
    assert!(r.stderr.contains("unknown store scheme"), "{}", r.stderr);
    // A folder given as the store is named as one, with a file path that would work; nothing
    // is created in it.
    std::fs::create_dir_all(e.path("stores")).unwrap();
    let r = e.ok(&["--json", "--store", "stores", "status"], 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("is a folder, not a store file")
            && r.stderr.contains(&format!(
                "--store {}",
                e.path("stores/evident.db").display()
            )),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_dir(e.path("stores")).unwrap().count(), 0);
}

/// A first index publishes its store marked unflushed (an extended attribute naming this boot);
/// reading leaves the mark, the first write removes it; a store marked by an earlier boot is
/// moved aside with a warning, kept, and the checkout indexes again from its documents.
#[test]
fn an_unflushed_store_is_flushed_by_its_first_writer_and_an_earlier_boots_is_set_aside() {
    let e = Env::with_preset("basic");
    e.write("work/a.md", &story("A-1", "todo", ""));
    e.write("work/b.md", &story("B-1", "todo", ""));
    let db = e.path(".evident/evident.db");
    let mark = |p: &std::path::Path| {
        let mut buf = [0u8; 64];
        rustix::fs::getxattr(p, "user.evident.unflushed", &mut buf[..])
            .ok()
            .map(|n| buf[..n].to_vec())
    };
    let probe = e.path("probe");
    std::fs::write(&probe, b"").unwrap();
    if rustix::fs::setxattr(&probe, "user.p", b"1", rustix::fs::XattrFlags::empty()).is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's disk keeps extended attributes: this test must run there"
        );
        eprintln!("no extended attributes here: skipped");
        return;
    }
    e.ok(&["index"], 0);
    assert!(mark(&db).is_some(), "published unflushed");
    assert_eq!(e.ok(&["--json", "list"], 0).json()["count"], 2);
    assert!(mark(&db).is_some(), "a reader leaves the mark");
    e.ok(&["move", "A-1", "in_progress"], 0);
    assert_eq!(mark(&db), None, "the first writer flushed it");

    // Another first index, then as if the machine stopped before it reached the disk.
    std::fs::remove_dir_all(e.path(".evident")).unwrap();
    e.ok(&["index"], 0);
    rustix::fs::setxattr(
        &db,
        "user.evident.unflushed",
        b"an earlier boot",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let r = e.ok(&["--json", "list"], 0);
    assert_eq!(r.json()["count"], 0, "the marked store is not read");
    assert!(
        r.stderr
            .contains("warning: the store was published just before this machine last stopped"),
        "{}",
        r.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(e.path(".evident"))
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            n.starts_with("evident.db.unflushed-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    assert_eq!(aside.len(), 1, "kept beside: {aside:?}");
    assert!(r.stderr.contains(&aside[0]), "{}", r.stderr);
    e.ok(&["index"], 0);
    let r = e.ok(&["--json", "list"], 0);
    assert_eq!(r.json()["count"], 2, "indexed again from the documents");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}
