use std::collections::BTreeMap;

use clap::Args;
use evident_core::Config;
use evident_engine::ops::{self, StatusReport};
use evident_engine::{Result, Workspace};

use crate::output::{count, print, print_json, table, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident status --index         index changed documents first, then report
  evident status                 counts by kind and status, lanes, ready, blocked, recent events
  evident status --json          the same for a HUD (schema: docs/json.md)
  evident status --markdown      a handoff-ready Markdown report

Exit 2 when diagnostics exist (see `evident diagnostics`).";

/// A status report of the repository.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct StatusArgs {
    /// Print Markdown (for handoff documents).
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Bring the index up to date first (like `evident index`).
    #[arg(long)]
    pub index: bool,
    /// How many recent events to include.
    #[arg(long, default_value_t = 10)]
    pub recent: usize,
    /// How many ready and blocked items to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Per kind, the count of each status.
type Grid = BTreeMap<String, Vec<(String, u64)>>;

/// The statuses present, in rank order, and the counts per kind.
fn grid(r: &StatusReport) -> (Vec<String>, Grid) {
    let mut ranked: Vec<(Option<i64>, String)> = Vec::new();
    let mut by_kind: Grid = BTreeMap::new();
    for c in &r.summary.by_kind_status {
        if !ranked.iter().any(|(_, s)| s == &c.status) {
            ranked.push((c.status_rank, c.status.clone()));
        }
        by_kind
            .entry(c.kind.clone())
            .or_default()
            .push((c.status.clone(), c.count));
    }
    ranked.sort_by_key(|(r, _)| r.unwrap_or(i64::MAX));
    (ranked.into_iter().map(|(_, s)| s).collect(), by_kind)
}

/// A status column's heading: the status as the configuration spells it, for the first kind
/// that holds it.
fn heading<'a>(config: &'a Config, by_kind: &Grid, key: &'a str) -> &'a str {
    by_kind
        .iter()
        .find(|(_, counts)| counts.iter().any(|(s, _)| s == key))
        .map_or(key, |(kind, _)| config.status_label(kind, key))
}

fn render_text(r: &StatusReport, config: &Config, out: &Out) -> String {
    let s_ = &r.summary;
    if s_.total == 0 && s_.recent.is_empty() {
        return format!(
            "{} — no items indexed yet.\nRun `evident index` (or `evident status --index`); `evident init` writes a configuration and example items.\n",
            out.bold(&r.project)
        );
    }
    let mut s = format!(
        "{} — {}, {} done, {} ready, {} blocked\n\n",
        out.bold(&r.project),
        crate::output::count(s_.total, "item"),
        s_.terminal,
        s_.ready,
        s_.blocked
    );
    let (statuses, by_kind) = grid(r);
    let mut header: Vec<&str> = vec!["KIND"];
    header.extend(statuses.iter().map(|st| heading(config, &by_kind, st)));
    header.push("TOTAL");
    let rows: Vec<Vec<String>> = by_kind
        .iter()
        .map(|(k, counts)| {
            let mut row = vec![k.clone()];
            for st in &statuses {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == st)
                    .map(|c| c.1)
                    .unwrap_or(0);
                row.push(if n == 0 { out.dim("·") } else { n.to_string() });
            }
            row.push(counts.iter().map(|c| c.1).sum::<u64>().to_string());
            row
        })
        .collect();
    s.push_str(&table(&header, &rows, out));
    if s_.by_lane.iter().any(|(l, _)| l.is_some()) {
        s.push_str("\nOpen work by lane\n");
        let rows: Vec<Vec<String>> = s_
            .by_lane
            .iter()
            .map(|(l, n)| vec![l.clone().unwrap_or_else(|| "(none)".into()), n.to_string()])
            .collect();
        s.push_str(&table(&["LANE", "OPEN"], &rows, out));
    }
    if !r.ready.is_empty() {
        s.push_str("\nReady\n");
        s.push_str(&super::item_table(&r.ready, config, out));
    }
    if !r.blocked.is_empty() {
        s.push_str("\nBlocked\n");
        s.push_str(&super::item_table(&r.blocked, config, out));
    }
    if !s_.recent.is_empty() {
        s.push_str("\nRecent\n");
        for e in &s_.recent {
            s.push_str(&format!("  {}\n", super::show::event_line(e)));
        }
    }
    if s_.diagnostics_errors + s_.diagnostics_warnings > 0 {
        s.push_str(&format!(
            "\n{}, {} in documents: run `evident diagnostics`.\n",
            count(s_.diagnostics_errors, "error"),
            count(s_.diagnostics_warnings, "warning")
        ));
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn render_markdown(r: &StatusReport, config: &Config) -> String {
    let s_ = &r.summary;
    let mut s = format!(
        "# Status: {}\n\n{} · {} done · {} ready · {} blocked\n\n## By kind and status\n\n",
        md_escape(&r.project),
        crate::output::count(s_.total, "item"),
        s_.terminal,
        s_.ready,
        s_.blocked
    );
    let (statuses, by_kind) = grid(r);
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    if by_kind.is_empty() {
        // No table without a row: its header alone would not even be a table.
        s.push_str(
            "No items are indexed yet: run `evident index` (or `evident status --index`).\n",
        );
    } else {
        let mut header = vec!["kind".to_string()];
        header.extend(
            statuses
                .iter()
                .map(|st| md_escape(heading(config, &by_kind, st))),
        );
        header.push("total".to_string());
        s.push_str(&row(header));
        s.push_str(&format!("|{}\n", "---|".repeat(statuses.len() + 2)));
    }
    for (k, counts) in &by_kind {
        let mut cells = vec![md_escape(k)];
        cells.extend(statuses.iter().map(|st| {
            counts
                .iter()
                .find(|(s, _)| s == st)
                .map(|c| c.1)
                .unwrap_or(0)
                .to_string()
        }));
        cells.push(counts.iter().map(|c| c.1).sum::<u64>().to_string());
        s.push_str(&row(cells));
    }
    if s_.by_lane.iter().any(|(l, _)| l.is_some()) {
        s.push_str("\n## Open work by lane\n\n| lane | open |\n|---|---|\n");
        for (l, n) in &s_.by_lane {
            let lane = l
                .as_deref()
                .map(md_escape)
                .unwrap_or_else(|| "(none)".into());
            s.push_str(&format!("| {lane} | {n} |\n"));
        }
    }
    let list = |title: &str, items: &[evident_engine::ItemRow], s: &mut String| {
        if items.is_empty() {
            return;
        }
        s.push_str(&format!(
            "\n## {title}\n\n| id | status | priority | title |\n|---|---|---|---|\n"
        ));
        for i in items {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md_escape(&i.id),
                md_escape(config.status_label(&i.kind, &i.status)),
                md_escape(i.priority.as_deref().unwrap_or_default()),
                md_escape(&i.title)
            ));
        }
    };
    list("Ready", &r.ready, &mut s);
    list("Blocked", &r.blocked, &mut s);
    if !s_.recent.is_empty() {
        s.push_str("\n## Recent events\n\n");
        for e in &s_.recent {
            s.push_str(&format!("- {}\n", md_escape(&super::show::event_line(e))));
        }
    }
    if s_.diagnostics_errors + s_.diagnostics_warnings > 0 {
        s.push_str(&format!(
            "\n{}, {} in documents (`evident diagnostics` lists them).\n",
            count(s_.diagnostics_errors, "error"),
            count(s_.diagnostics_warnings, "warning")
        ));
    }
    s
}

