use clap::Args;
use evident_engine::{ops, Overrides, Result};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident init                          basic preset: epics, stories, bugs, tasks
  evident init --preset workplan        workplans with fenced ```task blocks
  evident init --preset cleargate       index .cleargate/delivery in place
  evident init --preset phases          a phase readiness tracker
  evident init --no-examples --force    rewrite evident.toml only";

/// Write evident.toml from a preset, ignore .evident/ in git, add example items if none exist.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct InitArgs {
    /// basic, workplan, cleargate or phases.
    #[arg(long, default_value = "basic")]
    pub preset: String,
    /// Overwrite an existing evident.toml.
    #[arg(long)]
    pub force: bool,
    /// Do not write example items.
    #[arg(long)]
    pub no_examples: bool,
}

pub fn run(a: InitArgs, ov: &Overrides, out: &Out) -> Result<Outcome> {
    let dir = ov
        .dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let r = ops::init(&dir, &a.preset, a.force, !a.no_examples)?;
    if out.json {
        print_json("init", &r);
        return Ok(Outcome::Ok);
    }
    let mut s = format!("Wrote {} (preset {}).\n", r.config, r.preset);
    if r.gitignore_updated {
        s.push_str("Added .evident/ to .gitignore.\n");
    }
    for e in &r.examples {
        s.push_str(&format!("Example item: {e}\n"));
    }
    s.push_str("Next: `evident index`, then `evident status`.\n");
    print(&s);
    Ok(Outcome::Ok)
}
