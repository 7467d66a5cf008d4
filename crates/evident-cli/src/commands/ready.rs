use clap::Args;
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident ready                  open, unblocked items whose dependencies are done, by priority
  evident ready --limit 1 --json the next item to pick up
  evident ready --unclaimed      only items no agent holds a running claim on

Exit 2 when nothing is ready.";

/// Open items whose dependencies are all done and that are not blocked, by priority.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ReadyArgs {
    /// At most this many items.
    #[arg(long, value_parser = super::limit)]
    pub limit: Option<usize>,
    /// Leave out items another agent has a running claim on.
    #[arg(long)]
    pub unclaimed: bool,
}

pub fn run(a: ReadyArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let unclaimed_at = if a.unclaimed {
        Some(evident_engine::claims::now_ms(ws)?)
    } else {
        None
    };
    let items = ws.store().ready_items(a.limit, unclaimed_at)?;
    if out.json {
        print_json(
            "ready",
            &super::ItemList {
                count: items.len(),
                items: &items,
            },
        );
    } else if items.is_empty() {
        print(&super::nothing_to_list(ws, "Nothing is ready.")?);
    } else {
        print(&super::item_table(&items, &ws.config, out));
    }
    Ok(if items.is_empty() {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
