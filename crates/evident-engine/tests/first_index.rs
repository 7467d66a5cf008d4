//! A new store is built under a temporary name and moved into place once whole. Two first
//! indexes of one repository racing each other must still end with one store, one set of
//! journal events, and no temporary file left behind: the loser's pass is discarded and it
//! indexes again, into the winner's store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use evident_engine::index::{index, NoProgress};
use evident_engine::{ItemFilter, Overrides, Workspace};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn demo_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
    copy_tree(&demo, dir.path());
    dir
}

fn open(root: &Path) -> Workspace {
    Workspace::open(&Overrides {
        dir: Some(root.to_path_buf()),
        actor: Some("ann".into()),
        ..Default::default()
    })
    .unwrap()
}

fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join(".evident"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new-"))
        .collect()
}

#[test]
fn a_first_index_that_loses_the_race_indexes_again_into_the_winners_store() {
    let repo = demo_repo();
    // Both open before either has published: each builds a store of its own.
    let mut first = open(repo.path());
    let mut second = open(repo.path());
    assert!(first.store().is_new() && second.store().is_new());
    assert!(!repo.path().join(".evident/evident.db").exists());

    let won = index(&mut first, false, &NoProgress).unwrap();
    assert!(won.report.created > 0);
    assert!(repo.path().join(".evident/evident.db").exists());

    let lost = index(&mut second, false, &NoProgress).unwrap();
    // Its own first pass was discarded; the pass it reports ran against the winner's store,
    // where every document was already indexed.
    assert_eq!(lost.report.created, 0, "{lost:?}");
    // (Documents written moments ago are read again to rule out an edit within the clock's
    // granularity, but none parses differently.)
    assert_eq!(lost.parsed, 0, "{lost:?}");
    assert!(!second.store().is_new());

    let items = second.store().list_items(&ItemFilter::default()).unwrap();
    assert_eq!(items.len(), won.report.created);
    // One journal event per item created, from the winner alone.
    let events = second.store().events(None, None).unwrap();
    assert_eq!(events.len(), won.report.created);
    assert!(
        leftovers(repo.path()).is_empty(),
        "{:?}",
        leftovers(repo.path())
    );
}

#[test]
fn a_new_store_appears_only_whole() {
    let repo = demo_repo();
    let mut ws = open(repo.path());
    // Opened, not yet written: nothing at the store's name, only the file being built.
    assert!(!repo.path().join(".evident/evident.db").exists());
    assert_eq!(leftovers(repo.path()).len(), 1);
    let o = index(&mut ws, false, &NoProgress).unwrap();
    assert!(o.report.created > 0);
    assert!(leftovers(repo.path()).is_empty());
    // The store this process reads from now is the published one: another opener sees the
    // same items, and its own pass finds nothing to do.
    let mut other = open(repo.path());
    assert!(!other.store().is_new());
    let again = index(&mut other, false, &NoProgress).unwrap();
    assert_eq!((again.parsed, again.report.created), (0, 0));
    assert_eq!(
        ws.store().list_items(&ItemFilter::default()).unwrap().len(),
        o.report.created
    );
}

#[test]
fn a_first_index_reports_the_diagnostics_of_the_store_it_published() {
    let repo = demo_repo();
    // A document that does not parse, and one whose dependency names no item.
    std::fs::write(
        repo.path().join("work/stories/ST-8.md"),
        "---\nid: ST-8\nkind: story\ntitle: \"never closed\nstatus: todo\n---\n",
    )
    .unwrap();
    std::fs::write(
        repo.path().join("work/stories/ST-9.md"),
        "---\nid: ST-9\nkind: story\ntitle: Waits\nstatus: todo\ndepends_on: [ST-404]\n---\n",
    )
    .unwrap();
    let mut ws = open(repo.path());
    let o = index(&mut ws, false, &NoProgress).unwrap();
    let reported = o
        .report
        .diagnostics
        .clone()
        .expect("a pass that built the store reports its diagnostics");
    let codes: Vec<&str> = reported.iter().map(|d| d.code.code()).collect();
    assert!(
        codes.contains(&"EV101") && codes.contains(&"EV115"),
        "{codes:?}"
    );
    // The same list, in the same order, as the published store holds: read by this process
    // (which opens it again) and by another.
    assert_eq!(ws.store().diagnostics().unwrap(), reported);
    assert_eq!(open(repo.path()).store().diagnostics().unwrap(), reported);
    // A pass that reads documents into an existing store does not have them at hand (these
    // were written moments ago, so they are read again to rule out an edit within the clock's
    // granularity).
    let again = index(&mut ws, false, &NoProgress).unwrap();
    assert!(again.read > 0, "{again:?}");
    assert_eq!(again.report.diagnostics, None);
}

/// Write `n` one-item documents under `work/more/`, dated an hour back (old enough that an index
/// trusts their size and mtime).
fn write_aged(root: &Path, from: usize, n: usize) {
    for i in from..from + n {
        let p = root.join(format!("work/more/ST-{}.md", 100 + i));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            format!(
                "---\nid: ST-{}\nkind: story\ntitle: Story {i}\nstatus: todo\n---\n\n## Description\n\nText.\n",
                100 + i
            ),
        )
        .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
    }
}

/// The statements one no-change pass runs, through a store opened for it (as a command would).
fn no_change_statements(root: &Path) -> u64 {
    let before = evident_store::testing::statements_run();
    let mut ws = open(root);
    let o = index(&mut ws, false, &NoProgress).unwrap();
    assert_eq!((o.read, o.parsed, o.report.created), (0, 0, 0), "{o:?}");
    // It read every diagnostic on its way, for `index` to print without another query.
    let reported = o
        .report
        .diagnostics
        .clone()
        .expect("a no-change pass reports them");
    let counted = evident_store::testing::statements_run() - before;
    assert_eq!(ws.store().diagnostics().unwrap(), reported);
    drop(ws);
    counted
}

/// A pass that finds nothing changed costs a fixed number of statements, whatever the number of
/// documents: the file states are read in one query, and nothing is written (a statement per
/// document, or a write transaction, would show here).
#[test]
fn a_no_change_index_runs_a_fixed_number_of_statements() {
    evident_store::testing::count_statements();
    let repo = demo_repo();
    write_aged(repo.path(), 0, 10);
    for f in ["work", "workplans"] {
        for e in walkdir(&repo.path().join(f)) {
            std::fs::File::options()
                .write(true)
                .open(&e)
                .unwrap()
                .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
                .unwrap();
        }
    }
    let mut ws = open(repo.path());
    index(&mut ws, false, &NoProgress).unwrap();
    drop(ws);
    let small = no_change_statements(repo.path());
    write_aged(repo.path(), 10, 200);
    let mut ws = open(repo.path());
    assert_eq!(
        index(&mut ws, false, &NoProgress).unwrap().report.created,
        200
    );
    drop(ws);
    let large = no_change_statements(repo.path());
    assert_eq!(
        small, large,
        "statements of a no-change pass grew with the documents"
    );
    assert!(
        small <= STATEMENTS_OF_A_NO_CHANGE_PASS,
        "{small} statements"
    );
    eprintln!("a no-change pass ran {small} statements");
}

/// What a no-change pass runs today: on open, the schema version and the connection's settings
/// (four statements, one with a subprogram), then the file states, the parser's fingerprint and
/// every diagnostic.
const STATEMENTS_OF_A_NO_CHANGE_PASS: u64 = 8;

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}
