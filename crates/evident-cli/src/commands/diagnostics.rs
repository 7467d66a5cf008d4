use clap::Args;
use evident_core::Diagnostic;
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident diagnostics            every finding with its code, file:line and a hint
  evident --json diagnostics     the same as JSON (codes are documented in docs/diagnostics.md)";

/// Show what the last index found wrong in the documents.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DiagnosticsArgs {}

pub fn render(diags: &[Diagnostic], out: &Out) -> String {
    let mut s = String::new();
    for d in diags {
        let loc = if d.line > 0 {
            format!("{}:{}", d.path, d.line)
        } else {
            d.path.clone()
        };
        let sev = match d.severity {
            evident_core::Severity::Error => out.paint("31", "error"),
            evident_core::Severity::Warning => out.paint("33", "warning"),
            evident_core::Severity::Info => "info".to_string(),
        };
        s.push_str(&format!(
            "{sev} {} {loc}: {}\n  hint: {}\n",
            d.code.code(),
            d.message,
            d.hint
        ));
    }
    s
}

pub fn run(_a: DiagnosticsArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    let diags = ws.store().diagnostics()?;
    if out.json {
        print_json("diagnostics", &serde_json::json!({ "diagnostics": diags }));
    } else if diags.is_empty() {
        // "None" means little before anything was read: say which it is.
        print(&super::nothing_to_list(ws, "No diagnostics.")?);
    } else {
        print(&render(&diags, out));
    }
    let attention = diags
        .iter()
        .any(|d| d.severity >= evident_core::Severity::Warning);
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}
