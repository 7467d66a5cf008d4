//! Bad input: every case yields a diagnostic with a stable code, `file:line` and a hint; the
//! rest of the repository still indexes and lists (exit 2 while diagnostics exist); nothing is
//! ever written to a file that failed to parse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// Index `e` (expecting exit 2) and return the diagnostics with `code`.
fn diags(e: &Env, code: &str) -> Vec<serde_json::Value> {
    let r = e.run(&["--json", "index"]);
    assert_eq!(
        r.code, 2,
        "index should need attention\n{}\n{}",
        r.stdout, r.stderr
    );
    let all = r.json()["diagnostics"].as_array().unwrap().clone();
    let found: Vec<_> = all.iter().filter(|d| d["code"] == code).cloned().collect();
    assert!(!found.is_empty(), "no {code} in {all:#?}");
    for d in &found {
        assert!(!d["hint"].as_str().unwrap().is_empty(), "{d}");
        assert!(!d["message"].as_str().unwrap().is_empty(), "{d}");
    }
    found
}

/// A good item that must keep indexing and listing whatever else is broken.
fn with_good_item(e: &Env) {
    e.write("work/stories/GOOD-1.md", &story("GOOD-1", "todo", ""));
}

fn assert_good_item_lists(e: &Env) {
    let r = e.run(&["--json", "list"]);
    assert_eq!(r.code, 2, "list exits 2 while diagnostics exist");
    assert!(r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == "GOOD-1"));
    let r = e.run(&["diagnostics"]);
    assert_eq!(r.code, 2);
}

#[test]
fn malformed_yaml() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write(
        "work/bad.md",
        "---\nid: BAD-1\nkind: story\ntitle: [unclosed\nstatus: todo\n---\n",
    );
    let d = &diags(&e, "EV101")[0];
    assert_eq!(d["path"], "work/bad.md");
    // The `[` that never closes is on line 4 of the file, and the parser's positions in the
    // message are the file's too (not the frontmatter's own lines).
    assert_eq!(d["line"], 4, "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("flow sequence at line 4 column 8"),
        "{d}"
    );
    assert_eq!(d["severity"], "error");
    assert_good_item_lists(&e);
    // A handoff report does not hide them.
    let md = e.run(&["status", "--markdown"]).stdout;
    assert!(md.contains("1 error, 0 warnings in documents"), "{md}");
    // Human output carries code, file:line and hint.
    let r = e.run(&["diagnostics"]);
    assert!(
        r.stdout.contains("EV101 work/bad.md:") && r.stdout.contains("hint:"),
        "{}",
        r.stdout
    );
}

/// The workplan preset, with the story kind added and one good story in place.
fn workplan_with_good_story() -> Env {
    let e = Env::with_preset("workplan");
    with_good_item(&e);
    let cfg = e
        .read("evident.toml")
        .replace("[kinds.task]", "[kinds.story]\n\n[kinds.task]");
    e.write("evident.toml", &cfg);
    e
}

#[test]
fn malformed_task_block_is_located_in_the_file() {
    let e = workplan_with_good_story();
    // An indented fence: the block's YAML is cut by four columns before parsing.
    e.write(
        "wp.md",
        "---\nid: WP-1\ntype: workplan\nstatus: todo\n---\n\n# Plan\n\n- step\n    ```task\n    id: T-1\n    title: [oops\n    status: todo\n    ```\n",
    );
    let d = &diags(&e, "EV101")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64()),
        (Some("wp.md"), Some(12)),
        "{d}"
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("flow sequence at line 12 column 12"),
        "{d}"
    );
    assert_good_item_lists(&e);
}

#[test]
fn unterminated_frontmatter_and_task_block() {
    let e = workplan_with_good_story();
    e.write("a.md", "---\nid: A\nkind: task\nstatus: todo\n");
    e.write(
        "wp.md",
        "---\nid: WP-1\ntype: workplan\nstatus: todo\n---\n\n```task\nid: T-1\nstatus: todo\n",
    );
    let d = diags(&e, "EV101");
    assert!(d.iter().any(|d| d["path"] == "a.md" && d["line"] == 1));
    assert!(d.iter().any(|d| d["path"] == "wp.md" && d["line"] == 7));
    assert_good_item_lists(&e);
}

#[test]
fn duplicate_ids_first_wins_until_it_is_gone() {
    let e = Env::with_preset("basic");
    e.write("work/a.md", &story("DUP-1", "todo", "title2: from a\n"));
    e.write("work/b.md", &story("DUP-1", "done", ""));
    let d = &diags(&e, "EV111")[0];
    assert_eq!(d["path"], "work/b.md");
    assert_eq!(d["line"], 1);
    assert!(d["message"].as_str().unwrap().contains("work/a.md"), "{d}");
    let j = e.run(&["--json", "show", "DUP-1"]).json();
    assert_eq!(j["item"]["path"], "work/a.md");
    // Remove the winner: the other document takes over on the next index.
    std::fs::remove_file(e.path("work/a.md")).unwrap();
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "show", "DUP-1"], 0).json();
    assert_eq!(j["item"]["path"], "work/b.md");
}

