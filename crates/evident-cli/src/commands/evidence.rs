use clap::{Args, Subcommand};
use evident_core::evidence::EvidenceSpec;
use evident_engine::evidence::Verdict;
use evident_engine::gates::{self, EvidenceCheck};
use evident_engine::{Result, Workspace};

use crate::output::{print, print_json, table, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident evidence add PH-2 --kind doc --path docs/architecture.md
  evident evidence add PH-2 --kind contract --path api/openapi.yaml --api-path /orders --method post
  evident evidence add PH-2 --kind test --report target/junit.xml --test orders::creates_once
  evident evidence add PH-2 --kind artifact --path ops/evidence/restore.log --sha256 <64 hex>
  evident evidence add PH-2 --kind code --commit 3f2a9c1
  evident evidence add PH-2 --kind ci --provider gitlab --run-id 8812 --status success --url https://...
  evident evidence verify PH-2          check every piece of PH-2's evidence
  evident evidence verify --json        every item's evidence

Items may also declare evidence in their frontmatter:
  evidence:
    - {kind: doc, path: docs/architecture.md}
    - {kind: test, report: target/nextest.json, test: orders::creates_once}

Paths are relative to the repository and may not leave it. `verify` exits 2 when any piece
fails or cannot be checked; a url is always shown as unverified (Evident does not fetch it).";

/// Declare and verify evidence.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub action: EvidenceAction,
}

#[derive(Args, Debug, Default)]
pub struct SpecArgs {
    /// doc, contract, code, test, artifact, ci or url.
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub heading: Option<String>,
    #[arg(long)]
    pub api_path: Option<String>,
    #[arg(long)]
    pub method: Option<String>,
    #[arg(long)]
    pub commit: Option<String>,
    #[arg(long)]
    pub report: Option<String>,
    #[arg(long)]
    pub test: Option<String>,
    #[arg(long)]
    pub sha256: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub run_id: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum EvidenceAction {
    /// Record a piece of evidence for an item (journaled).
    Add {
        id: String,
        #[command(flatten)]
        spec: Box<SpecArgs>,
    },
    /// Verify evidence: of one item, or of every item that has any.
    Verify { id: Option<String> },
}

pub fn render(checks: &[EvidenceCheck], out: &Out) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let v = match c.verdict {
                Verdict::Verified => out.paint("32", "verified"),
                Verdict::Unverified => out.paint("33", "unverified"),
                Verdict::Failed => out.paint("31", "failed"),
                Verdict::Error => out.paint("31", "error"),
            };
            vec![
                c.item.clone(),
                c.kind.clone(),
                c.source.to_string(),
                v,
                c.detail.clone(),
            ]
        })
        .collect();
    table(&["ITEM", "KIND", "FROM", "VERDICT", "DETAIL"], &rows, out)
}

pub fn run(a: EvidenceArgs, ws: &mut Workspace, out: &Out) -> Result<Outcome> {
    match a.action {
        EvidenceAction::Add { id, spec: s } => {
            let spec = EvidenceSpec {
                kind: s.kind,
                path: s.path,
                heading: s.heading,
                api_path: s.api_path,
                method: s.method,
                commit: s.commit,
                report: s.report,
                test: s.test,
                sha256: s.sha256,
                provider: s.provider,
                run_id: s.run_id,
                status: s.status,
                url: s.url,
                note: s.note,
            };
            let c = gates::add_evidence(ws, &id, &spec)?;
            if out.json {
                print_json("evidence_add", &c);
            } else {
                print(&format!("Recorded {} evidence for {id}.\n", c.kind));
                print(&render(std::slice::from_ref(&c), out));
            }
            Ok(Outcome::Ok)
        }
        EvidenceAction::Verify { id } => {
            let checks = gates::verify_evidence(ws, id.as_deref())?;
            let bad = checks
                .iter()
                .filter(|c| matches!(c.verdict, Verdict::Failed | Verdict::Error))
                .count();
            if out.json {
                print_json(
                    "evidence_verify",
                    &serde_json::json!({ "count": checks.len(), "failing": bad, "evidence": checks }),
                );
            } else if checks.is_empty() {
                print("No evidence declared.\n");
            } else {
                print(&render(&checks, out));
            }
            Ok(if bad > 0 {
                Outcome::NeedsAttention
            } else {
                Outcome::Ok
            })
        }
    }
}
