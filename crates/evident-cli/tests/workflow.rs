//! End-to-end: verbs, the JSON contract, transitions, the journal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn quick_start_flow_and_json_envelope() {
    let e = Env::new();
    e.ok(&["init"], 0);
    assert!(e.read(".gitignore").contains(".evident/"));
    let cfg = e.read("evident.toml");
    let name_line = cfg
        .lines()
        .find(|l| l.starts_with("name = "))
        .unwrap()
        .to_string();
    e.write(
        "evident.toml",
        &cfg.replacen(&name_line, "name = \"demo\"", 1),
    );
    let r = e.ok(&["--json", "index"], 0);
    let j = r.json();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["kind"], "index");
    assert_eq!(j["created"], 4);
    let j = e.ok(&["list", "--json"], 0).json();
    assert_eq!(j["kind"], "item_list");
    let st1 = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "ST-1")
        .unwrap()
        .clone();
    for key in [
        "id",
        "kind",
        "title",
        "status",
        "status_rank",
        "terminal",
        "priority",
        "parent",
        "depends_on",
        "lane",
        "owner",
        "labels",
        "path",
        "line",
    ] {
        assert!(st1.get(key).is_some(), "item lacks {key}: {st1}");
    }
    assert_eq!(
        st1["owner"],
        serde_json::Value::Null,
        "absent scalars are null"
    );
    assert_eq!(st1["labels"], serde_json::json!([]), "absent lists are []");
    assert_eq!(st1["path"], "work/stories/ST-1.md");
    let j = e.ok(&["status", "--json"], 0).json();
    assert_eq!(j["kind"], "status");
    assert_eq!(j["total"], 4);
    assert_eq!(j["blocked_count"], 1, "{j}");
    insta::assert_snapshot!("status_text", e.ok(&["status"], 0).stdout);
    insta::assert_snapshot!("status_markdown", e.ok(&["status", "--markdown"], 0).stdout);
}

#[test]
fn list_filters_and_sorts() {
    let e = Env::new();
    e.ok(&["init"], 0);
    e.ok(&["index"], 0);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--json", "list"];
        a.extend_from_slice(args);
        e.ok(&a, 0).json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["--kind", "story"]), vec!["ST-1", "ST-2"]);
    assert_eq!(ids(&["--status", "In Progress"]), vec!["EP-1", "ST-1"]);
    assert_eq!(
        ids(&["--lane", "core", "--sort", "priority"]),
        vec!["ST-1", "ST-2"]
    );
    assert_eq!(ids(&["--parent", "EP-1", "--desc"]), vec!["ST-2", "ST-1"]);
    assert_eq!(ids(&["--search", "DASH"]), vec!["ST-2"]);
    assert_eq!(ids(&["--owner", "you"]), vec!["EP-1"]);
    assert_eq!(ids(&["--limit", "1"]), vec!["BUG-1"]);
    let r = e.ok(&["list", "--kind", "spaceship"], 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("unknown kind") && r.stderr.contains("story"),
        "{}",
        r.stderr
    );
    let r = e.ok(&["list", "--status", "nope"], 1);
    assert!(r.stderr.contains("unknown status"), "{}", r.stderr);
}

#[test]
fn an_empty_listing_says_whether_anything_was_indexed() {
    let e = Env::new();
    e.ok(&["init"], 0);
    // Example items are on disk but not yet read: say so, and how to read them.
    for (args, code) in [(&["list"][..], 0), (&["ready"][..], 2)] {
        let r = e.ok(args, code);
        assert!(
            r.stdout
                .starts_with("No items are indexed yet.\nRun `evident index`"),
            "{args:?}: {}",
            r.stdout
        );
    }
    // JSON stays a plain empty list.
    assert_eq!(e.ok(&["--json", "list"], 0).json()["count"], 0);
    // The Markdown report says it too, instead of a table with no rows and a broken header.
    let md = e.ok(&["status", "--markdown"], 0).stdout;
    assert!(
        md.contains("\nNo items are indexed yet: run `evident index`") && !md.contains('|'),
        "{md}"
    );
    let r = e.ok(&["diagnostics"], 0).stdout;
    assert!(r.starts_with("No items are indexed yet.\n"), "{r}");
    // So does `readiness`, which would otherwise call an empty scope ready (0/0).
    let r = e.ok(&["readiness"], 0).stdout;
    assert!(r.starts_with("No items are indexed yet.\n"), "{r}");
    let r = e.ok(&["readiness", "--markdown"], 0).stdout;
    assert!(
        r.starts_with("## Readiness: all\n\nNo items are indexed yet.\n"),
        "{r}"
    );
    e.ok(&["index"], 0);
    let r = e.ok(&["readiness", "--scope", "task"], 0).stdout;
    assert_eq!(r, "No items in scope `task`.\n");
    // Now the store has items: an empty result means the filter matched nothing.
    let r = e.ok(&["list", "--search", "no such title"], 0);
    assert_eq!(r.stdout, "No items match.\n");
    assert!(e.ok(&["list"], 0).stdout.starts_with("ID "));
}