/// Owner, status and the EV111 diagnostics (path, line, message) as the store has them.
fn duplicate_state(e: &Env) -> (String, String, Vec<String>) {
    let j = e.run(&["--json", "show", "DUP-1"]).json();
    let d = e.run(&["--json", "diagnostics"]).json();
    (
        j["item"]["path"].as_str().unwrap().to_string(),
        j["item"]["status"].as_str().unwrap().to_string(),
        diagnostic_lines(&d),
    )
}

/// The `diagnostics` of a JSON report as sorted "code path:line message" lines.
fn diagnostic_lines(report: &serde_json::Value) -> Vec<String> {
    let mut lines: Vec<String> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}:{} {}", d["code"], d["path"], d["line"], d["message"]))
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_duplicate_id_added_later_is_reported_and_the_first_by_path_keeps_it() {
    // Whether the existing owner's document is re-read in the pass (its mtime is too recent to
    // trust) or not read at all, the outcome is the one a full pass reaches.
    for recent in [false, true] {
        let e = Env::with_preset("basic");
        e.write("work/b.md", &story("DUP-1", "todo", ""));
        let age = |rel: &str| {
            if !recent {
                e.age(rel);
            }
        };
        age("work/b.md");
        e.ok(&["index"], 0);
        // One sorts before the owner's document, one after.
        e.write("work/a.md", &story("DUP-1", "in_progress", ""));
        e.write("work/c.md", &story("DUP-1", "done", ""));
        let r = e.ok(&["--json", "index"], 2);
        let (path, status, diags) = duplicate_state(&e);
        assert_eq!(
            (path.as_str(), status.as_str()),
            ("work/a.md", "in_progress"),
            "{}",
            r.stdout
        );
        assert_eq!(
            diags,
            [
                "\"EV111\" \"work/b.md\":1 \"id DUP-1 is already declared by work/a.md; this one is not indexed\"",
                "\"EV111\" \"work/c.md\":1 \"id DUP-1 is already declared by work/a.md; this one is not indexed\"",
            ],
            "recent mtimes: {recent}"
        );
        // Stable across passes, and what --full reaches.
        age("work/a.md");
        age("work/c.md");
        e.ok(&["index"], 2);
        assert_eq!(
            duplicate_state(&e),
            (path.clone(), status.clone(), diags.clone())
        );
        e.ok(&["index", "--full"], 2);
        assert_eq!(duplicate_state(&e), (path, status, diags));
        // The winner goes: the next by path takes the id over (never lowering its status).
        std::fs::remove_file(e.path("work/a.md")).unwrap();
        e.ok(&["index"], 2);
        let (path, status, diags) = duplicate_state(&e);
        assert_eq!(
            (path.as_str(), status.as_str(), diags.len()),
            ("work/b.md", "in_progress", 1),
            "{diags:?}"
        );
    }
}

#[test]
fn a_mistyped_id_kind_or_status_is_answered_with_the_nearest() {
    let e = Env::with_preset("basic");
    e.write("work/a.md", &story("ST-101", "todo", ""));
    e.write("work/b.md", &story("ST-102", "todo", ""));
    e.ok(&["index"], 0);
    for (args, near) in [
        (&["show", "ST-11"][..], "did you mean `ST-101`?"),
        (&["move", "ST-1O1", "done"], "did you mean `ST-101`?"),
        (&["move", "ST-101", "donee"], "did you mean `done`?"),
        (
            &["move", "ST-101", "In Progres"],
            "did you mean `in_progress`?",
        ),
        (
            &["list", "--status", "canceled"],
            "did you mean `cancelled`?",
        ),
        (&["list", "--kind", "stroy"], "did you mean `story`?"),
        (&["new", "stroy", "A title"], "did you mean `story`?"),
        (
            &["gate", "check", "ST-101", "--transition", "dnoe"],
            "did you mean `done`?",
        ),
        (&["readiness", "--scope", "stroy"], "did you mean `story`?"),
    ] {
        let r = e.refused(args, &[near]);
        // The full list still follows the suggestion.
        assert!(
            r.stderr.contains("statuses: ")
                || r.stderr.contains("kinds in this repository: ")
                || r.stderr.contains("`evident list` shows known ids")
                || r.stderr.contains("a kind (bug, epic, story, task)"),
            "{args:?}: {}",
            r.stderr
        );
    }
    e.refused(
        &[
            "evidence", "add", "ST-101", "--kind", "dco", "--path", "x.md",
        ],
        &["did you mean `doc`? use one of: doc, contract"],
    );
    // Nothing near: no guess, only the list.
    for args in [
        &["show", "XX-1"][..],
        &["move", "ST-101", "shipped"],
        &["list", "--kind", "spaceship"],
    ] {
        let r = e.refused(args, &["hint"]);
        assert!(!r.stderr.contains("did you mean"), "{args:?}: {}", r.stderr);
    }
    // Documents: a kind or status the configuration does not define (EV112, EV113).
    e.write(
        "work/c.md",
        "---\nid: ST-103\nkind: stroy\ntitle: t\nstatus: todo\n---\n",
    );
    e.write("work/d.md", &story("ST-104", "doen", ""));
    let r = e.ok(&["index"], 2);
    for near in [
        "EV112 work/c.md:3",
        "did you mean `story`? use one of: bug, epic, story, task",
        "EV113 work/d.md:5",
        "did you mean `done`? use one of: todo",
    ] {
        assert!(r.stdout.contains(near), "no `{near}` in {}", r.stdout);
    }
}

