//! Gates, evidence, sign-off, readiness and lanes, end to end through the binary: the phase
//! tracker fixture (examples/phase-tracker) reaches Signed Off only once its evidence is real and
//! three roles signed; every evidence kind verifies, fails, and refuses bad input; unchanged
//! items are never evaluated twice; guards refuse or warn on `move`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const RESTORE_LOG: &str = "restore drill 2026-11-20: 41 GiB restored in 12m03s, checksums match\n";

const OPENAPI: &str = "openapi: 3.0.3\ninfo: {title: Orders, version: '1'}\npaths:\n  /orders:\n    post:\n      responses:\n        '201': {description: created}\n";

const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="orders" tests="2" failures="1">
  <testcase classname="orders" name="creates_exactly_once" time="0.01"/>
  <testcase classname="orders" name="refunds_twice"><failure message="refunded twice"/></testcase>
</testsuite></testsuites>
"#;

/// A git repository holding a copy of the phase tracker fixture, committed.
fn tracker() -> Env {
    let e = Env::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/phase-tracker");
    for rel in [
        ".gitignore",
        "evident.toml",
        "phases/PH-1.md",
        "phases/tasks/TK-1.md",
        "phases/tasks/TK-2.md",
    ] {
        e.write(rel, &std::fs::read_to_string(src.join(rel)).unwrap());
    }
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "fixture"]);
    e.ok(&["index"], 0);
    e
}

fn produce_evidence(e: &Env) {
    e.write(
        "docs/architecture.md",
        "# Architecture\n\nTrust boundaries: ...\n",
    );
    e.write("api/openapi.yaml", OPENAPI);
    e.write("reports/junit.xml", JUNIT);
    e.write("ops/evidence/restore.log", RESTORE_LOG);
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "evidence"]);
}

