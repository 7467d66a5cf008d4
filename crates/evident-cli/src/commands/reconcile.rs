use clap::Args;
use evident_engine::reconcile::{self, FixOptions, Report};
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const CHECK_EXAMPLES: &str = "\
Examples:
  evident check                 every difference between the files and the store, read-only
  evident --json check          findings with code, severity, item, path, line, message, action

Exit 2 when anything needs attention. Codes are documented in docs/checks.md.";

const FIX_EXAMPLES: &str = "\
Examples:
  evident fix                   apply file edits, write the store's statuses back, commit
  evident fix --pull            git pull --ff-only first (the pull gate still applies)
  evident fix --dry-run         show the writeback as a diff; write nothing
  evident fix --no-writeback    everything but writing statuses into files

A repository behind its upstream gets no write at all (warning EV207). A second `fix` changes
nothing: no file write, no commit, no event.";

/// Compare the documents with the store and report differences (read-only).
#[derive(Args, Debug)]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: Target,
}

/// Which repositories to act on (default: the current one).
#[derive(Args, Debug)]
pub struct Target {
    /// A repository registered with `evident repo add`.
    #[arg(long, value_name = "SLUG", conflicts_with = "all")]
    pub repo: Option<String>,
    /// Every registered repository.
    #[arg(long)]
    pub all: bool,
}

/// Reconcile the documents with the store, never lowering a status.
#[derive(Args, Debug)]
#[command(after_help = FIX_EXAMPLES)]
pub struct FixArgs {
    #[command(flatten)]
    pub target: Target,
    /// Run `git pull --ff-only` first.
    #[arg(long)]
    pub pull: bool,
    /// Do not write statuses back into files.
    #[arg(long)]
    pub no_writeback: bool,
    /// Print what would change as a diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn render(r: &Report, out: &Out) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let sev = match f.severity {
            evident_core::Severity::Error => out.paint("31", "error"),
            evident_core::Severity::Warning => out.paint("33", "warning"),
            evident_core::Severity::Info => "info".to_string(),
        };
        let loc = if f.line > 0 {
            format!("{}:{}", f.path, f.line)
        } else {
            f.path.clone()
        };
        s.push_str(&format!(
            "{sev} {} {loc}: {}\n  → {}\n",
            f.code, f.message, f.action
        ));
    }
    if let Some(d) = &r.diff {
        if d.is_empty() {
            s.push_str("Nothing to write back.\n");
        } else {
            s.push_str(d);
        }
    }
    if let Some(c) = &r.commit {
        s.push_str(&format!(
            "Committed {} file(s) as {}.\n",
            r.written.len(),
            &c[..c.len().min(12)]
        ));
    } else if !r.written.is_empty() {
        s.push_str(&format!(
            "Wrote {} file(s) (not committed).\n",
            r.written.len()
        ));
    }
    if r.findings.is_empty() && r.written.is_empty() {
        s.push_str("Files and store agree.\n");
    }
    s
}

/// Run `f` on the current repository, or on the registered ones `target` names.
fn for_targets(
    target: &Target,
    ws: &mut Workspace,
    ov: &evident_engine::Overrides,
    out: &Out,
    kind: &str,
    f: &dyn Fn(&mut Workspace) -> Result<Report>,
) -> Result<Outcome> {
    let reports: Vec<(Option<String>, Report)> = if target.repo.is_none() && !target.all {
        vec![(None, f(ws)?)]
    } else {
        let mut v = Vec::new();
        for (slug, mut w) in
            evident_engine::ops::registered_workspaces(ws, ov, target.repo.as_deref())?
        {
            v.push((Some(slug), f(&mut w)?));
        }
        v
    };
    let attention = reports.iter().any(|(_, r)| r.needs_attention());
    if out.json {
        if target.all {
            #[derive(serde::Serialize)]
            struct Entry<'a> {
                slug: &'a Option<String>,
                #[serde(flatten)]
                report: &'a Report,
            }
            let entries: Vec<Entry> = reports
                .iter()
                .map(|(slug, report)| Entry { slug, report })
                .collect();
            print_json(
                &format!("{kind}_all"),
                &serde_json::json!({ "reports": entries }),
            );
        } else {
            print_json(kind, &reports[0].1);
        }
    } else {
        let mut s = String::new();
        for (slug, r) in &reports {
            if let Some(slug) = slug {
                s.push_str(&format!("{} ({})\n", out.bold(slug), r.repo));
            }
            s.push_str(&render(r, out));
        }
        print(&s);
    }
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}

pub fn run_check(
    a: CheckArgs,
    ws: &mut Workspace,
    ov: &evident_engine::Overrides,
    out: &Out,
) -> Result<Outcome> {
    for_targets(&a.target, ws, ov, out, "check", &|w| reconcile::check(w))
}

pub fn run_fix(
    a: FixArgs,
    ws: &mut Workspace,
    ov: &evident_engine::Overrides,
    out: &Out,
) -> Result<Outcome> {
    let opts = FixOptions {
        pull: a.pull,
        writeback: !a.no_writeback,
        dry_run: a.dry_run,
    };
    for_targets(&a.target, ws, ov, out, "fix", &|w| reconcile::fix(w, opts))
}
