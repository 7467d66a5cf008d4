use std::io::IsTerminal;

use clap::Args;
use evident_engine::index::{index, Progress};
use evident_engine::{Result, Workspace};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{count, print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident index              re-read only documents whose size or mtime changed
  evident index --full       re-parse every document (reaches the same state)
  evident --json index       counts of what was read, parsed, created and removed

Exit 2 when diagnostics exist (see `evident diagnostics`).";

/// Bring the store's index in step with the documents.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct IndexArgs {
    /// Re-parse every document instead of only changed ones.
    #[arg(long)]
    pub full: bool,
}

/// A progress bar on a terminal for passes that read many files.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.0 {
            if total >= 2000 {
                b.set_length(total);
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

pub fn run(a: IndexArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let bar = if !out.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::hidden();
        if let Ok(style) = ProgressStyle::with_template("indexing {bar:40} {pos}/{len} {per_sec}") {
            b.set_style(style);
        }
        Bar(Some(b))
    } else {
        Bar(None)
    };
    let mut o = index(ws, a.full, &bar)?;
    let diags = match o.report.diagnostics.take() {
        Some(d) => d,
        None => ws.store().diagnostics()?,
    };
    let attention = diags
        .iter()
        .any(|d| d.severity >= evident_core::Severity::Warning);
    if out.json {
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            #[serde(flatten)]
            outcome: &'a evident_engine::index::IndexOutcome,
            diagnostics: &'a [evident_core::Diagnostic],
        }
        print_json(
            "index",
            &Payload {
                outcome: &o,
                diagnostics: &diags,
            },
        );
    } else {
        let r = &o.report;
        let mut s = String::new();
        if o.inputs_changed && !a.full {
            s.push_str(
                "The configuration's kinds, statuses or detection rules (or Evident's parser) changed since the last index: every document was parsed again.\n",
            );
        }
        s.push_str(&format!(
            "Indexed {}: {} read, {} parsed; items {} created, {} updated, {} removed",
            count(o.scanned as u64, "document"),
            o.read,
            o.parsed,
            r.created,
            r.updated,
            r.removed
        ));
        if r.status_applied > 0 {
            s.push_str(&format!(
                ", {} applied",
                count(r.status_applied as u64, "status edit")
            ));
        }
        s.push_str(".\n");
        s.push_str(&super::diagnostics::render(&diags, out));
        print(&s);
    }
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