#[test]
fn an_unknown_id_is_an_error_and_a_removed_one_keeps_its_history() {
    let e = Env::with_preset("basic");
    e.write("work/s.md", &story("S-1", "todo", ""));
    e.ok(&["index"], 0);
    for args in [
        &["show", "NOPE-1"][..],
        &["log", "NOPE-1"],
        &["move", "NOPE-1", "done"],
        &["--json", "log", "NOPE-1"],
    ] {
        e.refused(args, &["no item with id `NOPE-1`", "hint"]);
    }
    // An id typed in another case is named in the hint.
    for args in [
        &["show", "s-1"][..],
        &["move", "s-1", "done"],
        &["log", "s-1"],
        &["gate", "check", "s-1"],
    ] {
        let r = e.ok(args, 1);
        assert!(
            r.stderr.contains("no item with id `s-1`") && r.stderr.contains("did you mean `S-1`?"),
            "{args:?}: {}",
            r.stderr
        );
    }
    std::fs::remove_file(e.path("work/s.md")).unwrap();
    e.ok(&["index"], 0);
    let log = e.ok(&["--json", "log", "S-1"], 0).json();
    let actions: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ev| ev["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["removed", "created"]);
    // Asked for, a removed item is named as one (when, why, where its history is), not taken
    // for a typo of another id.
    e.write("work/t.md", &story("S-2", "todo", ""));
    e.ok(&["index"], 0);
    for args in [&["show", "S-1"][..], &["move", "S-1", "done"]] {
        let r = e.ok(args, 1);
        assert!(
            r.stderr
                .contains("no item with id `S-1`: it was removed at ")
                && r.stderr.contains("(no longer declared in any document)")
                && r.stderr.contains("`evident log S-1` shows its history")
                && !r.stderr.contains("did you mean"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn field_values_of_any_shape_are_written_as_valid_yaml() {
    let e = Env::with_preset("basic");
    let fields = [
        ("note", "a: b # c", serde_json::json!("a: b # c")),
        (
            "hash",
            "# not a comment",
            serde_json::json!("# not a comment"),
        ),
        (
            "quote",
            "say \"hi\" 'there'",
            serde_json::json!("say \"hi\" 'there'"),
        ),
        ("points", "3", serde_json::json!(3)),
        ("flag", "true", serde_json::json!(true)),
        ("tags", "[a, b]", serde_json::json!(["a", "b"])),
        ("meta", "{x: 1}", serde_json::json!({"x": 1})),
        ("dash", "- item", serde_json::json!("- item")),
        ("star", "*alias", serde_json::json!("*alias")),
    ];
    let mut args = vec!["new".to_string(), "story".into(), "Shapes".into()];
    for (k, v, _) in &fields {
        args.push("--field".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = e.ok(&args, 0).stdout.trim().to_string();
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "show", &id], 0).json();
    for (k, _, want) in &fields {
        assert_eq!(&j["fields"][k], want, "{k}: {j}");
    }
}

#[test]
fn an_empty_actor_is_refused_and_nothing_is_written() {
    let e = Env::with_preset("basic");
    e.write("work/s.md", &story("S-1", "todo", ""));
    e.ok(&["index"], 0);
    let before = e.read("work/s.md");
    let r = e.ok(&["move", "S-1", "in_progress", "--as", "  "], 1);
    assert!(r.stderr.contains("--as needs a name"), "{}", r.stderr);
    assert_eq!(e.read("work/s.md"), before);
    let log = e.ok(&["--json", "log", "S-1"], 0).json();
    assert_eq!(log["events"].as_array().unwrap().len(), 1, "{log}");
    // Surrounding blanks are not part of a name.
    e.ok(&["move", "S-1", "in_progress", "--as", " ann "], 0);
    let log = e.ok(&["--json", "log", "S-1"], 0).json();
    assert_eq!(log["events"][0]["actor"], "ann");
}

#[test]
fn unknown_kind() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write("x.md", "---\nid: X-1\nkind: spaceship\nstatus: todo\n---\n");
    let d = &diags(&e, "EV112")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64(), d["item"].as_str()),
        (Some("x.md"), Some(3), Some("X-1"))
    );
    assert!(d["hint"].as_str().unwrap().contains("story"));
    assert_good_item_lists(&e);
}

#[test]
fn a_configuration_fix_takes_effect_without_touching_the_documents() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write(
        "x.md",
        "---\nid: X-1\nkind: spaceship\nstatus: launched\n---\n",
    );
    diags(&e, "EV112");
    // Follow the hint: define the kind. The document's bytes are unchanged (and its mtime is
    // old enough to be trusted), yet the next index parses it again and indexes the item.
    e.age("x.md");
    e.age("work/stories/GOOD-1.md");
    e.ok(&["index"], 2);
    let mut toml = e.read("evident.toml");
    toml.push_str("\n[kinds.spaceship]\nprefix = \"SHIP\"\n");
    e.write("evident.toml", &toml);
    let r = e.ok(&["--json", "index"], 2);
    let j = r.json();
    assert_eq!(
        (j["inputs_changed"].as_bool(), j["parsed"].as_u64()),
        (Some(true), Some(2)),
        "{j}"
    );
    let codes: Vec<&str> = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["EV113"],
        "the kind is known now, its status not yet: {j}"
    );
    // The status too: add it to the workflow.
    let toml = e.read("evident.toml").replace(
        "{ name = \"todo\", rank = 0 },",
        "{ name = \"todo\", rank = 0 },\n  { name = \"launched\", rank = 1 },",
    );
    e.write("evident.toml", &toml);
    let r = e.ok(&["index"], 0);
    assert!(r.stdout.contains("configuration"), "{}", r.stdout);
    let j = e.ok(&["--json", "show", "X-1"], 0).json();
    assert_eq!(
        (
            j["item"]["kind"].as_str(),
            j["item"]["status_rank"].as_i64()
        ),
        (Some("spaceship"), Some(1))
    );
    // Nothing changed since: nothing is parsed, and an edit outside the parse inputs (a
    // comment, a project name) does not force a re-parse either.
    let j = e.ok(&["--json", "index"], 0).json();
    assert_eq!(
        (j["inputs_changed"].as_bool(), j["parsed"].as_u64()),
        (Some(false), Some(0)),
        "{j}"
    );
    let toml = e
        .read("evident.toml")
        .replacen("[project]", "# a comment\n[project]", 1);
    e.write("evident.toml", &toml);
    let j = e.ok(&["--json", "index"], 0).json();
    assert_eq!(
        (j["inputs_changed"].as_bool(), j["parsed"].as_u64()),
        (Some(false), Some(0)),
        "{j}"
    );
}