#[test]
fn move_writes_only_the_status_bytes_and_journals() {
    let e = Env::with_preset("basic");
    let original = "---\nid: ST-1\nkind: story\ntitle: \"A story\"   # keep me\nstatus: \"In Progress\"  # the team's spelling\nlabels: [a, b]\n---\n\n# A story\r\n\n## Description\n\nünïcode ✓\n";
    e.write("work/stories/ST-1.md", original);
    e.ok(&["index"], 0);
    let r = e.ok(&["--json", "move", "ST-1", "done"], 0);
    let j = r.json();
    assert_eq!(
        (
            j["kind"].as_str(),
            j["from"].as_str(),
            j["to"].as_str(),
            j["action"].as_str()
        ),
        (
            Some("move"),
            Some("in_progress"),
            Some("done"),
            Some("transition")
        )
    );
    let after = e.read("work/stories/ST-1.md");
    let (_, old, new) = diff_middle(original, &after);
    assert_eq!(
        (old, new),
        ("In Progress", "Done"),
        "only the value changed, in the file's style"
    );
    // Already there: no write, no event.
    let r = e.ok(&["move", "ST-1", "done"], 0);
    assert!(r.stdout.contains("already"));
    let log = e.ok(&["--json", "log", "ST-1"], 0).json();
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{log}");
    let ev = &events[0];
    assert_eq!(ev["action"], "transition");
    assert_eq!(ev["from"], "in_progress");
    assert_eq!(ev["to"], "done");
    assert_eq!(ev["actor"], "tester");
    assert_eq!(ev["machine"], "machine-a");
    assert_eq!(ev["source"], "cli");
    assert_eq!(ev["correlation_id"], "corr-1");
    assert_eq!(ev["at"], "2026-01-02T03:04:05Z");
    // --as overrides the actor.
    e.ok(
        &[
            "reopen",
            "ST-1",
            "todo",
            "--reason",
            "found a bug",
            "--as",
            "qa-bot",
        ],
        0,
    );
    let ev = &e.ok(&["--json", "log", "ST-1"], 0).json()["events"][0];
    assert_eq!(
        (
            ev["action"].as_str(),
            ev["actor"].as_str(),
            ev["reason"].as_str()
        ),
        (Some("reopen"), Some("qa-bot"), Some("found a bug"))
    );
}

