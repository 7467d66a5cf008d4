use clap::Args;
use evident_engine::{ops, Result, Workspace};

use crate::output::{opt, print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident show ST-1            fields, sections, dependencies, children and history
  evident --json show ST-1     the same as JSON";

/// Show one item in full.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ShowArgs {
    /// The item's id.
    pub id: String,
}

pub fn event_line(e: &evident_engine::Event) -> String {
    let change = match (&e.from, &e.to) {
        (Some(f), Some(t)) => format!("{f} → {t}"),
        (None, Some(t)) => format!("→ {t}"),
        (Some(f), None) => format!("{f} →"),
        (None, None) => String::new(),
    };
    let reason = e
        .reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{}  {:<10} {} {}  by {}@{} via {}{}",
        e.at, e.action, e.item, change, e.actor, e.machine, e.source, reason
    )
}

pub fn run(a: ShowArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = ops::show(ws, &a.id)?;
    let attention = !r.diagnostics.is_empty();
    if out.json {
        print_json("item", &r);
        return Ok(if attention {
            crate::Outcome::NeedsAttention
        } else {
            Outcome::Ok
        });
    }
    let i = &r.item;
    let mut s = format!("{} {}\n", out.bold(&i.id), out.bold(&i.title));
    let rank = i
        .status_rank
        .map(|r| r.to_string())
        .unwrap_or_else(|| "?".into());
    s.push_str(&format!(
        "  kind {}   status {} (rank {}{})   priority {}\n",
        i.kind,
        out.status(
            ws.config.status_label(&i.kind, &i.status),
            i.status_rank,
            i.terminal
        ),
        rank,
        if i.terminal { ", final" } else { "" },
        opt(&i.priority)
    ));
    s.push_str(&format!(
        "  parent {}   lane {}   owner {}\n",
        opt(&i.parent),
        opt(&i.lane),
        opt(&i.owner)
    ));
    if !i.labels.is_empty() {
        s.push_str(&format!("  labels {}\n", i.labels.join(", ")));
    }
    s.push_str(&format!("  {}:{}\n", i.path, i.line));
    let shown = [
        "id",
        "kind",
        "type",
        "title",
        "status",
        "priority",
        "parent",
        "lane",
        "owner",
        "labels",
        "depends_on",
    ];
    let extra: Vec<_> = r
        .fields
        .iter()
        .filter(|(k, _)| !shown.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        s.push_str("\nFields\n");
        for (k, v) in extra {
            let v = match v {
                serde_json::Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    if !r.sections.is_empty() {
        s.push_str("\nSections\n");
        for sec in &r.sections {
            let lines = sec.text.lines().count() as u64;
            s.push_str(&format!(
                "  ## {} ({}, line {})\n",
                sec.name,
                crate::output::count(lines, "line"),
                sec.line
            ));
        }
    }
    if !r.dependencies.is_empty() {
        s.push_str("\nDepends on\n");
        for d in &r.dependencies {
            if d.known {
                s.push_str(&format!(
                    "  {}  {}  {}\n",
                    d.id,
                    opt(&d.status),
                    opt(&d.title)
                ));
            } else {
                s.push_str(&format!("  {}  (unknown item)\n", d.id));
            }
        }
    }
    if !r.dependents.is_empty() {
        s.push_str("\nNeeded by\n");
        for d in &r.dependents {
            s.push_str(&format!("  {}  {}  {}\n", d.id, d.status, d.title));
        }
    }
    if !r.children.is_empty() {
        s.push_str("\nChildren\n");
        for c in &r.children {
            s.push_str(&format!(
                "  {}  {}  {}\n",
                c.id,
                out.status(
                    ws.config.status_label(&c.kind, &c.status),
                    c.status_rank,
                    c.terminal
                ),
                c.title
            ));
        }
    }
    if let Some(c) = &r.claim {
        s.push_str(&format!(
            "\nClaimed by {} until {}\n",
            c.agent, c.expires_at
        ));
    }
    if !r.signoffs.is_empty() {
        s.push_str("\nSign-offs\n");
        for so in &r.signoffs {
            if so.kind == "review" {
                s.push_str(&format!(
                    "  review by {} at {}: gaps: {}\n",
                    so.actor,
                    so.at,
                    so.note.as_deref().unwrap_or("")
                ));
            } else {
                s.push_str(&format!(
                    "  {} by {} at {}{}\n",
                    so.role,
                    so.actor,
                    so.at,
                    so.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    if !r.history.is_empty() {
        s.push_str("\nHistory\n");
        for e in &r.history {
            s.push_str(&format!("  {}\n", event_line(e)));
        }
    }
    if !r.diagnostics.is_empty() {
        s.push_str("\nDiagnostics\n");
        s.push_str(&super::diagnostics::render(&r.diagnostics, out));
    }
    print(&s);
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