pub fn run(a: StatusArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    if a.index {
        evident_engine::index::index(ws, false, &evident_engine::index::NoProgress)?;
    }
    let r = ops::status(ws, a.recent, a.top)?;
    if out.json {
        #[derive(serde::Serialize)]
        struct Lane {
            lane: Option<String>,
            open: u64,
        }
        let lanes: Vec<Lane> = r
            .summary
            .by_lane
            .iter()
            .map(|(l, n)| Lane {
                lane: l.clone(),
                open: *n,
            })
            .collect();
        print_json(
            "status",
            &serde_json::json!({
                "project": r.project,
                "total": r.summary.total,
                "terminal": r.summary.terminal,
                "ready_count": r.summary.ready,
                "blocked_count": r.summary.blocked,
                "by_kind_status": r.summary.by_kind_status,
                "by_lane": lanes,
                "ready": r.ready,
                "blocked": r.blocked,
                "recent_events": r.summary.recent,
                "diagnostics": { "errors": r.summary.diagnostics_errors, "warnings": r.summary.diagnostics_warnings },
            }),
        );
    } else if a.markdown {
        print(&render_markdown(&r, &ws.config));
    } else {
        print(&render_text(&r, &ws.config, out));
    }
    let attention = r.summary.diagnostics_errors + r.summary.diagnostics_warnings > 0;
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