#[test]
fn move_refuses_regressions_and_disallowed_transitions() {
    let e = Env::with_preset("phases");
    e.write(
        "phases/PH-1.md",
        "---\nid: PH-1\nkind: phase\ntitle: P1\nstatus: In Progress\n---\n",
    );
    e.ok(&["index"], 0);
    let before = e.read("phases/PH-1.md");
    // Not in the transition table: exit 1, allowed targets listed, nothing written.
    let r = e.ok(&["move", "PH-1", "signed_off"], 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("not an allowed transition")
            && r.stderr
                .contains("Ready for Signoff, Completed (Doc Baseline)"),
        "{}",
        r.stderr
    );
    assert_eq!(e.read("phases/PH-1.md"), before);
    // Lowering: only reopen.
    let r = e.ok(&["move", "PH-1", "not started"], 1);
    assert!(r.stderr.contains("reopen"), "{}", r.stderr);
    // --force needs --reason; with it, an override is journaled.
    e.ok(&["move", "PH-1", "signed_off", "--force"], 1);
    let j = e
        .ok(
            &[
                "--json",
                "move",
                "PH-1",
                "signed_off",
                "--force",
                "--reason",
                "emergency",
            ],
            0,
        )
        .json();
    assert_eq!(j["action"], "override");
    assert!(e.read("phases/PH-1.md").contains("status: Signed Off"));
    // Reopen must lower the rank and needs a reason.
    e.ok(
        &["reopen", "PH-1", "in_progress", "--reason", "gaps found"],
        0,
    );
    let r = e.ok(&["reopen", "PH-1", "ready_for_signoff", "--reason", "x"], 1);
    assert!(r.stderr.contains("does not lower"), "{}", r.stderr);
    // A declared regression (review sends a phase back) needs a reason and is a reopen.
    // (Its readiness gate fails here: the gate tests cover gates; this one overrides it.)
    e.ok(&["move", "PH-1", "Ready for Signoff"], 1);
    e.ok(
        &[
            "move",
            "PH-1",
            "Ready for Signoff",
            "--force",
            "--reason",
            "gates tested in gates.rs",
        ],
        0,
    );
    e.ok(&["move", "PH-1", "In Progress"], 1);
    let j = e
        .ok(
            &[
                "--json",
                "move",
                "PH-1",
                "In Progress",
                "--reason",
                "reviewer gaps",
            ],
            0,
        )
        .json();
    assert_eq!(j["action"], "reopen");
    // Errors in JSON mode: stdout empty, a JSON error on stderr.
    let r = e.ok(&["--json", "move", "NOPE-1", "done"], 1);
    assert!(r.stdout.is_empty());
    let err: serde_json::Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(err["kind"], "error");
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("evident list"));
}

#[test]
fn show_has_fields_sections_dependencies_children_history() {
    let e = Env::new();
    e.ok(&["init"], 0);
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "show", "ST-2"], 0).json();
    assert_eq!(j["kind"], "item");
    assert_eq!(j["item"]["id"], "ST-2");
    assert_eq!(j["fields"]["lane"], "core");
    let names: Vec<&str> = j["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Description", "Acceptance Criteria"]);
    assert_eq!(j["dependencies"][0]["id"], "ST-1");
    assert_eq!(j["dependencies"][0]["status"], "in_progress");
    assert_eq!(j["history"][0]["action"], "created");
    // Each checkout's document, and the line its status is on.
    let src = &j["sources"][0];
    let text = e.read(src["path"].as_str().unwrap());
    let status_line = text.lines().position(|l| l.starts_with("status:")).unwrap() + 1;
    assert_eq!(src["status_line"], status_line as u64);
    assert_eq!(src["file_status"], j["item"]["status"]);
    let j = e.ok(&["--json", "show", "EP-1"], 0).json();
    assert_eq!(j["children"].as_array().unwrap().len(), 2);
    let j = e.ok(&["--json", "show", "ST-1"], 0).json();
    assert_eq!(j["dependents"][0]["id"], "ST-2");
    let r = e.ok(&["show", "ST-404"], 1);
    assert!(r.stderr.contains("no item with id `ST-404`"));
}

#[test]
fn ready_orders_by_priority_and_respects_dependencies() {
    let e = Env::with_preset("workplan");
    e.write("wp.md", "---\nid: WP-1\ntype: workplan\ntitle: Plan\nstatus: in_progress\n---\n\n## Tasks\n\n```task\nid: T-1\nstatus: todo\npriority: low\n```\n\n```task\nid: T-2\nstatus: todo\npriority: high\ndepends_on: [T-1]\n```\n\n```task\nid: T-3\nstatus: todo\npriority: P0-Critical\n```\n\n```task\nid: T-4\nstatus: blocked\n```\n");
    e.ok(&["index"], 0);
    let ids = |e: &Env| -> Vec<String> {
        e.run(&["--json", "ready"]).json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&e), vec!["T-3", "T-1", "WP-1"]);
    e.ok(&["move", "T-1", "done"], 0);
    assert_eq!(ids(&e), vec!["T-3", "T-2", "WP-1"]);
    // The task's status was written inside its block only.
    assert!(e
        .read("wp.md")
        .contains("```task\nid: T-1\nstatus: done\npriority: low\n```"));
}

