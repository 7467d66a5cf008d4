use clap::Args;
use evident_engine::{gates, Result, Workspace};

use crate::output::{print, print_json, table, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident lanes           is every flow lane current?
  evident lanes --json

Lanes are declared in evident.toml:
  [[lanes]]
  id = \"release\"
  owner_artifact = \"docs/release-plan.md\"
  evidence = { kind = \"test\", report = \"target/junit.xml\", test = \"release::smoke\" }
  next_action = \"ST-40\"
  cadence = \"7d\"

A lane is not current when a field is missing, its evidence does not verify, its next action
is already done, or its owner artifact is older than its cadence. Exit 2 when one is not.";

/// Flow lanes: owner artifact, evidence source, next action, cadence.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct LanesArgs {}

pub fn run(_a: LanesArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let lanes = gates::lanes(ws)?;
    let stale = lanes.iter().filter(|l| !l.current).count();
    if out.json {
        print_json(
            "lanes",
            &serde_json::json!({ "count": lanes.len(), "not_current": stale, "lanes": lanes }),
        );
    } else if lanes.is_empty() {
        print("No lanes declared (add [[lanes]] to evident.toml).\n");
    } else {
        let rows: Vec<Vec<String>> = lanes
            .iter()
            .map(|l| {
                vec![
                    l.id.clone(),
                    if l.current {
                        out.paint("32", "current")
                    } else {
                        out.paint("31", "not current")
                    },
                    l.next_action.clone().unwrap_or_else(|| "-".into()),
                    l.updated_at.clone().unwrap_or_else(|| "-".into()),
                    l.reasons.join("; "),
                ]
            })
            .collect();
        print(&table(
            &["LANE", "STATE", "NEXT", "UPDATED", "WHY"],
            &rows,
            out,
        ));
    }
    Ok(if stale > 0 {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
