//! A new store is built under a temporary name and moved into place once whole. Two first
//! indexes of one repository racing each other must still end with one store, one set of
//! journal events, and no temporary file left behind: the loser's pass is discarded and it
//! indexes again, into the winner's store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use evident_engine::index::{index, NoProgress};
use evident_engine::ItemFilter;

mod common;
use common::{demo_repo, open};

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