#[test]
fn a_first_index_after_new_does_not_report_a_configuration_change() {
    // `new` indexes its own document only, and records no parse fingerprint: the index that
    // follows parses every document (nothing records what the first was parsed with), without
    // telling the user that the configuration or the parser changed, which they did not.
    let fresh = || {
        let e = Env::with_preset("basic");
        with_good_item(&e);
        e.ok(&["new", "story", "Fresh"], 0);
        e
    };
    // (inputs_changed, parsed) of a `--json index`.
    let index = |e: &Env| {
        let j = e.ok(&["--json", "index"], 0).json();
        (j["inputs_changed"].as_bool(), j["parsed"].as_u64())
    };
    let e = fresh();
    let r = e.ok(&["index"], 0);
    assert!(!r.stdout.contains("changed since"), "{}", r.stdout);
    e.ok(&["new", "story", "Fresher"], 0);
    assert_eq!(index(&e), (Some(false), Some(0)));
    // Every document is parsed, the one `new` indexed too.
    assert_eq!(index(&fresh()), (Some(false), Some(2)));
}

#[test]
fn unknown_status_is_indexed_without_rank() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write("work/s.md", &story("S-1", "Shipped Maybe", ""));
    let d = &diags(&e, "EV113")[0];
    assert_eq!(d["item"], "S-1");
    // The line of the status itself (`story` writes it fifth).
    assert_eq!(d["line"].as_u64(), Some(5), "{d}");
    assert!(d["hint"].as_str().unwrap().contains("todo"));
    let j = e.run(&["--json", "show", "S-1"]).json();
    assert_eq!(j["item"]["status_rank"], serde_json::Value::Null);
    assert_good_item_lists(&e);
}

/// A good item, A-1 and B-1 depending on each other, and B-1 naming an unknown dependency and
/// parent.
fn with_cycle_and_dangling_references() -> Env {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write("work/a.md", &story("A-1", "todo", "depends_on: [B-1]\n"));
    e.write(
        "work/b.md",
        &story(
            "B-1",
            "todo",
            "depends_on: [A-1, GHOST-9]\nparent: NOBODY\n",
        ),
    );
    e
}

#[test]
fn dependency_cycle_and_dangling_references() {
    let e = with_cycle_and_dangling_references();
    let c = &diags(&e, "EV116")[0];
    assert!(
        c["message"].as_str().unwrap().contains("A-1 → B-1 → A-1"),
        "{c}"
    );
    // Named at the field that makes the cycle's first link (A-1's `depends_on`).
    assert_eq!(
        (c["path"].as_str(), c["line"].as_u64()),
        (Some("work/a.md"), Some(6))
    );
    // Each dangling reference points at the line of the field that names it.
    let d = &diags(&e, "EV115")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64(), d["item"].as_str()),
        (Some("work/b.md"), Some(6), Some("B-1"))
    );
    assert!(d["message"].as_str().unwrap().contains("GHOST-9"));
    let p = &diags(&e, "EV114")[0];
    assert!(p["message"].as_str().unwrap().contains("NOBODY"));
    assert_eq!(p["line"], 7);
    // Neither item of the cycle is ready.
    let ready = e.run(&["--json", "ready"]).json();
    let ids: Vec<&str> = ready["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["GOOD-1"]);
    assert_good_item_lists(&e);
}