#[test]
fn new_creates_from_template_and_validates() {
    let e = Env::with_preset("basic");
    e.write(
        "work/epics/EP-1.md",
        "---\nid: EP-1\nkind: epic\ntitle: E\nstatus: todo\n---\n",
    );
    e.ok(&["index"], 0);
    let r = e.ok(
        &[
            "new",
            "story",
            "Export: to \"CSV\"",
            "--parent",
            "EP-1",
            "--field",
            "priority=high",
            "--field",
            "labels=[a, b]",
        ],
        0,
    );
    let id = r.stdout.trim().to_string();
    assert!(id.starts_with("ST-") && id.len() == 11, "{id}");
    let j = e.ok(&["--json", "show", &id], 0).json();
    assert_eq!(j["item"]["title"], "Export: to \"CSV\"");
    assert_eq!(j["item"]["parent"], "EP-1");
    assert_eq!(j["item"]["priority"], "high");
    assert_eq!(j["item"]["labels"], serde_json::json!(["a", "b"]));
    assert_eq!(j["history"][0]["source"], "cli");
    let names: Vec<&str> = j["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Description", "Acceptance Criteria"]);
    e.ok(&["new", "story", "x", "--parent", "EP-404"], 1);
    e.ok(&["new", "spaceship", "x"], 1);
    e.ok(&["new", "story", "x", "--field", "status=done"], 1);
    e.ok(&["new", "story", "x", "--field", "no-equals"], 1);
    e.ok(&["new", "story", "  "], 1);
}

#[test]
fn config_errors_name_the_line_and_store_too_new_is_refused() {
    let e = Env::with_preset("basic");
    let cfg = e
        .read("evident.toml")
        .replace("id_scheme = \"random\"", "id_scheme = \"fancy\"");
    e.write("evident.toml", &cfg);
    let r = e.ok(&["status"], 1);
    let line = cfg.lines().position(|l| l.contains("fancy")).unwrap() + 1;
    assert!(
        r.stderr.contains(&format!("evident.toml:{line}")),
        "{}",
        r.stderr
    );
}

/// `index` walks the documents while another thread opens the store: a store it must refuse
/// stops the walk and is reported, with nothing on stdout and nothing written into it.
#[test]
fn a_store_newer_than_the_binary_is_refused_by_index_while_it_walks() {
    let e = Env::with_preset("basic");
    e.ok(&["index"], 0);
    let db = e.path(".evident/evident.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for args in [
        &["index"][..],
        &["--json", "index"],
        &["status", "--index"],
        &["check"],
        &["fix"],
    ] {
        e.refused(args, &["schema version 999", "upgrade evident"]);
    }
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the refused store was written"
    );
}

/// The WAL and its index stay between commands (no files made and removed by each one), but
/// empty: every frame is checkpointed and the WAL cut to zero bytes when a command ends, so a
/// store moved aside and built again at the same name is given no pages of the old one.
#[test]
fn the_wal_stays_between_commands_but_holds_no_frame_of_a_finished_one() {
    let e = Env::with_preset("basic");
    e.write(
        "work/stories/ST-1.md",
        "---\nid: ST-1\nkind: story\ntitle: One\nstatus: todo\n---\n",
    );
    e.ok(&["index"], 0);
    e.ok(&["status"], 0);
    let wal = e.path(".evident/evident.db-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).ok(), Some(0));
    assert!(e.path(".evident/evident.db-shm").exists());
    e.ok(&["move", "ST-1", "in_progress"], 0);
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).ok(),
        Some(0),
        "a write leaves frames in the WAL"
    );
    // Moved aside (as the damaged-store hint says) and built again from the files.
    std::fs::rename(
        e.path(".evident/evident.db"),
        e.path(".evident/evident.db.old"),
    )
    .unwrap();
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "show", "ST-1"], 0).json();
    assert_eq!(j["item"]["status"], "in_progress");
    let j = e.ok(&["--json", "log", "ST-1"], 0).json();
    assert_eq!(j["events"].as_array().map(Vec::len), Some(1), "{j}");
}

#[test]
fn help_has_examples_for_every_verb() {
    for verb in [
        "init",
        "index",
        "list",
        "show",
        "new",
        "move",
        "reopen",
        "ready",
        "status",
        "log",
        "diagnostics",
        "check",
        "fix",
        "repo",
        "merge-driver",
    ] {
        let o = std::process::Command::new(bin())
            .args([verb, "--help"])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && s.contains("Examples:"), "{verb}: {s}");
    }
}

