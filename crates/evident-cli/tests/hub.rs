//! A store shared by several checkouts and agents, end to end through the real binary and
//! real processes, on both backends: racing moves from eight checkouts leave a valid journal,
//! agents taking work from one queue never take the same item twice, and the PostgreSQL hub is
//! created by `evident migrate` with passwords redacted from every message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use common::*;
use evident_store::testing::{pg_schema, PgTestSchema};

/// A store URL shared by the test's checkouts, and what keeps it alive.
struct Shared {
    name: &'static str,
    url: String,
    _sqlite: Option<tempfile::TempDir>,
    _pg: Option<PgTestSchema>,
}

/// The same test on a shared SQLite file and on a PostgreSQL schema (when PostgreSQL answers;
/// in CI it must).
fn shared_stores(test: &str) -> Vec<Shared> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let mut v = vec![Shared {
        name: "sqlite",
        url,
        _sqlite: Some(dir),
        _pg: None,
    }];
    if let Some(s) = pg_schema(test) {
        v.push(Shared {
            name: "postgres",
            url: s.url.clone(),
            _sqlite: None,
            _pg: Some(s),
        });
    }
    v
}

fn checkout(store: &str, items: &[(&str, &str)]) -> Env {
    let e = Env::with_preset("basic");
    for (id, status) in items {
        e.write(&format!("work/stories/{id}.md"), &story(id, status, ""));
    }
    let r = e.run_env(&["index"], &[("EVIDENT_STORE", store)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    e
}

fn rank(status: &str) -> i64 {
    match status {
        "todo" => 0,
        "in_progress" | "blocked" => 1,
        "in_review" => 2,
        "done" | "cancelled" => 3,
        other => panic!("unknown status {other}"),
    }
}

#[test]
fn moves_racing_from_eight_checkouts_leave_a_valid_journal() {
    for shared in shared_stores("hub_race_moves") {
        let envs: Vec<Env> = (0..8)
            .map(|_| checkout(&shared.url, &[("ST-1", "todo")]))
            .collect();
        let targets = ["in_progress", "in_review", "done", "blocked"];
        let start = Arc::new(Barrier::new(envs.len()));
        let results: Vec<(String, Run)> = std::thread::scope(|s| {
            let hs: Vec<_> = envs
                .iter()
                .enumerate()
                .map(|(n, e)| {
                    let start = start.clone();
                    let url = shared.url.clone();
                    s.spawn(move || {
                        let to = targets[n % targets.len()];
                        let machine = format!("machine-{n}");
                        start.wait();
                        let r = e.run_env(
                            &["move", "ST-1", to, "--json"],
                            &[("EVIDENT_STORE", &url), ("EVIDENT_MACHINE", &machine)],
                        );
                        (to.to_string(), r)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (to, r) in &results {
            // A move either lands or is refused because another machine already went further.
            assert!(
                r.code == 0 || r.stderr.contains("lowers"),
                "[{}] move to {to}: {}",
                shared.name,
                r.stderr
            );
        }
        let log = envs[0]
            .run_env(
                &["log", "ST-1", "--json"],
                &[("EVIDENT_STORE", &shared.url)],
            )
            .json();
        let mut events: Vec<serde_json::Value> = log["events"].as_array().unwrap().clone();
        events.reverse();
        assert_eq!(events[0]["action"], "created");
        let mut at = "todo".to_string();
        for e in &events[1..] {
            assert_eq!(e["action"], "transition", "[{}] {e}", shared.name);
            assert_eq!(
                e["from"],
                at.as_str(),
                "[{}] each event starts where the last ended",
                shared.name
            );
            let to = e["to"].as_str().unwrap().to_string();
            assert!(
                rank(&to) >= rank(&at),
                "[{}] {at} → {to} lowers the rank",
                shared.name
            );
            at = to;
        }
        let show = envs[0]
            .run_env(
                &["show", "ST-1", "--json"],
                &[("EVIDENT_STORE", &shared.url)],
            )
            .json();
        assert_eq!(show["item"]["status"], "done", "[{}] {show}", shared.name);
        assert_eq!(at, "done");
        let landed = results
            .iter()
            .filter(|(_, r)| r.code == 0 && r.json()["action"] != "none")
            .count();
        assert_eq!(
            landed,
            events.len() - 1,
            "[{}] one event per move that landed",
            shared.name
        );
    }
}

#[test]
fn agents_taking_work_from_one_queue_never_take_the_same_item_twice() {
    for shared in shared_stores("hub_agents_queue") {
        let ids: Vec<String> = (1..=12).map(|n| format!("ST-{n}")).collect();
        let items: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "todo")).collect();
        let env = checkout(&shared.url, &items);
        let agents = 4;
        let start = Arc::new(Barrier::new(agents));
        let taken: Vec<(String, String)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..agents)
                .map(|n| {
                    let start = start.clone();
                    let env = &env;
                    let url = shared.url.clone();
                    s.spawn(move || {
                        let me = format!("agent-{n}");
                        let vars = [
                            ("EVIDENT_STORE", url.as_str()),
                            ("EVIDENT_ACTOR", me.as_str()),
                        ];
                        let mut mine = Vec::new();
                        start.wait();
                        loop {
                            let r = env.run_env(
                                &["ready", "--unclaimed", "--limit", "2", "--json"],
                                &vars,
                            );
                            let v = r.json();
                            let next: Vec<String> = v["items"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|i| i["id"].as_str().unwrap().to_string())
                                .collect();
                            if next.is_empty() {
                                break;
                            }
                            for id in next {
                                let r = env.run_env(&["claim", &id, "--json"], &vars);
                                if r.code == 0 {
                                    assert_eq!(r.json()["claim"]["agent"], me.as_str());
                                    mine.push((id, me.clone()));
                                    break;
                                }
                                assert!(r.stderr.contains("is claimed by"), "{}", r.stderr);
                            }
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut by_item: HashMap<String, Vec<String>> = HashMap::new();
        for (id, agent) in &taken {
            by_item.entry(id.clone()).or_default().push(agent.clone());
        }
        assert!(
            by_item.values().all(|a| a.len() == 1),
            "[{}] taken twice: {by_item:?}",
            shared.name
        );
        assert_eq!(
            by_item.len(),
            ids.len(),
            "[{}] every item taken",
            shared.name
        );
        let claims = env
            .run_env(&["claims", "--json"], &[("EVIDENT_STORE", &shared.url)])
            .json();
        assert_eq!(claims["count"], 12, "[{}]", shared.name);
    }
}

#[test]
fn a_hub_is_created_by_migrate_and_passwords_never_show() {
    let Some(base) = pg_schema("hub_migrate_cli") else {
        return;
    };
    let url = format!("{}_fresh", base.url);
    let env = Env::with_preset("basic");
    env.write("work/stories/ST-1.md", &story("ST-1", "todo", ""));
    let vars = [("EVIDENT_STORE", url.as_str())];
    let r = env.run_env(&["status"], &vars);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("schema version 0") && r.stderr.contains("evident migrate"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    let m = env.run_env(&["migrate", "--json"], &vars);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let v = m.json();
    assert_eq!(
        (
            v["backend"].as_str(),
            v["from_version"].as_u64(),
            v["to_version"].as_u64()
        ),
        (
            Some("postgres"),
            Some(0),
            Some(u64::from(evident_store::LATEST_SCHEMA))
        )
    );
    let again = env.run_env(&["migrate"], &vars);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    let r = env.run_env(&["index"], &vars);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = env.run_env(&["move", "ST-1", "in_progress"], &vars);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(env
        .read("work/stories/ST-1.md")
        .contains("status: in_progress"));
    // A wrong port: a clear message, the password hidden.
    let r = env.run_env(
        &["status"],
        &[(
            "EVIDENT_STORE",
            "postgres://evident:hunter2@127.0.0.1:1/test",
        )],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot connect") && r.stderr.contains("evident:***@127.0.0.1:1"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let r = env.run_env(
        &["--json", "status"],
        &[(
            "EVIDENT_STORE",
            "postgres://evident:hunter2@127.0.0.1:1/test",
        )],
    );
    assert!(
        !r.stderr.contains("hunter2") && r.stdout.is_empty(),
        "{}",
        r.stderr
    );
    let fresh = evident_store::PgTarget::parse(&url).unwrap();
    evident_store::PgStore::drop_schema(&fresh).unwrap();
}

#[test]
fn claims_from_the_cli_on_the_embedded_store() {
    let env = Env::with_preset("basic");
    env.write("work/stories/ST-1.md", &story("ST-1", "todo", ""));
    env.write("work/stories/ST-2.md", &story("ST-2", "done", ""));
    env.ok(&["index"], 0);
    let c = env
        .run_env(
            &["claim", "ST-1", "--ttl", "1h", "--json"],
            &[("EVIDENT_ACTOR", "ann")],
        )
        .json();
    assert_eq!(c["claim"]["expires_at"], "2026-01-02T04:04:05Z");
    let r = env.run_env(&["claim", "ST-1"], &[("EVIDENT_ACTOR", "bob")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("ST-1 is claimed by ann until 2026-01-02T04:04:05Z"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("release ST-1 --force"), "{}", r.stderr);
    // An hour later the lease is over: bob takes it.
    let later = [
        ("EVIDENT_ACTOR", "bob"),
        ("EVIDENT_NOW", "2026-01-02T04:04:05Z"),
    ];
    let r = env.run_env(&["ready", "--unclaimed", "--json"], &later);
    assert_eq!(r.json()["count"], 1);
    assert_eq!(env.run_env(&["claim", "ST-1"], &later).code, 0);
    let r = env.run(&["claim", "ST-2"]);
    assert!(
        r.code == 1 && r.stderr.contains("no work left"),
        "{}",
        r.stderr
    );
    let r = env.run(&["claim", "NOPE-1"]);
    assert_eq!(r.code, 1);
    let r = env.run(&["claim", "ST-1", "--ttl", "forever"]);
    assert!(
        r.code == 1 && r.stderr.contains("lease length"),
        "{}",
        r.stderr
    );
    let r = env.run_env(&["release", "ST-1", "--json"], &later);
    assert_eq!(r.json()["released"], true);
    let log = env.run(&["log", "ST-1"]).stdout;
    assert!(log.contains("release") && log.contains("claim"), "{log}");
}

#[test]
fn moves_respect_claims_and_finishing_releases_them() {
    let env = Env::with_preset("basic");
    env.write("work/stories/ST-1.md", &story("ST-1", "todo", ""));
    env.ok(&["index"], 0);
    let ann = [("EVIDENT_ACTOR", "ann")];
    let bob = [("EVIDENT_ACTOR", "bob")];
    env.run_env(&["claim", "ST-1", "--ttl", "1h"], &ann);
    let before = env.read("work/stories/ST-1.md");
    let r = env.run_env(&["move", "ST-1", "in_progress", "--json"], &bob);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .contains("ST-1 is claimed by ann until 2026-01-02T04:04:05Z"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force --reason"), "{}", r.stderr);
    let r = env.run_env(&["move", "ST-1", "in_progress", "--force"], &bob);
    assert!(
        r.code == 1 && r.stderr.contains("--force needs --reason"),
        "{}",
        r.stderr
    );
    assert_eq!(env.read("work/stories/ST-1.md"), before, "nothing written");
    // The holder moves; the lease stays while work goes on.
    let r = env.run_env(&["move", "ST-1", "in_progress", "--json"], &ann);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        env.run(&["claims", "--json"]).json()["claims"][0]["agent"],
        "ann"
    );
    // Broken on purpose, journaled as an override; finishing ends the lease.
    let r = env.run_env(
        &[
            "move",
            "ST-1",
            "done",
            "--force",
            "--reason",
            "ann is away",
            "--json",
        ],
        &bob,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["action"], "override");
    assert_eq!(j["event"]["reason"], "ann is away (lease of ann broken)");
    assert!(env.read("work/stories/ST-1.md").contains("status: done"));
    assert_eq!(
        env.run(&["claims", "--json"]).json()["claims"],
        serde_json::json!([])
    );
    let log = env.run(&["log", "ST-1", "--json"]).json();
    let newest = &log["events"][0];
    assert_eq!(newest["action"], "release", "{log}");
    assert_eq!(
        newest["reason"],
        "lease of ann ended: bob moved the item to done (--force)"
    );
}
