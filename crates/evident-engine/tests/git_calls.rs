//! How many git processes `check` starts, which, unlike their time, is deterministic: none in a
//! folder outside git, one in a repository without an upstream (asking for it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_engine::index::{index, NoProgress};
use evident_engine::{git, reconcile};

mod common;
use common::{demo_repo, open};

fn calls_of_check(root: &std::path::Path) -> usize {
    let mut ws = open(root);
    index(&mut ws, false, &NoProgress).unwrap();
    let before = git::calls();
    let report = reconcile::check(&mut ws).unwrap();
    assert_eq!(report.behind_upstream, None);
    git::calls() - before
}

#[test]
fn check_outside_git_starts_no_git_process() {
    let repo = demo_repo();
    assert_eq!(calls_of_check(repo.path()), 0);
}

#[test]
fn check_in_a_repository_without_upstream_asks_git_once() {
    let repo = demo_repo();
    let ok = std::process::Command::new("git")
        .args(["init", "--quiet"])
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(ok.success());
    assert_eq!(calls_of_check(repo.path()), 1);
}
