use std::path::PathBuf;

use clap::{Args, Subcommand};
use evident_engine::{ops, Result, Workspace};

use crate::output::{print, print_json, table, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident repo add api ../api-service     register a checkout under a slug
  evident repo list
  evident check --all                     check every registered repository
  evident fix --repo api                  fix one of them
  evident repo remove api";

/// Register repositories so `check` and `fix` can act on them with --repo or --all.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RepoArgs {
    #[command(subcommand)]
    pub action: RepoAction,
}

#[derive(Subcommand, Debug)]
pub enum RepoAction {
    /// Register a repository checkout under SLUG.
    Add { slug: String, path: PathBuf },
    /// List registered repositories.
    List,
    /// Forget a repository (its files are not touched).
    Remove { slug: String },
}

pub fn run(a: RepoArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    match a.action {
        RepoAction::Add { slug, path } => {
            let r = ops::repo_add(ws, &slug, &path)?;
            if out.json {
                print_json("repo_add", &r);
            } else {
                print(&format!("Registered {} → {}\n", r.slug, r.path));
            }
        }
        RepoAction::Remove { slug } => {
            ops::repo_remove(ws, &slug)?;
            if out.json {
                print_json("repo_remove", &serde_json::json!({ "slug": slug }));
            } else {
                print(&format!("Removed {slug}\n"));
            }
        }
        RepoAction::List => {
            let repos = ops::repo_list(ws)?;
            if out.json {
                print_json("repo_list", &serde_json::json!({ "repos": repos }));
            } else if repos.is_empty() {
                print("No repositories registered.\n");
            } else {
                let rows: Vec<Vec<String>> = repos
                    .iter()
                    .map(|r| vec![r.slug.clone(), r.path.clone()])
                    .collect();
                print(&table(&["SLUG", "PATH"], &rows, out));
            }
        }
    }
    Ok(Outcome::Ok)
}
