use clap::Args;
use evident_engine::{ops, Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident new story \"Sign in with email\"
  evident new task \"Write the parser\" --parent EP-1 --field priority=high
  evident new bug \"Crash on empty input\" --field labels=[parser,crash]
  id=$(evident new story \"Export\")      the id is the only line printed";

/// Create an item file from its kind's template and print its id.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct NewArgs {
    /// The kind (see evident.toml [kinds]).
    pub kind: String,
    /// The title.
    pub title: String,
    /// The parent item's id.
    #[arg(long)]
    pub parent: Option<String>,
    /// An extra frontmatter field, KEY=VALUE (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
}

pub fn run(a: NewArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = ops::new_item(ws, &a.kind, &a.title, a.parent.as_deref(), &a.fields)?;
    if out.json {
        print_json("new", &r);
    } else {
        print(&format!("{}\n", r.id));
        eprintln!("created {}", r.path);
    }
    Ok(Outcome::Ok)
}
