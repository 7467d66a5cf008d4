//! `evident`: the command-line interface. A thin layer: parse flags, open the workspace, call
//! one engine operation, render its data as JSON or text, and exit 0 (ok), 1 (error) or 2
//! (needs attention).

mod commands;
mod output;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use evident_engine::EngineError;

use crate::output::Out;

/// The C library's allocator, and mimalloc for large index passes (see `evident_alloc`, and
/// `evident_engine::index::on_large_pass` for when it switches).
#[global_allocator]
static GLOBAL: evident_alloc::Allocator = evident_alloc::Allocator;

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
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every verb takes.
#[derive(Args, Debug)]
pub struct GlobalArgs {
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
    // Before anything opens a store (see `evident_alloc::route_sqlite`).
    evident_alloc::route_sqlite();
    // Large index passes (`index`, `check`, `fix`, ...) switch to mimalloc as they start.
    evident_engine::index::on_large_pass(evident_alloc::switch_to_mimalloc);
    // Every verb ends with the process (a long-lived verb, such as a server, must not set this).
    evident_engine::index::process_ends_with_command();
    let args: Vec<OsString> = std::env::args_os().collect();
    // A verb whose first step is a walk gets its walk thread now, so the thread has started by
    // the time the configuration is read (see `WalkHelper`).
    let walks_first = walks_first_args(&args);
    if walks_first {
        // A first index builds its store with no other SQLite user in the process: SQLite gets
        // a page cache of its own (one huge page), which the walk's thread faults in once its
        // walk is done, ahead of the store writer (see `evident_alloc::reserve_sqlite_page_cache`).
        evident_engine::on_new_store(|| {
            evident_alloc::reserve_sqlite_page_cache();
        });
        evident_engine::on_walk_done(evident_alloc::warm_sqlite_page_cache);
    }
    let helper = walks_first
        .then(evident_engine::WalkHelper::start)
        .flatten();
    let cli = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = Out::new(cli.global.json);
    let ov = evident_engine::Overrides {
        dir: cli.global.dir.clone(),
        store: cli.global.store.clone(),
        actor: cli.global.actor.clone(),
    };
    let outcome = commands::run(cli.command, &ov, &out, helper);
    for aside in evident_engine::stores_set_aside() {
        eprintln!(
            "warning: the store was published just before this machine last stopped, before it reached the disk; it was moved to {} (kept, not used) and a new one started. Run `evident index` if this command did not; remove the old file once you no longer need it.",
            aside.display()
        );
    }
    match outcome {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::NeedsAttention) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            report_error(&e, &out);
            ExitCode::from(1)
        }
    }
}

