use clap::{Args, ValueEnum};
use evident_engine::{ops, ItemFilter, Result, SortKey, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident list                                  every item, by id
  evident list --kind story --status in_progress
  evident list --lane core --sort priority --limit 10
  evident list --parent EP-1                    the children of EP-1
  evident list --search login --json            items whose id or title contains \"login\"

Exit 2 when diagnostics exist (see `evident diagnostics`).";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Sort {
    Id,
    Priority,
    Status,
    Kind,
    Title,
    Updated,
}

/// List items, filtered and sorted.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ListArgs {
    /// Only these kinds (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Only these statuses, any spelling (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only items in this lane.
    #[arg(long, value_parser = super::non_empty)]
    pub lane: Option<String>,
    /// Only items with this owner.
    #[arg(long, value_parser = super::non_empty)]
    pub owner: Option<String>,
    /// Only items carrying this label.
    #[arg(long, value_parser = super::non_empty)]
    pub label: Option<String>,
    /// Only children of this item.
    #[arg(long, value_parser = super::non_empty)]
    pub parent: Option<String>,
    /// Only items whose id or title contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT", value_parser = super::non_empty)]
    pub search: Option<String>,
    /// Sort by this key.
    #[arg(long, value_enum, default_value = "id")]
    pub sort: Sort,
    /// Reverse the sort order.
    #[arg(long)]
    pub desc: bool,
    /// At most this many items.
    #[arg(long, value_parser = super::limit)]
    pub limit: Option<usize>,
}

pub fn run(a: ListArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let kinds = a
        .kind
        .iter()
        .map(|k| ops::kind_def(ws, k).map(|d| d.key.clone()))
        .collect::<Result<Vec<_>>>()?;
    let statuses = ops::status_keys(ws, &a.status)?;
    let filter = ItemFilter {
        kinds,
        statuses,
        lane: a.lane,
        owner: a.owner,
        label: a.label,
        parent: a.parent,
        search: a.search,
        sort: match a.sort {
            Sort::Id => SortKey::Id,
            Sort::Priority => SortKey::Priority,
            Sort::Status => SortKey::Status,
            Sort::Kind => SortKey::Kind,
            Sort::Title => SortKey::Title,
            Sort::Updated => SortKey::Updated,
        },
        descending: a.desc,
        limit: a.limit,
    };
    let items = ws.store().list_items(&filter)?;
    if out.json {
        print_json(
            "item_list",
            &super::ItemList {
                count: items.len(),
                items: &items,
            },
        );
    } else if items.is_empty() {
        print(&super::nothing_to_list(ws, "No items match.")?);
    } else {
        print(&super::item_table(&items, &ws.config, out));
    }
    super::attention_if_diagnostics(ws)
}