/// A first index (into a new store, whose graph checks run on a thread of their own while its
/// indexes are built) records the same diagnostics as a full pass over the store it built, which
/// checks the graph in line.
#[test]
fn a_first_index_and_a_full_pass_record_the_same_graph_diagnostics() {
    let e = with_cycle_and_dangling_references();
    assert!(
        !e.path(".evident").exists(),
        "the first index creates the store"
    );
    let first = e.run(&["--json", "index"]);
    assert_eq!(first.code, 2, "{}", first.stderr);
    let first = diagnostic_lines(&first.json());
    for code in ["EV114", "EV115", "EV116"] {
        assert!(
            first.iter().any(|d| d.contains(code)),
            "{code} in {first:#?}"
        );
    }
    assert_eq!(
        diagnostic_lines(&e.run(&["--json", "diagnostics"]).json()),
        first
    );
    assert_eq!(
        diagnostic_lines(&e.run(&["--json", "index", "--full"]).json()),
        first
    );
}

#[test]
fn missing_id_and_invalid_field() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write("work/noid.md", "---\nkind: story\nstatus: todo\n---\n");
    e.write("work/f.md", &story("F-1", "todo", "depends_on: {a: 1}\n"));
    assert_eq!(diags(&e, "EV110")[0]["path"], "work/noid.md");
    let f = &diags(&e, "EV118")[0];
    assert_eq!(
        (f["path"].as_str(), f["line"].as_u64()),
        (Some("work/f.md"), Some(6))
    );
    // A status that is a list is reported, not silently taken for the initial status.
    e.write(
        "work/t.md",
        "---\nid: T-1\nkind: task\ntitle: t\nstatus: [done]\n---\n",
    );
    let t: Vec<_> = diags(&e, "EV118")
        .into_iter()
        .filter(|d| d["path"] == "work/t.md")
        .collect();
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["line"], 5);
    assert!(
        t[0]["message"].as_str().unwrap().contains("`status`"),
        "{t:?}"
    );
    assert_good_item_lists(&e);
}

/// An id or a title that is there but unusable (empty, a list, a mapping) is reported at its
/// own line with what is wrong with it, never taken for a missing one or silently replaced.
#[test]
fn an_id_or_title_of_the_wrong_shape_is_reported_where_it_is_written() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write(
        "work/empty.md",
        "---\nkind: story\nid: \"\"\nstatus: todo\n---\n",
    );
    e.write(
        "work/list.md",
        "---\nkind: story\nstatus: todo\nid: [A-1, A-2]\n---\n",
    );
    e.write(
        "work/title.md",
        "---\nid: TT-1\nkind: story\nstatus: todo\ntitle: [a, b]\n---\n\n# The heading\n",
    );
    e.write(
        "work/plan.md",
        "---\nid: WP-7\nkind: story\ntitle: Plan\nstatus: todo\n---\n\n### First\n\n```task\nstatus: todo\nid: {a: 1}\n```\n\n### Second\n\n```task\nid: WP-7-T02\ntitle: [x]\nstatus: todo\n```\n",
    );
    let ids = diags(&e, "EV110");
    let at = |path: &str| {
        ids.iter()
            .find(|d| d["path"] == path)
            .map(|d| {
                assert!(
                    d["hint"]
                        .as_str()
                        .unwrap()
                        .starts_with("write one id there"),
                    "{d}"
                );
                (
                    d["line"].as_u64().unwrap(),
                    d["message"].as_str().unwrap().to_string(),
                )
            })
            .unwrap_or_else(|| panic!("no EV110 for {path} in {ids:#?}"))
    };
    let (line, message) = at("work/empty.md");
    assert_eq!(line, 3);
    assert!(message.ends_with("its `id` is empty"), "{message}");
    let (line, message) = at("work/list.md");
    assert_eq!(line, 4);
    assert!(
        message.ends_with("its `id` is not a single value"),
        "{message}"
    );
    let (line, message) = at("work/plan.md");
    assert_eq!(line, 12, "the task's `id` line");
    assert!(
        message.contains("WP-7 has an `id` that is not a single value"),
        "{message}"
    );
    let titles = diags(&e, "EV118");
    let found: Vec<(&str, u64)> = titles
        .iter()
        .filter(|d| d["message"].as_str().unwrap().contains("`title`"))
        .map(|d| (d["path"].as_str().unwrap(), d["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, vec![("work/plan.md", 19), ("work/title.md", 5)]);
    // The title falls back as it does when none is written: the heading, or the task's heading.
    let show = |id: &str| e.run(&["--json", "show", id]).json()["item"]["title"].clone();
    assert_eq!(show("TT-1"), "The heading");
    assert_eq!(show("WP-7-T02"), "Second");
    assert_good_item_lists(&e);
}

#[test]
fn non_utf8_file() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.write_bytes(
        "work/bin.md",
        b"---\nid: B-1\nkind: story\ntitle: \xff\xfe\n---\n",
    );
    let d = &diags(&e, "EV102")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64()),
        (Some("work/bin.md"), Some(4))
    );
    assert_good_item_lists(&e);
}