/// Parse the command line. Building clap's whole command (every verb's flags and help texts)
/// takes about 0.3 ms, a tenth of a no-change `index` of a small repository, so the verbs that
/// agents and scripts run most are parsed against a command that holds only the verb named.
/// Anything that does not parse that way (help, version, a typo, an unknown verb) is parsed
/// again against the whole command, so what a user sees is the same.
fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    if let Some(cli) = parse_plain(&args) {
        return Ok(cli);
    }
    match parse_hot(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

/// The plainest command lines of the two verbs scripts and agents poll most, `index [--full]`
/// and `status [--index]`, each with `--json` anywhere, read without building any clap command
/// (about 0.1 ms, a thirtieth of a no-change `index`). Any other word takes the clap path.
fn parse_plain(args: &[OsString]) -> Option<Cli> {
    let (mut json, mut verb, mut full, mut index) = (false, None, false, false);
    for a in args.iter().skip(1) {
        match (a.to_str()?, verb) {
            ("--json", _) if !json => json = true,
            (v @ ("index" | "status"), None) => verb = Some(v),
            ("--full", Some("index")) if !full => full = true,
            ("--index", Some("status")) if !index => index = true,
            _ => return None,
        }
    }
    let command = match verb? {
        "index" => Command::Index(commands::index::IndexArgs { full }),
        _ => Command::Status(commands::status::StatusArgs {
            markdown: false,
            index,
            recent: 10,
            top: 10,
        }),
    };
    Some(Cli {
        global: GlobalArgs {
            dir: None,
            store: None,
            actor: None,
            json,
        },
        command,
    })
}

/// The command line parsed against a command with one verb, when the verb is a hot one.
fn parse_hot(args: &[OsString]) -> Option<Cli> {
    use commands::*;
    let verb = verb_of(args)?;
    let sub = match verb {
        "index" => index::IndexArgs::augment_args(clap::Command::new("index")),
        "list" => list::ListArgs::augment_args(clap::Command::new("list")),
        "show" => show::ShowArgs::augment_args(clap::Command::new("show")),
        "status" => status::StatusArgs::augment_args(clap::Command::new("status")),
        "ready" => ready::ReadyArgs::augment_args(clap::Command::new("ready")),
        "log" => log::LogArgs::augment_args(clap::Command::new("log")),
        "move" => transition::MoveArgs::augment_args(clap::Command::new("move")),
        "diagnostics" => {
            diagnostics::DiagnosticsArgs::augment_args(clap::Command::new("diagnostics"))
        }
        "check" => reconcile::CheckArgs::augment_args(clap::Command::new("check")),
        _ => return None,
    };
    let cmd = GlobalArgs::augment_args(clap::Command::new("evident")).subcommand(sub);
    let matches = cmd.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

/// Whether the command line names a verb that walks first (`index`, `status --index`, `check`
/// and `fix` without `--pull`, of this repository), as far as the raw arguments tell (a wrong
/// guess only starts a thread that ends unused).
fn walks_first_args(args: &[OsString]) -> bool {
    match verb_of(args) {
        Some("index") => true,
        Some("status") => args.iter().any(|a| a == "--index"),
        Some("check") => !args.iter().any(other_repos),
        Some("fix") => !args.iter().any(|a| a == "--pull" || other_repos(a)),
        _ => false,
    }
}

/// A flag that makes `check` or `fix` work on other registered repositories.
fn other_repos(a: &OsString) -> bool {
    a == "--all" || a == "--repo" || a.to_str().is_some_and(|a| a.starts_with("--repo="))
}

/// The verb: the first argument that is neither a global flag nor a global flag's value.
fn verb_of(args: &[OsString]) -> Option<&str> {
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        let a = a.to_str()?;
        match a {
            "-C" | "--store" | "--as" => {
                rest.next()?;
            }
            "--json" => {}
            _ if a.starts_with("-C") || a.starts_with("--store=") || a.starts_with("--as=") => {}
            _ if a.starts_with('-') => return None,
            verb => return Some(verb),
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("evident")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// The hot-verb parse gives what the whole command gives, or steps aside.
    #[test]
    fn a_walk_thread_starts_for_the_verbs_that_walk_first() {
        for (line, walks) in [
            ("index", true),
            ("--json index --full", true),
            ("status --index", true),
            ("status", false),
            ("check", true),
            ("-C /tmp/x check --json", true),
            ("check --all", false),
            ("check --repo web", false),
            ("check --repo=web", false),
            ("fix", true),
            ("fix --dry-run --json", true),
            ("fix --pull", false),
            ("fix --all", false),
            ("fix --repo=web", false),
            ("list", false),
        ] {
            assert_eq!(walks_first_args(&argv(line)), walks, "{line}");
        }
    }

    #[test]
    fn a_hot_verb_parses_as_the_whole_command_does() {
        let hot = [
            "index",
            "index --full",
            "--json index",
            "-C /tmp/x --store sqlite://s.db --as ann index --full --json",
            "-C/tmp/x --store=s.db --as=ann list --kind story --status done --limit 3",
            "list --search login --sort priority --label ui --owner ann --lane core",
            "show ST-1",
            "--json show ST-1",
            "status --markdown --top 3 --recent 2",
            "status --index",
            "ready --json",
            "log ST-1",
            "log",
            "move ST-1 done --reason shipped --as bob",
            "move ST-1 done --force --reason override",
            "diagnostics --json",
            "check --json",
            "-C index status",
            "--store list list",
        ];
        // The plainest lines skip clap altogether, with the same result.
        let plain = [
            "index",
            "index --full",
            "--json index",
            "index --json --full",
            "status",
            "status --json",
            "--json status --index",
            "status --index --json",
        ];
        type Parser = fn(&[OsString]) -> Option<Cli>;
        for (parser, lines) in [(parse_hot as Parser, &hot[..]), (parse_plain, &plain[..])] {
            for line in lines {
                let args = argv(line);
                let fast = parser(&args).unwrap_or_else(|| panic!("`{line}` took clap's path"));
                let whole = Cli::try_parse_from(args).expect(line);
                assert_eq!(format!("{fast:?}"), format!("{whole:?}"), "{line}");
            }
        }
        let not_plain = [
            "index index",
            "index --full --full",
            "--json --json index",
            "status --full",
            "index --index",
            "status --top 3",
            "status --markdown",
            "--full index",
            "-C x index",
            "index --help",
            "list",
            "",
        ];
        // These go to the whole command: help, version, other verbs, errors.
        let not_hot = [
            "--help",
            "--version",
            "index --help",
            "help index",
            "list --kind",
            "show",
            "move ST-1",
            "index --bogus",
            "init --preset basic",
            "gate check ST-1",
            "-C",
            "",
            "--frobnicate index",
        ];
        for (parser, lines) in [
            (parse_plain as Parser, &not_plain[..]),
            (parse_hot, &not_hot[..]),
        ] {
            for line in lines {
                assert!(
                    parser(&argv(line)).is_none(),
                    "`{line}` skipped clap's path"
                );
            }
        }
    }
}
