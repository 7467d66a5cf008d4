use clap::Args;
use evident_engine::gates::{self, FailingCheck, Readiness};
use evident_engine::{Result, Workspace};

use crate::output::{count, print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident readiness                     every item's gates (the status it holds and those
                                        ahead): score, categories, actions
  evident readiness --scope PH-2        one item and its descendants
  evident readiness --scope story --json
  evident readiness --markdown          for a handoff document

Exit 2 when not ready (an enforcing criterion fails).";

/// How ready the work is: every gate ahead (and the one guarding the status each item already
/// holds), scored and explained.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ReadinessArgs {
    /// `all`, a kind, or an item id (with its descendants).
    #[arg(long, default_value = "all")]
    pub scope: String,
    #[arg(long)]
    pub markdown: bool,
}

fn text(r: &Readiness, out: &Out, md: bool) -> String {
    let mut s = String::new();
    let verdict = if r.ready { "ready" } else { "not ready" };
    if md {
        s.push_str(&format!(
            "## Readiness: {} ({verdict})\n\n**{}/{}** criteria met across {}.\n\n| category | met |\n|---|---:|\n",
            r.scope, r.passed, r.total, count(r.items as u64, "item")
        ));
        for c in &r.categories {
            s.push_str(&format!("| {} | {}/{} |\n", c.category, c.passed, c.total));
        }
        if !r.failing.is_empty() {
            s.push_str("\n### Failing checks\n\n");
            for f in &r.failing {
                s.push_str(&format!(
                    "- **{}** `{}/{}` ({}{}): {}{}\n",
                    f.item,
                    f.gate,
                    f.criterion,
                    f.severity.as_str(),
                    held(f),
                    f.detail,
                    f.hint
                        .as_ref()
                        .map(|h| format!(" — fix: {h}"))
                        .unwrap_or_default()
                ));
            }
        }
        if !r.top_actions.is_empty() {
            s.push_str("\n### Top actions\n\n");
            for (i, a) in r.top_actions.iter().enumerate() {
                s.push_str(&format!(
                    "{}. {} ({})\n",
                    i + 1,
                    a.action,
                    count(a.checks as u64, "check")
                ));
            }
        }
        return s;
    }
    let head = format!(
        "Readiness {}: {}/{} ({verdict})",
        r.scope, r.passed, r.total
    );
    s.push_str(&out.bold(&head));
    s.push('\n');
    for c in &r.categories {
        s.push_str(&format!("  {:<24} {}/{}\n", c.category, c.passed, c.total));
    }
    if !r.failing.is_empty() {
        s.push_str("\nFailing\n");
        for f in &r.failing {
            s.push_str(&format!(
                "  {} {}/{} [{}{}]: {}\n",
                f.item,
                f.gate,
                f.criterion,
                f.severity.as_str(),
                held(f),
                f.detail
            ));
            if let Some(h) = &f.hint {
                s.push_str(&format!("      fix: {h}\n"));
            }
        }
    }
    if !r.top_actions.is_empty() {
        s.push_str("\nTop actions\n");
        for (i, a) in r.top_actions.iter().enumerate() {
            s.push_str(&format!(
                "  {}. {} ({})\n",
                i + 1,
                a.action,
                count(a.checks as u64, "check")
            ));
        }
    }
    s.push_str(&out.dim(&format!(
        "{}; {} evaluated, {} from cache\n",
        count(r.items as u64, "item"),
        r.evaluated,
        r.cached
    )));
    s
}

/// Marks a check of the gate guarding the status the item already holds (an unbacked claim).
fn held(f: &FailingCheck) -> &'static str {
    if f.held {
        ", status already held"
    } else {
        ""
    }
}

pub fn run(a: ReadinessArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let r = gates::readiness(ws, &a.scope)?;
    if out.json {
        print_json("readiness", &r);
    } else if r.items == 0 {
        // Nothing was scored: say why rather than call an empty scope ready.
        let why = super::nothing_to_list(ws, &format!("No items in scope `{}`.", r.scope))?;
        print(&if a.markdown {
            format!("## Readiness: {}\n\n{why}", r.scope)
        } else {
            why
        });
    } else {
        print(&text(&r, out, a.markdown));
    }
    Ok(if r.ready {
        Outcome::Ok
    } else {
        Outcome::NeedsAttention
    })
}
