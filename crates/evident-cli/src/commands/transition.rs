use clap::Args;
use evident_engine::ops::{self, MoveMode, MoveOutcome};
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const MOVE_EXAMPLES: &str = "\
Examples:
  evident move ST-1 in_progress
  evident move ST-1 \"In Review\"                 any spelling of the status works
  evident move ST-1 done --force --reason \"hotfix shipped\"   override the workflow (journaled)

A move never lowers a status rank; use `evident reopen` for that. The item's file is rewritten
atomically and only the bytes of its status value change.";

const REOPEN_EXAMPLES: &str = "\
Examples:
  evident reopen ST-1 in_progress --reason \"QA found a regression\"";

/// Move an item to a status (validated against its workflow), in its file and the store.
#[derive(Args, Debug)]
#[command(name = "move", after_help = MOVE_EXAMPLES)]
pub struct MoveArgs {
    pub id: String,
    /// The target status, any spelling.
    pub status: String,
    /// Why (required with --force, and for a regression the workflow declares).
    #[arg(long)]
    pub reason: Option<String>,
    /// Override a transition the workflow does not allow (needs --reason).
    #[arg(long)]
    pub force: bool,
}

/// Lower an item's status on purpose: the only way to go back, always journaled with a reason.
#[derive(Args, Debug)]
#[command(after_help = REOPEN_EXAMPLES)]
pub struct ReopenArgs {
    pub id: String,
    /// The lower status to go back to.
    pub status: String,
    #[arg(long, required = true)]
    pub reason: String,
}

fn render(r: &MoveOutcome, out: &Out, kind: &str) {
    if !out.json && !r.warnings.is_empty() {
        eprint!("{}", super::diagnostics::render(&r.warnings, out));
    }
    if !out.json && !r.gates.is_empty() {
        let what = if r.action == "override" {
            "overridden"
        } else {
            "advisory, not met"
        };
        eprintln!(
            "warning: gate {what}: {}",
            evident_engine::gates::describe_failures(&r.gates)
        );
    }
    if out.json {
        print_json(kind, r);
    } else if r.action == "none" {
        print(&format!("{} is already {}.\n", r.id, r.to));
    } else {
        let how = match r.action.as_str() {
            "reopen" => " (reopen)",
            "override" => " (override)",
            _ => "",
        };
        print(&format!(
            "{}: {} → {}{}  ({})\n",
            r.id, r.from, r.to, how, r.path
        ));
    }
}

pub fn run_move(a: MoveArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = ops::move_item(
        ws,
        &a.id,
        &a.status,
        MoveMode::Move { force: a.force },
        a.reason.as_deref(),
    )?;
    render(&r, out, "move");
    Ok(Outcome::Ok)
}

pub fn run_reopen(a: ReopenArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = ops::move_item(ws, &a.id, &a.status, MoveMode::Reopen, Some(&a.reason))?;
    render(&r, out, "reopen");
    Ok(Outcome::Ok)
}
