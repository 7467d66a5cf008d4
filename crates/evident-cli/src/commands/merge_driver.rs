use std::path::PathBuf;

use clap::{Args, Subcommand};
use evident_engine::{merge, Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident merge-driver install     register the driver for *.md in .gitattributes and git config

Concurrent status edits of one item then merge by rank (a one-sided lowering, i.e. a committed
reopen, is respected); everything else goes through git's normal merge, conflicts included.";

/// A git merge driver that merges work-item statuses by rank.
#[derive(Args, Debug)]
#[command(name = "merge-driver", after_help = EXAMPLES)]
pub struct MergeDriverArgs {
    #[command(subcommand)]
    pub action: MergeDriverAction,
}

#[derive(Subcommand, Debug)]
pub enum MergeDriverAction {
    /// Register the driver in this repository (.gitattributes + git config).
    Install,
    /// Called by git: merge BASE, OURS and THEIRS into OURS for the document at PATH.
    Run {
        base: PathBuf,
        ours: PathBuf,
        theirs: PathBuf,
        path: String,
    },
}

pub fn run(a: MergeDriverArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    match a.action {
        MergeDriverAction::Install => {
            let r = merge::install(&ws.root)?;
            if out.json {
                print_json("merge_driver_install", &r);
            } else {
                print(&format!(
                    "Registered the merge driver ({}); {}.\nCommit .gitattributes so every clone uses it (each clone runs `evident merge-driver install` once for its git config).\n",
                    r.driver,
                    if r.gitattributes_updated { "added *.md merge=evident to .gitattributes" } else { ".gitattributes already had it" }
                ));
            }
            Ok(Outcome::Ok)
        }
        MergeDriverAction::Run {
            base,
            ours,
            theirs,
            path,
        } => {
            let config = ws.config.clone();
            // The store's effective statuses (which carry reopens) of the items in play.
            let mut effective = std::collections::HashMap::new();
            for side in [&ours, &theirs] {
                let text = std::fs::read_to_string(side).unwrap_or_default();
                for p in evident_codec::parse_document(&path, &text, &config).items {
                    if let Some(row) = ws.store().get_item(&p.item.id)? {
                        effective.insert(p.item.id, row.status);
                    }
                }
            }
            let conflicts = merge::run_driver(&config, &base, &ours, &theirs, &path, &|id| {
                effective.get(id).cloned()
            })?;
            Ok(if conflicts == 0 {
                Outcome::Ok
            } else {
                Outcome::NeedsAttention
            })
        }
    }
}
