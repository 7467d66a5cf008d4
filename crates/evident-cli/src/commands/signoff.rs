use clap::Args;
use evident_engine::{gates, Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const SIGNOFF_EXAMPLES: &str = "\
Examples:
  evident signoff PH-2 --role security --as dana --note \"threat model reviewed\"
  evident signoff PH-2 --role ops --as lee --correlation-id REL-42

A sign-off is immutable: who (--as), which role, when, and the command's correlation id.
The roles a status requires are declared in evident.toml (a workflow's `signoff` table).";

/// Record an immutable sign-off.
#[derive(Args, Debug)]
#[command(after_help = SIGNOFF_EXAMPLES)]
pub struct SignoffArgs {
    pub id: String,
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub note: Option<String>,
    /// Tie the sign-off to a change, review or release (default: one per command run).
    #[arg(long)]
    pub correlation_id: Option<String>,
}

const REVIEW_EXAMPLES: &str = "\
Examples:
  evident review PH-2 --gaps \"no restore drill evidence; runbook missing\" --as dana
  evident review ST-4 --gaps \"acceptance scenario 3 fails\" --to in_progress

Records the gaps (earlier sign-offs stop counting) and sends the item back: to --to, or to
the status its workflow declares as the way back. Both show in `evident show` and `log`.";

/// Record review gaps and send the item back.
#[derive(Args, Debug)]
#[command(after_help = REVIEW_EXAMPLES)]
pub struct ReviewArgs {
    pub id: String,
    #[arg(long)]
    pub gaps: String,
    #[arg(long)]
    pub to: Option<String>,
}

pub fn run_signoff(a: SignoffArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    if let Some(c) = &a.correlation_id {
        ws.set_correlation_id(c);
    }
    let s = gates::signoff(ws, &a.id, &a.role, a.note.as_deref())?;
    if out.json {
        print_json("signoff", &serde_json::json!({ "signoff": s }));
    } else {
        print(&format!(
            "{} signed off by {} as {} ({})\n",
            s.item, s.actor, s.role, s.at
        ));
    }
    Ok(Outcome::Ok)
}

pub fn run_review(a: ReviewArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = gates::review(ws, &a.id, &a.gaps, a.to.as_deref())?;
    if out.json {
        print_json("review", &r);
    } else {
        print(&format!(
            "{}: gaps recorded; sent back {} → {}\n",
            r.id, r.moved.from, r.moved.to
        ));
    }
    Ok(Outcome::Ok)
}
