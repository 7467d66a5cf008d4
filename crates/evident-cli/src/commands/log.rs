use clap::Args;
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident log                 the latest events of the journal
  evident log ST-1            everything that happened to ST-1
  evident log --limit 200 --json";

/// The journal: every change with actor, machine, source, reason and correlation id.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct LogArgs {
    /// Only events of this item.
    pub id: Option<String>,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 50, value_parser = super::limit)]
    pub limit: usize,
}

pub fn run(a: LogArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let events = ws.store().events(a.id.as_deref(), Some(a.limit))?;
    // A removed item still has its history; an id that never had any is a typo.
    if let Some(id) = &a.id {
        if events.is_empty() && !ws.store().item_exists(id)? {
            return Err(evident_engine::ops::not_found(ws, id));
        }
    }
    if out.json {
        #[derive(serde::Serialize)]
        struct Log<'a> {
            events: &'a [evident_engine::Event],
        }
        print_json("log", &Log { events: &events });
    } else if events.is_empty() {
        print("No events.\n");
    } else {
        let s: String = events
            .iter()
            .map(|e| format!("{}\n", super::show::event_line(e)))
            .collect();
        print(&s);
    }
    Ok(Outcome::Ok)
}
