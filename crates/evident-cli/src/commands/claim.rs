use clap::Args;
use evident_engine::{claims, Result, Workspace};

use crate::output::{print, print_json, table, Out};
use crate::Outcome;

const CLAIM_EXAMPLES: &str = "\
Examples:
  evident claim ST-12 --as agent-7              take ST-12 for 30 minutes
  evident claim ST-12 --as agent-7 --ttl 2h     renew it for two hours
  evident ready --unclaimed --limit 1 --json    what an agent should take next

A claim is a lease: while it runs, nobody else can claim the item (the attempt fails, naming
the holder and the lease end); once it expires, anyone may take it over. Journaled.";

/// Take (or renew) a lease on an item, so other agents leave it alone.
#[derive(Args, Debug)]
#[command(after_help = CLAIM_EXAMPLES)]
pub struct ClaimArgs {
    pub id: String,
    /// Lease length: 90s, 30m, 2h, 1d.
    #[arg(long, default_value = claims::DEFAULT_TTL)]
    pub ttl: String,
}

const RELEASE_EXAMPLES: &str = "\
Examples:
  evident release ST-12 --as agent-7           give the lease back
  evident release ST-12 --force --as lead      break someone else's lease (journaled)";

/// Give a lease back.
#[derive(Args, Debug)]
#[command(after_help = RELEASE_EXAMPLES)]
pub struct ReleaseArgs {
    pub id: String,
    /// Release another agent's running lease.
    #[arg(long)]
    pub force: bool,
}

const CLAIMS_EXAMPLES: &str = "\
Examples:
  evident claims              who holds what, and until when
  evident claims --json";

/// List the leases that are running.
#[derive(Args, Debug)]
#[command(after_help = CLAIMS_EXAMPLES)]
pub struct ClaimsArgs {}

pub fn run_claim(a: ClaimArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let c = claims::claim(ws, &a.id, &a.ttl)?;
    if out.json {
        print_json("claim", &serde_json::json!({ "claim": c }));
    } else {
        print(&format!(
            "{} claimed by {} until {}\n",
            c.item, c.agent, c.expires_at
        ));
    }
    Ok(Outcome::Ok)
}

pub fn run_release(a: ReleaseArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let held = claims::release(ws, &a.id, a.force)?;
    if out.json {
        print_json(
            "release",
            &serde_json::json!({ "item": a.id, "released": held.is_some(), "claim": held }),
        );
    } else {
        match held {
            Some(c) => print(&format!("{} released (was held by {})\n", a.id, c.agent)),
            None => print(&format!("{} was not claimed.\n", a.id)),
        }
    }
    Ok(Outcome::Ok)
}

pub fn run_claims(_a: ClaimsArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let list = claims::list(ws)?;
    if out.json {
        print_json(
            "claims",
            &serde_json::json!({ "count": list.len(), "claims": list }),
        );
    } else if list.is_empty() {
        print("No running claims.\n");
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                vec![
                    c.claim.item.clone(),
                    c.claim.agent.clone(),
                    c.claim.expires_at.clone(),
                    c.status.clone().unwrap_or_default(),
                    c.title.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print(&table(
            &["ID", "AGENT", "UNTIL", "STATUS", "TITLE"],
            &rows,
            out,
        ));
    }
    Ok(Outcome::Ok)
}
