//! What the hot paths cost in SQL statements, which unlike their time is deterministic: a
//! no-change index, `show`, `status` and `list` each run a fixed number of statements, however
//! many documents, items and journal events the repository holds. A statement per row creeping
//! into one of them shows here as a count that grows with the repository. A first index grows
//! by a fixed number of statements per document, counted here too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use evident_engine::index::{index, NoProgress};
use evident_engine::{ops, ItemFilter};
use evident_store::testing::{count_statements, statements_run};

mod common;
use common::{age, demo_repo, files_under, open, write_aged};

/// Write stories `ST-{from}`.. (`n` of them, dated an hour back), children of `EP-1` and
/// dependent on `ST-1`.
fn write_stories(root: &Path, from: usize, n: usize) {
    for i in from..from + n {
        write_aged(
            root,
            &format!("work/more/ST-{i}.md"),
            &format!(
                "---\nid: ST-{i}\nkind: story\ntitle: Story {i}\nstatus: todo\nparent: EP-1\ndepends_on: [ST-1]\n---\n\n## Description\n\nText.\n"
            ),
        );
    }
}

/// The statements each hot path runs, each through a workspace opened for it (as a command
/// opens one).
#[derive(Debug, PartialEq)]
struct Costs {
    no_change_index: u64,
    show_epic: u64,
    show_story: u64,
    status: u64,
    list: u64,
}

fn counted(root: &Path, f: impl FnOnce(&mut evident_engine::Workspace)) -> u64 {
    let before = statements_run();
    let mut ws = open(root);
    f(&mut ws);
    drop(ws);
    statements_run() - before
}

fn costs(root: &Path) -> Costs {
    Costs {
        no_change_index: counted(root, |ws| {
            let o = index(ws, false, &NoProgress).unwrap();
            assert_eq!((o.read, o.parsed, o.report.created), (0, 0, 0), "{o:?}");
            // Every diagnostic was read on the way, for `index` to print without a query more.
            assert!(o.report.diagnostics.is_some(), "{o:?}");
        }),
        show_epic: counted(root, |ws| {
            ops::show(ws, "EP-1").unwrap();
        }),
        show_story: counted(root, |ws| {
            ops::show(ws, "ST-1").unwrap();
        }),
        status: counted(root, |ws| {
            ops::status(ws, 10, 10).unwrap();
        }),
        list: counted(root, |ws| {
            let filter = ItemFilter {
                kinds: vec!["story".into()],
                statuses: vec!["todo".into()],
                ..Default::default()
            };
            ws.store().list_items(&filter).unwrap();
        }),
    }
}

#[test]
fn hot_paths_run_a_fixed_number_of_statements_whatever_the_repository_size() {
    count_statements();
    let repo = demo_repo();
    for f in files_under(repo.path()) {
        age(&f);
    }
    write_stories(repo.path(), 100, 5);
    let mut ws = open(repo.path());
    index(&mut ws, false, &NoProgress).unwrap();
    drop(ws);
    let small = costs(repo.path());

    write_stories(repo.path(), 105, 300);
    let mut ws = open(repo.path());
    assert_eq!(
        index(&mut ws, false, &NoProgress).unwrap().report.created,
        300
    );
    // Journal events for the same items: moves through the workflow.
    for i in 100..130 {
        ops::move_item(
            &mut ws,
            &format!("ST-{i}"),
            "in_progress",
            ops::MoveMode::Move { force: false },
            None,
        )
        .unwrap();
    }
    drop(ws);
    // (The moves rewrote those documents: one pass reads them, then nothing changes.)
    for f in files_under(repo.path()) {
        age(&f);
    }
    let mut ws = open(repo.path());
    index(&mut ws, false, &NoProgress).unwrap();
    drop(ws);
    let large = costs(repo.path());

    assert_eq!(
        small, large,
        "a hot path's statements grew with the repository"
    );
    // Today's counts (each includes the 6 statements of opening the store: its version, with a
    // subprogram, and 4 settings). A change that adds a statement to a hot path changes these
    // on purpose.
    let today = Costs {
        no_change_index: 9,
        show_epic: 14,
        show_story: 14,
        status: 15,
        list: 7,
    };
    assert_eq!(large, today);
}

/// The statements of a first index grow by a fixed number per document: for each story
/// document (one item, depending on the story before it) its item, its source, its journal
/// event, its dependency and its file state, one statement each. A lookup per item creeping
/// into a first load shows here as a sixth. (An item whose dependency is declared later by path
/// costs one more, the correction of its `blocked` flag once the dependency is read.)
#[test]
fn a_first_index_runs_five_statements_per_one_item_document() {
    count_statements();
    let first_index = |stories: usize| {
        let repo = demo_repo();
        for i in 100..100 + stories {
            let deps = if i > 100 {
                format!("depends_on: [ST-{}]\n", i - 1)
            } else {
                String::new()
            };
            let p = repo.path().join(format!("work/chain/ST-{i}.md"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(
                &p,
                format!("---\nid: ST-{i}\nkind: story\ntitle: Story {i}\nstatus: todo\n{deps}---\n\nText.\n"),
            )
            .unwrap();
        }
        let n = counted(repo.path(), |ws| {
            let o = index(ws, false, &NoProgress).unwrap();
            assert!(o.report.created >= stories, "{o:?}");
        });
        (n, repo)
    };
    let (small, _a) = first_index(5);
    let (large, _b) = first_index(305);
    assert_eq!(large - small, 300 * 5, "{small} and {large} statements");
}

/// `check` compares the documents it re-reads with the store a chunk at a time, in a fixed
/// number of statements per chunk: 2 edited documents and 40 cost the same (the lookups were
/// three statements per document).
#[test]
fn check_reads_the_store_in_a_fixed_number_of_statements_however_many_documents_changed() {
    count_statements();
    let check_with_edits = |edited: usize| {
        let repo = demo_repo();
        for f in files_under(repo.path()) {
            age(&f);
        }
        write_stories(repo.path(), 100, 40);
        let mut ws = open(repo.path());
        index(&mut ws, false, &NoProgress).unwrap();
        drop(ws);
        for i in 100..100 + edited {
            let p = repo.path().join(format!("work/more/ST-{i}.md"));
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, text.replace("status: todo", "status: in_progress")).unwrap();
            age(&p);
        }
        let mut findings = 0;
        let n = counted(repo.path(), |ws| {
            let r = evident_engine::reconcile::check(ws).unwrap();
            findings = r.findings.iter().filter(|f| f.code == "EV203").count();
        });
        assert_eq!(findings, edited);
        n
    };
    assert_eq!(check_with_edits(2), check_with_edits(40));
}