#[test]
fn every_diagnostic_code_is_documented() {
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/");
    let doc = std::fs::read_to_string(format!("{docs}diagnostics.md")).unwrap()
        + &std::fs::read_to_string(format!("{docs}checks.md")).unwrap();
    for code in evident_core::DiagCode::ALL {
        let row = format!("| {} | {} |", code.code(), code.slug());
        assert!(
            doc.contains(&row),
            "docs/diagnostics.md or docs/checks.md lacks {row}"
        );
    }
}

#[test]
fn cleargate_repository_is_indexed_in_place() {
    let e = Env::with_preset("cleargate");
    e.write(".cleargate/delivery/pending-sync/EPIC-007_Payments.md", "---\nepic_id: \"EPIC-007\"\nstatus: \"Active\"\nowner: \"dana\"\n---\n\n# EPIC-007: Payments\n");
    e.write(
        ".cleargate/delivery/pending-sync/STORY-007-01_Save_Card.md",
        "---\nstory_id: \"STORY-007-01\"\nparent_epic_ref: \"EPIC-007\"\nstatus: \"Ready\"\nambiguity: 🟢 Low\ncached_gate_result:\n  pass: true\n  failing_criteria: []\n---\n\n# STORY-007-01: Save a card\n",
    );
    e.write(".cleargate/delivery/archive/BUG-001.md", "---\nbug_id: \"\"\nstatus: \"Verified\"\nseverity: \"P1-High\"\n---\n\n# BUG-001: Old crash\n");
    e.write(".cleargate/delivery/archive/.gitkeep", "");
    e.write("docs/unrelated.md", "---\nstory_id: NOT-INDEXED\n---\n");
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "list"], 0).json();
    let got: Vec<(String, String, String)> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().into(),
                i["kind"].as_str().unwrap().into(),
                i["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "BUG-001".to_string(),
                "bug".to_string(),
                "verified".to_string()
            ),
            ("EPIC-007".into(), "epic".into(), "active".into()),
            ("STORY-007-01".into(), "story".into(), "ready".into()),
        ]
    );
    // People read statuses as the configuration spells them; JSON carries the keys.
    let list = e.ok(&["list"], 0).stdout;
    let row = list
        .lines()
        .find(|l| l.starts_with("STORY-007-01"))
        .unwrap();
    assert!(row.contains(" Ready ") && !row.contains("ready"), "{list}");
    let status = e.ok(&["status"], 0).stdout;
    assert!(
        status.contains("Verified") && status.contains("Active"),
        "{status}"
    );
    let show = e.ok(&["show", "EPIC-007"], 0).stdout;
    assert!(show.contains("status Active"), "{show}");
    // A bug's severity is its priority.
    let j = e.ok(&["--json", "show", "BUG-001"], 0).json();
    assert_eq!(j["item"]["priority"], "P1-High");
    let j = e.ok(&["--json", "show", "STORY-007-01"], 0).json();
    assert_eq!(j["item"]["parent"], "EPIC-007");
    assert_eq!(
        j["fields"]["cached_gate_result"]["pass"], true,
        "unknown fields are kept"
    );
    // A move keeps ClearGate's spelling and quoting.
    let before = e.read(".cleargate/delivery/pending-sync/STORY-007-01_Save_Card.md");
    e.ok(&["move", "STORY-007-01", "in_review"], 0);
    let after = e.read(".cleargate/delivery/pending-sync/STORY-007-01_Save_Card.md");
    assert_eq!(diff_middle(&before, &after).1, "Ready");
    assert_eq!(diff_middle(&before, &after).2, "In Review");
    // New stories are numbered within their epic.
    let id = e
        .ok(
            &["new", "story", "Refund a payment", "--parent", "EPIC-007"],
            0,
        )
        .stdout
        .trim()
        .to_string();
    assert_eq!(id, "STORY-007-02");
    let path = e.ok(&["--json", "show", &id], 0).json()["item"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        path,
        ".cleargate/delivery/pending-sync/STORY-007-02_Refund_a_payment.md"
    );
    assert_eq!(
        e.ok(&["new", "epic", "Onboarding"], 0).stdout.trim(),
        "EPIC-008"
    );
    e.ok(&["new", "story", "Orphan"], 1);
}