#[test]
fn a_phase_reaches_signed_off_only_with_real_evidence_and_signoffs() {
    let e = tracker();
    // Before: declared evidence that does not exist yet; not ready.
    let r = e.ok(&["readiness", "--scope", "PH-1", "--json"], 2).json();
    assert_eq!(r["ready"], false);
    assert!(
        r["passed"].as_u64().unwrap() < r["total"].as_u64().unwrap(),
        "{r}"
    );
    let failing: Vec<&str> = r["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["criterion"].as_str().unwrap())
        .collect();
    for c in [
        "children-done",
        "doc-evidence",
        "contract-evidence",
        "artifact-evidence",
        "signoffs",
    ] {
        assert!(failing.contains(&c), "{c} missing from {failing:?}");
    }
    assert!(!r["top_actions"].as_array().unwrap().is_empty());
    let md = e
        .ok(&["readiness", "--scope", "PH-1", "--markdown"], 2)
        .stdout;
    assert!(
        md.starts_with("## Readiness: PH-1 (not ready)") && md.contains("### Top actions"),
        "{md}"
    );

    e.ok(&["move", "PH-1", "In Progress"], 0);
    let r = e.ok(&["move", "PH-1", "Ready for Signoff"], 1);
    assert!(
        r.stderr.contains("cannot enter Ready for Signoff"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("children-done") && r.stderr.contains("TK-1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("fix: declare the phase's documents"),
        "{}",
        r.stderr
    );
    assert!(e.read("phases/PH-1.md").contains("status: In Progress"));
    let v = e.ok(&["evidence", "verify", "PH-1", "--json"], 2).json();
    assert_eq!(v["failing"], 4);

    // The evidence is produced and the tasks finished.
    produce_evidence(&e);
    e.ok(&["move", "TK-1", "done"], 0);
    e.ok(&["move", "TK-2", "done"], 0);
    let v = e.ok(&["evidence", "verify", "PH-1", "--json"], 0).json();
    let verdicts: Vec<&str> = v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["verified"; 4]);
    e.ok(&["move", "PH-1", "Ready for Signoff"], 0);
    // Signed Off still needs the three sign-offs.
    let r = e.ok(&["move", "PH-1", "Signed Off"], 1);
    assert!(
        r.stderr
            .contains("sign-off missing from architecture, security, ops"),
        "{}",
        r.stderr
    );
    e.ok(
        &["signoff", "PH-1", "--role", "architecture", "--as", "ari"],
        0,
    );
    e.ok(
        &[
            "signoff",
            "PH-1",
            "--role",
            "security",
            "--as",
            "sam",
            "--note",
            "threat model ok",
        ],
        0,
    );
    let r = e.ok(&["signoff", "PH-1", "--role", "marketing", "--as", "x"], 1);
    assert!(
        r.stderr.contains("roles: architecture, ops, security"),
        "{}",
        r.stderr
    );
    // A reviewer finds a gap: recorded, sent back, earlier sign-offs void.
    let rv = e
        .ok(
            &[
                "review",
                "PH-1",
                "--gaps",
                "no ops runbook",
                "--as",
                "lee",
                "--json",
            ],
            0,
        )
        .json();
    assert_eq!(
        (rv["moved"]["from"].as_str(), rv["moved"]["to"].as_str()),
        (Some("ready_for_signoff"), Some("in_progress"))
    );
    assert!(e.read("phases/PH-1.md").contains("status: In Progress"));
    e.ok(&["move", "PH-1", "Ready for Signoff"], 0);
    e.ok(&["signoff", "PH-1", "--role", "ops", "--as", "lee"], 0);
    let r = e.ok(&["move", "PH-1", "Signed Off"], 1);
    assert!(
        r.stderr
            .contains("sign-off missing from architecture, security"),
        "{}",
        r.stderr
    );
    e.ok(
        &[
            "signoff",
            "PH-1",
            "--role",
            "architecture",
            "--as",
            "ari",
            "--correlation-id",
            "REL-7",
        ],
        0,
    );
    e.ok(&["signoff", "PH-1", "--role", "security", "--as", "sam"], 0);
    let r = e.ok(&["readiness", "--scope", "PH-1", "--json"], 0).json();
    assert_eq!(
        (r["ready"].as_bool(), r["passed"].clone()),
        (Some(true), r["total"].clone()),
        "{r}"
    );
    e.ok(&["move", "PH-1", "Signed Off"], 0);
    assert!(e.read("phases/PH-1.md").contains("status: Signed Off"));
    // History shows the review, the sign-offs and who made them.
    let log = e.ok(&["log", "PH-1", "--json"], 0).json();
    let events: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "review lee",
        "signoff ari",
        "signoff sam",
        "signoff lee",
        "reopen lee",
    ] {
        assert!(
            events.contains(&want.to_string()),
            "{want} not in {events:?}"
        );
    }
    assert!(log["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["correlation_id"] == "REL-7"));
    // Evidence that changes after the fact is caught.
    e.write("ops/evidence/restore.log", "edited\n");
    let v = e.ok(&["evidence", "verify", "PH-1", "--json"], 2).json();
    let art = v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "artifact")
        .unwrap()
        .clone();
    assert_eq!(art["verdict"], "failed");
    assert!(
        art["detail"]
            .as_str()
            .unwrap()
            .contains("expected 548f140a"),
        "{art}"
    );
    // ... and `check` says the Signed Off claim is no longer backed.
    let found = unbacked(&e, 2);
    assert!(
        found.len() == 1 && found[0].0 == "PH-1" && found[0].1.contains("artifact-evidence"),
        "{found:?}"
    );
}

/// The EV211 findings of `check`: (item, message).
fn unbacked(e: &Env, code: i32) -> Vec<(String, String)> {
    let r = e.ok(&["--json", "check"], code).json();
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "EV211")
        .map(|f| {
            (
                f["item"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_status_held_without_its_gate_is_reported_until_met_reopened_or_overridden() {
    let e = tracker();
    assert!(unbacked(&e, 0).is_empty());
    // Edited straight into the file: `move`'s guard never ran.
    let text = e.read("phases/PH-1.md");
    e.write(
        "phases/PH-1.md",
        &text.replace("status: Not Started", "status: Ready for Signoff"),
    );
    git(e.root(), &["commit", "-qam", "claim it"]);
    e.ok(&["index"], 0);
    let found = unbacked(&e, 2);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "PH-1");
    assert!(
        found[0].1.contains("`Ready for Signoff`")
            && found[0].1.contains("phase-ready-for-signoff")
            && found[0].1.contains("children-done")
            && found[0].1.contains("doc-evidence"),
        "{}",
        found[0].1
    );
    let text = e.ok(&["check"], 2).stdout;
    assert!(
        text.contains("EV211 phases/PH-1.md:1") && text.contains("evident reopen PH-1"),
        "{text}"
    );
    // `check` wrote no gate result: the first `gate check` evaluates everything.
    let g = e.ok(&["gate", "check", "PH-1", "--json"], 1).json();
    assert_eq!(g["cached"], 0, "{g}");
    let held: Vec<(&str, bool, bool)> = g["items"][0]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["gate"].as_str().unwrap(),
                g["held"].as_bool().unwrap(),
                g["pass"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        held.contains(&("phase-ready-for-signoff", true, false))
            && held.contains(&("phase-signed-off", false, false)),
        "{held:?}"
    );
    let r = e.ok(&["readiness", "--scope", "PH-1", "--json"], 2).json();
    assert!(
        r["failing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["criterion"] == "doc-evidence" && f["held"] == true),
        "{r}"
    );
    assert!(e
        .ok(&["readiness", "--scope", "PH-1"], 2)
        .stdout
        .contains("[enforcing, status already held]"));

    // The gate is met: nothing to report.
    produce_evidence(&e);
    e.ok(&["move", "TK-1", "done"], 0);
    e.ok(&["move", "TK-2", "done"], 0);
    git(e.root(), &["commit", "-qam", "tasks"]);
    assert!(unbacked(&e, 0).is_empty());
    // Evidence that stops verifying leaves the claim unbacked again.
    std::fs::remove_file(e.path("docs/architecture.md")).unwrap();
    git(e.root(), &["commit", "-qam", "lose the doc"]);
    let found = unbacked(&e, 2);
    assert!(
        found.len() == 1
            && found[0].1.contains("doc-evidence")
            && !found[0].1.contains("children-done"),
        "{found:?}"
    );
    // A journaled override is the accepted exception.
    e.ok(
        &["reopen", "PH-1", "In Progress", "--reason", "doc lost"],
        0,
    );
    assert!(unbacked(&e, 0).is_empty());
    e.ok(&["move", "PH-1", "Ready for Signoff"], 1);
    e.ok(
        &[
            "move",
            "PH-1",
            "Ready for Signoff",
            "--force",
            "--reason",
            "the doc is being rewritten; signed off by the lead",
        ],
        0,
    );
    assert!(unbacked(&e, 0).is_empty());
    let g = e.ok(&["gate", "check", "PH-1", "--json"], 1).json();
    let held = g["items"][0]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["held"] == true)
        .unwrap()
        .clone();
    assert_eq!(
        (held["pass"].as_bool(), held["overridden"].as_bool()),
        (Some(false), Some(true)),
        "{held}"
    );
    let text = e.ok(&["gate", "check", "PH-1"], 1).stdout;
    assert!(
        text.contains("held: ready_for_signoff entered by override"),
        "{text}"
    );
}

#[test]
fn unchanged_items_are_never_evaluated_twice() {
    let e = tracker();
    let first = e.ok(&["gate", "check", "--all", "--json"], 1).json();
    let evaluated = first["evaluated"].as_u64().unwrap();
    assert!(evaluated >= 3, "{first}");
    assert_eq!(first["cached"], 0);
    let second = e.ok(&["gate", "check", "--all", "--json"], 1).json();
    assert_eq!(second["evaluated"], 0, "{second}");
    assert_eq!(second["cached"].as_u64(), Some(evaluated));
    assert_eq!(first["items"][0]["gates"], second["items"][0]["gates"]);
    // Nothing was verified again either.
    assert_eq!(second["items"][0]["evidence"], serde_json::json!([]));
    // The files hold no cache: nothing in the repository changed.
    assert!(git(e.root(), &["status", "--porcelain"]).is_empty());
    // An evidence file appears: only PH-1's gates run again.
    e.write("docs/architecture.md", "# Architecture\n");
    let third = e.ok(&["gate", "check", "--all", "--json"], 1).json();
    assert_eq!(third["evaluated"].as_u64(), Some(evaluated), "{third}");
    // Readiness reads the same cache.
    let r = e.ok(&["readiness", "--json"], 2).json();
    assert_eq!(r["evaluated"], 0, "{r}");
    let line = e.ok(&["gate", "explain", "PH-1"], 1).stdout;
    assert!(
        line.starts_with("PH-1: fail (phase-ready-for-signoff/children-done"),
        "{line}"
    );
}

fn verdict(e: &Env, id: &str, args: &[&str]) -> (String, String) {
    let mut a = vec!["evidence", "add", id];
    a.extend_from_slice(args);
    a.push("--json");
    let r = e.ok(&a, 0).json();
    (
        r["verdict"].as_str().unwrap().to_string(),
        r["detail"].as_str().unwrap().to_string(),
    )
}

#[test]
fn every_evidence_kind_verifies_fails_and_refuses_bad_input() {
    let e = Env::with_preset("basic");
    e.write("work/stories/ST-1.md", &story("ST-1", "todo", ""));
    e.write("docs/a.md", "# Title\n\n## Orders API\n\ntext\n");
    e.write("docs/empty.md", "  \n");
    e.write(
        "api/openapi.json",
        r#"{"openapi":"3.0.0","paths":{"/orders":{"get":{}}}}"#,
    );
    e.write("api/broken.yaml", "paths: [unclosed\n");
    e.write("reports/junit.xml", JUNIT);
    e.write("reports/corrupt.xml", "<testsuite><testcase name=\"x\">");
    e.write(
        "reports/run.tap",
        "TAP version 13\n1..2\nok 1 - smoke\nnot ok 2 - load\n",
    );
    e.write(
        "reports/nextest.json",
        "{\"type\":\"test\",\"event\":\"ok\",\"name\":\"core::merge::never_lowers\"}\n",
    );
    e.write("ops/restore.log", RESTORE_LOG);
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "files"]);
    let head = git(e.root(), &["rev-parse", "HEAD"]);
    e.write("uncommitted.rs", "fn main() {}\n");
    e.ok(&["index"], 0);
    let sha = "548f140a20eabdf4749d1002a28eef1dd95af6b39a6622a6a26de38eb2a93b03";
    let zeros = "0".repeat(64);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--kind", "doc", "--path", "docs/a.md"],
            "verified",
            "exists",
        ),
        (
            vec!["--kind", "doc", "--path", "docs/missing.md"],
            "failed",
            "does not exist",
        ),
        (
            vec!["--kind", "doc", "--path", "docs/empty.md"],
            "failed",
            "is empty",
        ),
        (
            vec![
                "--kind",
                "contract",
                "--path",
                "docs/a.md",
                "--heading",
                "Orders API",
            ],
            "verified",
            "heading",
        ),
        (
            vec![
                "--kind",
                "contract",
                "--path",
                "docs/a.md",
                "--heading",
                "Billing",
            ],
            "failed",
            "no heading",
        ),
        (
            vec![
                "--kind",
                "contract",
                "--path",
                "api/openapi.json",
                "--api-path",
                "/orders",
                "--method",
                "GET",
            ],
            "verified",
            "defines GET /orders",
        ),
        (
            vec![
                "--kind",
                "contract",
                "--path",
                "api/openapi.json",
                "--api-path",
                "/orders",
                "--method",
                "delete",
            ],
            "failed",
            "no DELETE",
        ),
        (
            vec![
                "--kind",
                "contract",
                "--path",
                "api/broken.yaml",
                "--api-path",
                "/x",
                "--method",
                "get",
            ],
            "error",
            "not valid OpenAPI",
        ),
        (
            vec!["--kind", "code", "--commit", &head],
            "verified",
            "HEAD's history",
        ),
        (
            vec![
                "--kind",
                "code",
                "--commit",
                "0123456789abcdef0123456789abcdef01234567",
            ],
            "failed",
            "not in this repository",
        ),
        (
            vec!["--kind", "code", "--path", "docs/a.md"],
            "verified",
            "present at HEAD",
        ),
        (
            vec!["--kind", "code", "--path", "uncommitted.rs"],
            "failed",
            "not present at HEAD",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/junit.xml",
                "--test",
                "orders.creates_exactly_once",
            ],
            "verified",
            "passed",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/junit.xml",
                "--test",
                "refunds_twice",
            ],
            "failed",
            "failed in",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/junit.xml",
                "--test",
                "nope",
            ],
            "failed",
            "is not in",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/corrupt.xml",
                "--test",
                "x",
            ],
            "error",
            "corrupt XML",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/run.tap",
                "--test",
                "smoke",
            ],
            "verified",
            "TAP",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/run.tap",
                "--test",
                "load",
            ],
            "failed",
            "failed in",
        ),
        (
            vec![
                "--kind",
                "test",
                "--report",
                "reports/nextest.json",
                "--test",
                "never_lowers",
            ],
            "verified",
            "libtest JSON",
        ),
        (
            vec![
                "--kind",
                "artifact",
                "--path",
                "ops/restore.log",
                "--sha256",
                sha,
            ],
            "verified",
            "sha256",
        ),
        (
            vec![
                "--kind",
                "artifact",
                "--path",
                "ops/restore.log",
                "--sha256",
                &zeros,
            ],
            "failed",
            "expected 0000",
        ),
        (
            vec![
                "--kind",
                "ci",
                "--provider",
                "gitlab",
                "--run-id",
                "88",
                "--status",
                "success",
                "--url",
                "https://ci/88",
            ],
            "verified",
            "success",
        ),
        (
            vec![
                "--kind",
                "ci",
                "--provider",
                "gitlab",
                "--run-id",
                "89",
                "--status",
                "failed",
            ],
            "failed",
            "not success",
        ),
        (
            vec!["--kind", "url", "--url", "https://example.com/report"],
            "unverified",
            "does not fetch",
        ),
    ];
    for (args, want, needle) in &cases {
        let (v, d) = verdict(&e, "ST-1", args);
        assert_eq!(&v, want, "{args:?}: {d}");
        assert!(d.contains(needle), "{args:?}: {d}");
    }
    // Bad input: refused before anything is stored.
    for (args, needle) in [
        (
            vec!["--kind", "doc", "--path", "../outside.md"],
            "climbs out",
        ),
        (vec!["--kind", "doc", "--path", "/etc/passwd"], "absolute"),
        (
            vec![
                "--kind",
                "artifact",
                "--path",
                "ops/restore.log",
                "--sha256",
                "abc",
            ],
            "64 hex",
        ),
        (
            vec!["--kind", "test", "--report", "reports/junit.xml"],
            "needs `test`",
        ),
        (vec!["--kind", "video"], "unknown"),
        (
            vec!["--kind", "url", "--url", "see the wiki"],
            "is not a URL",
        ),
    ] {
        let mut a = vec!["evidence", "add", "ST-1"];
        a.extend_from_slice(&args);
        let r = e.ok(&a, 1);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let n = e.ok(&["evidence", "verify", "ST-1", "--json"], 2).json()["count"].clone();
    assert_eq!(n.as_u64(), Some(cases.len() as u64));
    // Declared in a file: a path escaping through a symlink is reported, never read.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc", e.path("etc-link")).unwrap();
        e.write(
            "work/stories/ST-2.md",
            &story("ST-2", "todo", "evidence:\n  - {kind: doc, path: etc-link/hostname}\n  - {kind: doc, path: ../../x}\n  - {kind: artifact, path: a}\n"),
        );
        // (The walk reports the escaping link, EV105: exit 2.)
        e.ok(&["index"], 2);
        let v = e.ok(&["evidence", "verify", "ST-2", "--json"], 2).json();
        let details: Vec<(String, String)> = v["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["verdict"].as_str().unwrap().to_string(),
                    c["detail"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(details[0].0, "error");
        assert!(
            details[0].1.contains("outside the repository"),
            "{details:?}"
        );
        assert!(details[1].1.contains("climbs out"), "{details:?}");
        assert!(details[2].1.contains("sha256"), "{details:?}");
    }
}

#[test]
fn guards_warn_when_advisory_and_refuse_when_enforcing() {
    let e = Env::with_preset("basic");
    // Advisory (the basic preset): the move goes ahead with a warning.
    e.write("work/stories/ST-1.md", &story("ST-1", "in_review", ""));
    e.ok(&["index"], 0);
    let r = e.ok(&["move", "ST-1", "done"], 0);
    assert!(
        r.stderr.contains("advisory, not met") && !r.stderr.contains("story-done/no-open-markers"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("story-done/acceptance-criteria"),
        "{}",
        r.stderr
    );
    // Enforcing: refused with the hints, unless --force --reason (journaled as an override).
    let cfg = e
        .read("evident.toml")
        .replace("severity = \"advisory\"", "severity = \"enforcing\"");
    e.write("evident.toml", &cfg);
    e.write(
        "work/stories/ST-2.md",
        &story("ST-2", "in_review", "").replace("Text.", "Owner: TBD"),
    );
    e.ok(&["index"], 0);
    let r = e.ok(&["move", "ST-2", "done"], 1);
    assert!(
        r.stderr.contains("story-done/acceptance-criteria")
            && r.stderr.contains("story-done/no-open-markers"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("fix: resolve the TBD/TODO/FIXME markers"),
        "{}",
        r.stderr
    );
    let chk = e
        .ok(
            &["gate", "check", "ST-2", "--transition", "done", "--json"],
            1,
        )
        .json();
    assert_eq!(chk["items"][0]["pass"], false);
    e.ok(&["move", "ST-2", "done", "--force"], 1);
    let j = e
        .ok(
            &[
                "move", "ST-2", "done", "--force", "--reason", "hotfix", "--json",
            ],
            0,
        )
        .json();
    assert_eq!(j["action"], "override");
    assert!(
        j["event"]["reason"]
            .as_str()
            .unwrap()
            .contains("gate overridden: story-done/acceptance-criteria"),
        "{j}"
    );
    // A story that meets the gate moves without a word.
    e.write(
        "work/stories/ST-3.md",
        "---\nid: ST-3\nkind: story\ntitle: Three\nstatus: in_review\n---\n\n## Acceptance Criteria\n\n- [ ] pays\n",
    );
    e.ok(&["index"], 0);
    let r = e.ok(&["move", "ST-3", "done"], 0);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // Gates may live in files evident.toml names; their errors point at them.
    let with_file = cfg.replacen(
        "id_scheme = \"random\"",
        "id_scheme = \"random\"\ngate_files = [\"gates/bugs.toml\"]",
        1,
    );
    e.write("evident.toml", &with_file);
    e.write("gates/bugs.toml", "[[gates]]\nid = \"bug-sev\"\nkind = \"bug\"\ninto = [\"done\"]\n[[gates.criteria]]\nid = \"sev\"\nfield = \"severity\"\nset = true\n");
    e.write(
        "work/bugs/BUG-1.md",
        "---\nid: BUG-1\nkind: bug\ntitle: B\nstatus: todo\n---\n",
    );
    e.ok(&["index"], 0);
    let r = e.ok(&["move", "BUG-1", "done"], 1);
    assert!(
        r.stderr.contains("bug-sev/sev: `severity` is not set"),
        "{}",
        r.stderr
    );
    e.write(
        "gates/bugs.toml",
        "[[gates]]\nid = \"bug-sev\"\nkind = \"bug\"\nsevrity = 1\n",
    );
    let r = e.ok(&["status"], 1);
    assert!(r.stderr.contains("gates/bugs.toml:4"), "{}", r.stderr);
    // A gate that parses but is refused by validation: located in its gate file too.
    e.write(
        "gates/bugs.toml",
        "[[gates]]\nid = \"bug-sev\"\nkind = \"bug\"\ninto = [\"done\"]\n\n[[gates.criteria]]\nid = \"sev\"\nfield = \"severity\"\n",
    );
    let r = e.ok(&["--json", "status"], 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let err: serde_json::Value = serde_json::from_str(&r.stderr).unwrap();
    let at = err["error"]["location"].as_str().unwrap();
    assert!(at.ends_with("gates/bugs.toml:7"), "{at}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("criterion `sev`: `field = \"severity\"` needs exactly one test"),
        "{err}"
    );
    e.write("gates/bugs.toml", "");
    e.write(
        "evident.toml",
        &cfg.replacen(
            "id_scheme = \"random\"",
            "id_scheme = \"random\"\ngate_files = [\"../outside.toml\"]",
            1,
        ),
    );
    let r = e.ok(&["status"], 1);
    assert!(r.stderr.contains("climbs out"), "{}", r.stderr);
    // A malformed gate is a configuration error that names the problem.
    e.write("evident.toml", &format!("{cfg}\n[[gates]]\nid = \"x\"\nkind = \"story\"\ninto = [\"shipped\"]\n[[gates.criteria]]\nid = \"a\"\nfield = \"f\"\nset = true\n"));
    let r = e.ok(&["status"], 1);
    assert!(
        r.stderr
            .contains("gate `x` guards `shipped`, which is not a status of story"),
        "{}",
        r.stderr
    );
    // ... at the line of the value at fault, not line 1.
    let line = e
        .read("evident.toml")
        .lines()
        .position(|l| l.contains("\"shipped\""))
        .unwrap()
        + 1;
    assert!(
        r.stderr.contains(&format!("evident.toml:{line}\n")),
        "line {line}: {}",
        r.stderr
    );
}

#[test]
fn lanes_are_current_only_with_all_three_fields_verified_and_fresh() {
    let e = Env::with_preset("basic");
    e.write("work/stories/ST-1.md", &story("ST-1", "todo", ""));
    e.write("work/stories/ST-2.md", &story("ST-2", "done", ""));
    e.write("docs/plan.md", "# Plan\n");
    e.write("reports/junit.xml", JUNIT);
    let mut cfg = e.read("evident.toml");
    cfg.push_str(
        r#"
[[lanes]]
id = "release"
owner_artifact = "docs/plan.md"
evidence = { kind = "test", report = "reports/junit.xml", test = "creates_exactly_once" }
next_action = "ST-1"
cadence = "7d"

[[lanes]]
id = "queue"
owner_artifact = "docs/plan.md"
evidence = { kind = "doc", path = "docs/plan.md" }

[[lanes]]
id = "billing"
owner_artifact = "docs/plan.md"
evidence = { kind = "test", report = "reports/junit.xml", test = "refunds_twice" }
next_action = "ST-2"

[[lanes]]
id = "blank"
owner_artifact = "docs"
evidence = { kind = "doc", path = "docs/plan.md" }
next_action = "  "

[[lanes]]
id = "stale-id"
owner_artifact = "docs/plan.md"
evidence = { kind = "doc", path = "docs/plan.md" }
next_action = "ST-99"

[[lanes]]
id = "text"
owner_artifact = "docs/plan.md"
evidence = { kind = "doc", path = "docs/plan.md" }
next_action = "Ask ops for the restore drill date"
"#,
    );
    e.write("evident.toml", &cfg);
    git(e.root(), &["add", "-A"]);
    git(e.root(), &["commit", "-qm", "lanes"]);
    e.ok(&["index"], 0);
    let now = chrono_now();
    let r = e.run_env(&["lanes", "--json"], &[("EVIDENT_NOW", &now)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let v = r.json();
    let by: std::collections::HashMap<String, serde_json::Value> = v["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l.clone()))
        .collect();
    assert_eq!(by["release"]["current"], true, "{}", by["release"]);
    assert_eq!(by["release"]["next_action_status"], "todo");
    assert_eq!(by["queue"]["current"], false);
    assert!(by["queue"]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("no next action"));
    // A blank next action is none, and a folder is not an owner artifact.
    assert_eq!(
        by["blank"]["reasons"],
        serde_json::json!(["owner artifact docs is not a file", "no next action"]),
    );
    // An item id that names no item is stale; plain text is a next action as it is.
    assert_eq!(
        by["stale-id"]["reasons"],
        serde_json::json!(["next action ST-99 names no known item"]),
    );
    assert_eq!(by["text"]["current"], true, "{}", by["text"]);
    assert_eq!(v["not_current"], 4);
    let billing = by["billing"]["reasons"].to_string();
    assert!(
        billing.contains("evidence not verified") && billing.contains("already done"),
        "{billing}"
    );
    // Ten days later the release lane is stale.
    let r = e.run_env(
        &["lanes", "--json"],
        &[("EVIDENT_NOW", "2099-01-01T00:00:00Z")],
    );
    let v = r.json();
    let release = v["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "release")
        .unwrap()
        .clone();
    assert_eq!(release["current"], false);
    assert!(
        release["reasons"]
            .to_string()
            .contains("older than its cadence (7d)"),
        "{release}"
    );
}

/// The real current time (the lanes test compares it with a fresh git commit).
fn chrono_now() -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