#[test]
fn binary_file_with_a_nul_byte_is_not_parsed_or_written() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    // Valid UTF-8, well-formed frontmatter, but a NUL byte: binary, as git judges it.
    e.write_bytes(
        "work/nul.md",
        b"---\nid: N-1\nkind: story\ntitle: t\nstatus: todo\n---\n\nbody\n\x00\x00 tail\n",
    );
    let d = &diags(&e, "EV102")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64()),
        (Some("work/nul.md"), Some(9))
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("NUL byte at offset 56"),
        "{d}"
    );
    assert!(!e.run(&["--json", "list"]).stdout.contains("N-1"));
    assert_good_item_lists(&e);
    // An indexed document that turns binary keeps its item, and Evident refuses to write it.
    e.write("work/s.md", &story("S-1", "todo", ""));
    e.run(&["index"]);
    let mut bytes = story("S-1", "todo", "").into_bytes();
    bytes.extend_from_slice(b"\x00\n");
    e.write_bytes("work/s.md", &bytes);
    e.run(&["index"]);
    let r = e.ok(&["move", "S-1", "in_progress"], 1);
    assert!(r.stderr.contains("work/s.md"), "{}", r.stderr);
    assert_eq!(std::fs::read(e.path("work/s.md")).unwrap(), bytes);
}

#[test]
fn file_over_the_size_limit_is_not_read() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    let big = story("BIG-1", "todo", "") + &"x".repeat(5000);
    e.write("work/big.md", &big);
    let r = e.run_env(&["--json", "index"], &[("EVIDENT_MAX_FILE_SIZE", "4096")]);
    assert_eq!(r.code, 2);
    let j = r.json();
    assert!(
        j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "EV103" && d["path"] == "work/big.md"),
        "{j}"
    );
    assert!(!e.run(&["--json", "list"]).stdout.contains("BIG-1"));
}

#[cfg(unix)]
#[test]
fn symlink_loop_and_escape() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    std::fs::create_dir_all(e.path("work/loop")).unwrap();
    std::os::unix::fs::symlink(e.path("work"), e.path("work/loop/back")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.md"),
        story("SECRET-1", "todo", ""),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), e.path("work/escape.md")).unwrap();
    let lp = &diags(&e, "EV104")[0];
    assert_eq!(lp["path"], "work/loop/back");
    assert_eq!(
        lp["message"],
        "symlink loop: work/loop/back points back to work, a folder above it"
    );
    let esc = &diags(&e, "EV105")[0];
    assert_eq!(esc["path"], "work/escape.md");
    assert!(
        !e.run(&["--json", "list"]).stdout.contains("SECRET-1"),
        "never read through an escaping link"
    );
    assert_good_item_lists(&e);
}

#[test]
fn nothing_is_written_to_a_file_that_failed_to_parse() {
    let e = Env::with_preset("basic");
    e.write("work/s.md", &story("S-1", "todo", ""));
    e.ok(&["index"], 0);
    // Break the file: the item stays known (with its status), but Evident refuses to write.
    let broken = "---\nid: S-1\nkind: story\nstatus: todo\ntitle: [oops\n---\n";
    e.write("work/s.md", broken);
    e.ok(&["index"], 2);
    let j = e.run(&["--json", "show", "S-1"]).json();
    assert_eq!(j["item"]["status"], "todo");
    let r = e.ok(&["move", "S-1", "in_progress"], 1);
    assert!(
        r.stderr.contains("does not parse") && r.stderr.contains("work/s.md:"),
        "{}",
        r.stderr
    );
    assert_eq!(e.read("work/s.md"), broken);
    // A status Evident cannot edit surgically is refused too, file untouched.
    let block = "---\nid: S-2\nkind: story\nstatus: >\n  todo\n---\n";
    e.write("work/s2.md", block);
    e.run(&["index"]);
    let r = e.ok(&["move", "S-2", "in_progress"], 1);
    assert!(r.stderr.contains("block scalar"), "{}", r.stderr);
    assert_eq!(e.read("work/s2.md"), block);
}

/// In a workplan, a task's dangling dependency points at the line inside its block.
#[test]
fn a_dangling_dependency_of_a_task_points_inside_its_block() {
    let e = Env::with_preset("workplan");
    e.write(
        "plans/wp.md",
        "---\nid: WP-1\ntype: workplan\ntitle: Plan\nstatus: todo\n---\n\n### One\n\n```task\nid: WP-1-T1\nstatus: todo\ndepends_on: [NOWHERE-1]\n```\n",
    );
    let d = &diags(&e, "EV115")[0];
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64(), d["item"].as_str()),
        (Some("plans/wp.md"), Some(13), Some("WP-1-T1"))
    );
}

