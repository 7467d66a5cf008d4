//! `evident`: the command-line interface. A thin layer: parse flags, open the workspace, call
//! one engine operation, render its data as JSON or text, and exit 0 (ok), 1 (error) or 2
//! (needs attention).

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use evident_engine::EngineError;

use crate::output::Out;

/// Index passes allocate on the parse workers and free on the store writer; mimalloc handles
/// that cross-thread traffic far better than the system allocator (a first index of 100k items:
/// ~1.7 s with glibc, ~1.3 s with mimalloc). Its v2 line, because v3's start-up (arena
/// reservation, fresh pages) added ~0.4 ms to every `show` and `status`; without transparent huge
/// pages (`no_thp`), because zeroing fresh 2 MiB pages was a fifth of the CPU of a warm index of
/// 1k items.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AFTER_HELP: &str = "\
Examples:
  evident init --preset workplan      write evident.toml for a workplan repository
  evident index                       bring the index up to date with the files
  evident status                      counts, ready and blocked work, recent events
  evident list --kind story --status in_progress
  evident move ST-1 done              move an item (writes only the status bytes)
  evident --json status               the same data as a versioned JSON envelope

Exit codes: 0 ok, 1 error, 2 needs attention (diagnostics exist, nothing ready, ...).";

#[derive(Parser, Debug)]
#[command(name = "evident", version, about = "A local-first, git-native tracker whose status claims are backed by evidence.", after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Store: a file path, sqlite://PATH, or a PostgreSQL hub postgres://USER@HOST/DB[?schema=S]
    /// (env: EVIDENT_STORE).
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Who is acting, for the journal (env: EVIDENT_ACTOR; default: git user.name).
    #[arg(long = "as", global = true, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Print a versioned JSON envelope instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Init(commands::init::InitArgs),
    Index(commands::index::IndexArgs),
    List(commands::list::ListArgs),
    Show(commands::show::ShowArgs),
    New(commands::new::NewArgs),
    Move(commands::transition::MoveArgs),
    Reopen(commands::transition::ReopenArgs),
    Ready(commands::ready::ReadyArgs),
    Status(commands::status::StatusArgs),
    Log(commands::log::LogArgs),
    Diagnostics(commands::diagnostics::DiagnosticsArgs),
    Check(commands::reconcile::CheckArgs),
    Fix(commands::reconcile::FixArgs),
    Repo(commands::repo::RepoArgs),
    Gate(commands::gate::GateArgs),
    Evidence(commands::evidence::EvidenceArgs),
    Signoff(commands::signoff::SignoffArgs),
    Review(commands::signoff::ReviewArgs),
    Readiness(commands::readiness::ReadinessArgs),
    Lanes(commands::lanes::LanesArgs),
    Claim(commands::claim::ClaimArgs),
    Release(commands::claim::ReleaseArgs),
    Claims(commands::claim::ClaimsArgs),
    Migrate(commands::migrate::MigrateArgs),
    MergeDriver(commands::merge_driver::MergeDriverArgs),
}

/// What a command reports back to `main`.
pub enum Outcome {
    Ok,
    NeedsAttention,
    /// The command ran and reported on stdout, but what it checked fails (an enforcing gate):
    /// exit 1.
    Failed,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = Out::new(cli.json);
    let ov = evident_engine::Overrides {
        dir: cli.dir.clone(),
        store: cli.store.clone(),
        actor: cli.actor.clone(),
    };
    match commands::run(cli.command, &ov, &out) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::NeedsAttention) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            report_error(&e, &out);
            ExitCode::from(1)
        }
    }
}

fn report_error(e: &EngineError, out: &Out) {
    if out.json {
        let v = serde_json::json!({
            "schema_version": output::SCHEMA_VERSION,
            "kind": "error",
            "error": { "message": e.to_string(), "location": e.location(), "hint": e.hint_text() },
        });
        eprintln!("{v}");
        return;
    }
    let mut s = format!("error: {e}\n");
    if let Some(l) = e.location() {
        s.push_str(&format!("  at: {l}\n"));
    }
    if let Some(h) = e.hint_text() {
        s.push_str(&format!("  hint: {h}\n"));
    }
    eprint!("{s}");
}
