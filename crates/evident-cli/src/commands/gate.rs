use clap::{Args, Subcommand};
use evident_core::gate::Severity;
use evident_engine::gates::{self, GateReport, Which};
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident gate check ST-12                        the gates of ST-12's status and those ahead
  evident gate check ST-12 --transition done      the gates guarding done
  evident gate check --all --json                 every item (results cached by content)
  evident gate explain ST-12                      one line: pass, or fail and the failing ids

Gates are defined in evident.toml ([[gates]]). An enforcing failure exits 1; an advisory one
exits 0 with warnings. Results are cached in the store, keyed by the item's content, the gate
definition and its evidence, so unchanged items are never evaluated twice.";

/// Check readiness gates.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct GateArgs {
    #[command(subcommand)]
    pub action: GateAction,
}

#[derive(Subcommand, Debug)]
pub enum GateAction {
    /// Evaluate gates for an item (or --all) and show every criterion.
    Check {
        id: Option<String>,
        /// Check the gates guarding this status instead of those ahead.
        #[arg(long)]
        transition: Option<String>,
        /// Every item.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// One line: pass, or fail with the failing criterion ids.
    Explain { id: String },
}

fn which(t: Option<String>) -> Which {
    t.map(Which::Into).unwrap_or(Which::Ahead)
}

fn render(r: &GateReport, out: &Out) -> String {
    let mut s = String::new();
    for it in &r.items {
        if it.gates.is_empty() {
            s.push_str(&format!(
                "{}  no gates at or ahead of {}\n",
                it.id, it.status
            ));
            continue;
        }
        for g in &it.gates {
            let mark = if g.pass {
                out.paint("32", "pass")
            } else if g.severity == Severity::Advisory || g.overridden {
                out.paint("33", "warn")
            } else {
                out.paint("31", "FAIL")
            };
            // A held gate guards the status the item already has: failing it, the claim is
            // unbacked (unless the status was entered by a journaled override).
            let held = match (g.held, g.overridden) {
                (true, true) => format!(", held: {} entered by override", it.status),
                (true, false) => format!(", held: {} already claimed", it.status),
                _ => String::new(),
            };
            s.push_str(&format!(
                "{}  {} {} → {} ({}{held})\n",
                out.bold(&it.id),
                mark,
                g.gate,
                g.into.join("/"),
                g.severity.as_str()
            ));
            for c in &g.criteria {
                let m = if c.pass { "✓" } else { "✗" };
                s.push_str(&format!("    {m} {}: {}\n", c.id, c.detail));
                if !c.pass {
                    if let Some(h) = &c.hint {
                        s.push_str(&format!("      fix: {h}\n"));
                    }
                }
            }
        }
    }
    s.push_str(&out.dim(&format!(
        "{}; {} evaluated, {} from cache\n",
        crate::output::count(r.items.len() as u64, "item"),
        r.evaluated,
        r.cached
    )));
    s
}

pub fn run(a: GateArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    match a.action {
        GateAction::Check {
            id,
            transition,
            all,
        } => {
            let ids = match (id, all) {
                (Some(id), _) => Some(vec![id]),
                (None, true) => None,
                (None, false) => {
                    return Err(
                        evident_engine::EngineError::user("give an item id or --all")
                            .hint("evident gate check ST-12, or evident gate check --all"),
                    )
                }
            };
            let r = gates::check(ws, ids.as_deref(), &which(transition))?;
            if out.json {
                print_json("gate_check", &r);
            } else {
                print(&render(&r, out));
            }
            Ok(if r.enforcing_failures() > 0 {
                Outcome::Failed
            } else {
                Outcome::Ok
            })
        }
        GateAction::Explain { id } => {
            let r = gates::check(ws, Some(std::slice::from_ref(&id)), &Which::Ahead)?;
            let it = r.items.first();
            let failing: Vec<String> = it
                .map(|i| {
                    i.gates
                        .iter()
                        .flat_map(|g| {
                            g.failing()
                                .into_iter()
                                .map(move |c| format!("{}/{c}", g.gate))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let pass = it.is_some_and(|i| i.pass);
            if out.json {
                print_json(
                    "gate_explain",
                    &serde_json::json!({ "id": id, "pass": pass, "failing": failing }),
                );
            } else if failing.is_empty() {
                print(&format!("{id}: pass\n"));
            } else {
                print(&format!(
                    "{id}: {} ({})\n",
                    if pass { "pass with warnings" } else { "fail" },
                    failing.join(", ")
                ));
            }
            Ok(if pass { Outcome::Ok } else { Outcome::Failed })
        }
    }
}