/// In a workplan, a task's unknown status points at its line inside the block, and the plan's
/// at its line in the frontmatter.
#[test]
fn an_unknown_status_points_at_its_line() {
    let e = Env::with_preset("workplan");
    e.write(
        "plans/wp.md",
        "---\nid: WP-1\ntype: workplan\ntitle: Plan\nstatus: 'someday'\n---\n\n### One\n\n```task\nid: WP-1-T1\nstatus: maybe # soon\n```\n",
    );
    let found: Vec<(String, u64)> = diags(&e, "EV113")
        .iter()
        .map(|d| (d["item"].to_string(), d["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        found,
        [("\"WP-1\"".to_string(), 5), ("\"WP-1-T1\"".to_string(), 12)]
    );
}

#[test]
fn graph_checks_stay_right_as_items_arrive_one_by_one() {
    let e = Env::with_preset("basic");
    with_good_item(&e);
    e.ok(&["index"], 0);
    // A new item with a dangling dependency and parent (the incremental path).
    e.write(
        "work/n.md",
        &story("N-1", "todo", "depends_on: [LATER-1]\nparent: LATER-2\n"),
    );
    let d = &diags(&e, "EV115")[0];
    assert_eq!(
        (d["item"].as_str(), d["line"].as_u64()),
        (Some("N-1"), Some(6))
    );
    let p = &diags(&e, "EV114")[0];
    assert_eq!(
        (p["item"].as_str(), p["line"].as_u64()),
        (Some("N-1"), Some(7))
    );
    // The missing items arrive: the dangling references are cleared.
    e.write("work/l1.md", &story("LATER-1", "todo", ""));
    e.write("work/l2.md", &story("LATER-2", "todo", ""));
    e.ok(&["index"], 0);
    // A new item closing a cycle with an existing one is caught.
    e.write("work/c1.md", &story("C-1", "todo", "depends_on: [C-2]\n"));
    e.ok(&["index"], 2);
    e.write("work/c2.md", &story("C-2", "todo", "depends_on: [C-1]\n"));
    let c = diags(&e, "EV116");
    assert!(
        c[0]["message"]
            .as_str()
            .unwrap()
            .contains("C-1 → C-2 → C-1"),
        "{c:?}"
    );
}

#[test]
fn a_limit_of_zero_or_not_a_number_is_refused() {
    let e = Env::with_preset("basic");
    e.write(
        "work/stories/ST-1.md",
        "---\nid: ST-1\nkind: story\ntitle: One\nstatus: todo\n---\n",
    );
    e.ok(&["index"], 0);
    for args in [
        &["list", "--limit", "0"][..],
        &["--json", "ready", "--limit", "0"],
        &["log", "--limit", "0"],
        &["list", "--limit", "ten"],
    ] {
        e.refused(args, &["--limit", "at least 1"]);
    }
    let j = e.ok(&["--json", "list", "--limit", "1"], 0).json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
}

/// An empty filter value is refused rather than matching nothing (`--label`) or everything
/// (`--search`).
#[test]
fn an_empty_list_filter_is_refused() {
    let e = Env::with_preset("basic");
    e.write(
        "work/stories/ST-1.md",
        &story("ST-1", "todo", "labels: [x]\n"),
    );
    e.ok(&["index"], 0);
    for flag in ["--lane", "--owner", "--label", "--parent", "--search"] {
        for value in ["", "  "] {
            e.refused(&["--json", "list", flag, value], &[flag, "needs a value"]);
        }
    }
    let j = e
        .ok(&["--json", "list", "--label", "x", "--search", "st-"], 0)
        .json();
    assert_eq!(j["count"], 1);
}

#[test]
fn a_duplicate_id_inside_one_workplan_names_the_first_line() {
    let e = Env::with_preset("workplan");
    let plan = "---\nid: WP-9\ntype: workplan\ntitle: Dup\nstatus: in_progress\n---\n\n### T1\n\n```task\nid: WP-9-T1\nstatus: todo\n```\n\n### T2\n\n```task\nid: WP-9-T1\nstatus: done\n```\n";
    e.write("workplans/WP-9.md", plan);
    let want = "workplans/WP-9.md:17: id WP-9-T1 is already declared by workplans/WP-9.md:10; this one is not indexed";
    // A first index, an incremental pass over an edited document, and a full pass agree.
    let r = e.ok(&["index"], 2);
    assert!(r.stdout.contains(want), "{}", r.stdout);
    e.write("workplans/WP-9.md", &format!("{plan}\nEdited.\n"));
    let r = e.ok(&["index"], 2);
    assert!(r.stdout.contains(want), "{}", r.stdout);
    let r = e.ok(&["index", "--full"], 2);
    assert!(r.stdout.contains(want), "{}", r.stdout);
    let j = e.ok(&["--json", "show", "WP-9-T1"], 2).json();
    assert_eq!(
        (j["item"]["status"].as_str(), j["item"]["line"].as_u64()),
        (Some("todo"), Some(10))
    );
}

#[test]
fn a_damaged_or_foreign_store_is_refused_with_a_way_out_and_never_written() {
    let e = Env::with_preset("basic");
    e.write(
        "work/stories/ST-1.md",
        "---\nid: ST-1\nkind: story\ntitle: One\nstatus: todo\n---\n",
    );
    e.ok(&["index"], 0);
    let db = e.path(".evident/evident.db");
    // Garbage where the store was (a disk error, a bad copy).
    for f in ["evident.db-wal", "evident.db-shm"] {
        let _ = std::fs::remove_file(e.path(&format!(".evident/{f}")));
    }
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    for args in [&["status"][..], &["index", "--full"], &["--json", "list"]] {
        let r = e.ok(args, 1);
        assert!(r.stdout.is_empty(), "{args:?}");
        assert!(
            r.stderr.contains("is damaged or is not an Evident store")
                && r.stderr.contains("mv ")
                && r.stderr.contains("evident index"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the damaged file is kept as it was"
    );
    // Following the hint brings the items back from the files.
    std::fs::rename(&db, e.path(".evident/evident.db.damaged")).unwrap();
    e.ok(&["index"], 0);
    let j = e.ok(&["--json", "list"], 0).json();
    assert_eq!(j["items"][0]["id"], "ST-1");

    // Another program's SQLite database is not filled with Evident's tables (nor switched to WAL).
    let foreign = e.path("other.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let store = foreign.to_str().unwrap().to_string();
    let r = e.ok(&["--store", &store, "index"], 1);
    assert!(
        r.stderr.contains("another program") && r.stderr.contains("writes nothing"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
}

#[test]
fn a_blank_reason_is_no_reason() {
    let e = Env::with_preset("basic");
    e.write(
        "work/stories/ST-1.md",
        "---\nid: ST-1\nkind: story\ntitle: One\nstatus: in_progress\n---\n",
    );
    e.ok(&["index"], 0);
    let r = e.ok(&["reopen", "ST-1", "todo", "--reason", "  "], 1);
    assert!(r.stderr.contains("needs --reason"), "{}", r.stderr);
    let j = e
        .ok(&["--json", "move", "ST-1", "done", "--reason", " \t "], 0)
        .json();
    assert_eq!(j["event"]["reason"], serde_json::Value::Null, "{j}");
    let j = e
        .ok(
            &[
                "--json",
                "reopen",
                "ST-1",
                "todo",
                "--reason",
                "  QA found it ",
            ],
            0,
        )
        .json();
    assert_eq!(j["event"]["reason"], "QA found it");
}

#[test]
fn a_field_that_new_writes_itself_is_refused_with_the_way_to_set_it() {
    let e = Env::with_preset("cleargate");
    e.write(
        ".cleargate/delivery/pending-sync/EPIC-007_Payments.md",
        "---\nepic_id: \"EPIC-007\"\nstatus: \"Active\"\n---\n\n# EPIC-007: Payments\n",
    );
    e.ok(&["index"], 0);
    let new = |field: &str| {
        e.ok(
            &[
                "new", "story", "Refunds", "--parent", "EPIC-007", "--field", field,
            ],
            1,
        )
    };
    // The id key, the parent key and a key the template writes: each named for what it is
    // (these reached the file before, and the template was blamed for the duplicate key).
    for (field, hint) in [
        ("story_id=STORY-9-9", "ids are allocated by Evident"),
        ("parent_epic_ref=EPIC-001", "use --parent ID"),
        (
            "created_at=yesterday",
            "the story template writes `created_at` itself",
        ),
        ("status=Ready", "starts at `Draft`; move it afterwards"),
        ("title=Other", "the title is the command's second argument"),
    ] {
        let r = new(field);
        let key = field.split('=').next().unwrap();
        assert!(
            r.stderr.contains(&format!("--field cannot set `{key}`")) && r.stderr.contains(hint),
            "{field}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("template of kind"), "{}", r.stderr);
    }
    let r = e.ok(
        &[
            "new",
            "story",
            "Refunds",
            "--parent",
            "EPIC-007",
            "--field",
            "lane=fast",
            "--field",
            "lane=standard",
        ],
        1,
    );
    assert!(
        r.stderr.contains("--field `lane` is given twice"),
        "{}",
        r.stderr
    );
    // Nothing was written; a field of its own is still welcome.
    let files = std::fs::read_dir(e.path(".cleargate/delivery/pending-sync"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
    let id = e.ok(
        &[
            "new",
            "story",
            "Refunds",
            "--parent",
            "EPIC-007",
            "--field",
            "lane=fast",
        ],
        0,
    );
    assert_eq!(id.stdout.trim(), "STORY-007-01");
    // The basic preset: its detect fields (`type` is a kind field) are refused as well.
    let e = Env::with_preset("basic");
    let r = e.ok(&["new", "story", "x", "--field", "type=bug"], 1);
    assert!(
        r.stderr
            .contains("the kind is the command's first argument"),
        "{}",
        r.stderr
    );
}
