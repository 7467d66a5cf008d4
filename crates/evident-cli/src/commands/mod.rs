//! One module per verb: a clap `*Args` struct and a `run` function.

pub mod claim;
pub mod diagnostics;
pub mod evidence;
pub mod gate;
pub mod index;
pub mod init;
pub mod lanes;
pub mod list;
pub mod log;
pub mod merge_driver;
pub mod migrate;
pub mod new;
pub mod readiness;
pub mod ready;
pub mod reconcile;
pub mod repo;
pub mod show;
pub mod signoff;
pub mod status;
pub mod transition;

use evident_engine::{Overrides, Result, Workspace};

use crate::output::Out;
use crate::{Command, Outcome};

/// `helper`: a walk thread started at launch for a verb that walks first (see
/// [`walks_first`]); unused otherwise.
pub fn run(
    cmd: Command,
    ov: &Overrides,
    out: &Out,
    helper: Option<evident_engine::WalkHelper>,
) -> Result<Outcome> {
    let cmd = match cmd {
        Command::Init(a) => return init::run(a, ov, out),
        Command::Migrate(a) => return migrate::run(a, ov, out),
        other => other,
    };
    let mut ws = if walks_first(&cmd) {
        Workspace::open_walking(ov, helper)?
    } else {
        Workspace::open(ov)?
    };
    let outcome = match cmd {
        Command::Init(_) | Command::Migrate(_) => Ok(Outcome::Ok),
        Command::Claim(a) => claim::run_claim(a, &mut ws, out),
        Command::Release(a) => claim::run_release(a, &mut ws, out),
        Command::Claims(a) => claim::run_claims(a, &mut ws, out),
        Command::Gate(a) => gate::run(a, &mut ws, out),
        Command::Evidence(a) => evidence::run(a, &mut ws, out),
        Command::Signoff(a) => signoff::run_signoff(a, &mut ws, out),
        Command::Review(a) => signoff::run_review(a, &mut ws, out),
        Command::Readiness(a) => readiness::run(a, &mut ws, out),
        Command::Lanes(a) => lanes::run(a, &mut ws, out),
        Command::Index(a) => index::run(a, &mut ws, out),
        Command::List(a) => list::run(a, &mut ws, out),
        Command::Show(a) => show::run(a, &mut ws, out),
        Command::New(a) => new::run(a, &mut ws, out),
        Command::Move(a) => transition::run_move(a, &mut ws, out),
        Command::Reopen(a) => transition::run_reopen(a, &mut ws, out),
        Command::Ready(a) => ready::run(a, &mut ws, out),
        Command::Status(a) => status::run(a, &mut ws, out),
        Command::Log(a) => log::run(a, &mut ws, out),
        Command::Diagnostics(a) => diagnostics::run(a, &mut ws, out),
        Command::Check(a) => reconcile::run_check(a, &mut ws, ov, out),
        Command::Fix(a) => reconcile::run_fix(a, &mut ws, ov, out),
        Command::Repo(a) => repo::run(a, &mut ws, out),
        Command::MergeDriver(a) => merge_driver::run(a, &mut ws, out),
    };
    ws.finish();
    outcome
}

/// Verbs whose first step is an index pass (or `check`'s read-only comparison) over this
/// checkout: they open the workspace with the walk already running (see
/// [`Workspace::open_walking`]). `check` and `fix` may `git fetch` first, which changes no file
/// in the checkout, so their walk can run meanwhile; not `fix --pull`, which changes files
/// before its walk, nor either verb over other registered repositories.
fn walks_first(cmd: &Command) -> bool {
    match cmd {
        Command::Index(_) => true,
        Command::Status(a) => a.index,
        Command::Check(a) => a.target.repo.is_none() && !a.target.all,
        Command::Fix(a) => !a.pull && a.target.repo.is_none() && !a.target.all,
        _ => false,
    }
}

/// Exit 2 when the repository has error or warning diagnostics.
pub fn attention_if_diagnostics(ws: &mut Workspace) -> Result<Outcome> {
    let any = ws.store().attention_count()? > 0;
    Ok(if any {
        Outcome::NeedsAttention
    } else {
        Outcome::Ok
    })
}

/// What a human-readable listing says when it has nothing to show: that nothing matched, or,
/// when the store holds no item at all (nothing was indexed into it yet, as right after
/// `init`), how to fill it. The extra lookup runs only for an empty result.
pub fn nothing_to_list(ws: &mut Workspace, none_matched: &str) -> Result<String> {
    let any = evident_engine::ItemFilter {
        limit: Some(1),
        ..Default::default()
    };
    Ok(if ws.store().list_items(&any)?.is_empty() {
        "No items are indexed yet.\nRun `evident index` to read this checkout's documents (or `evident status --index`).\n".to_string()
    } else {
        format!("{none_matched}\n")
    })
}

/// `{"count": N, "items": [...]}`, serialized without an intermediate JSON tree.
#[derive(serde::Serialize)]
pub struct ItemList<'a> {
    pub count: usize,
    pub items: &'a [evident_engine::ItemRow],
}

/// Items as an aligned table; statuses as the configuration spells them.
pub fn item_table(
    items: &[evident_engine::ItemRow],
    config: &evident_core::Config,
    out: &Out,
) -> String {
    use crate::output::{opt, table};
    let with_lane = items.iter().any(|i| i.lane.is_some());
    let with_owner = items.iter().any(|i| i.owner.is_some());
    let mut header = vec!["ID", "KIND", "STATUS", "PRI"];
    if with_lane {
        header.push("LANE");
    }
    if with_owner {
        header.push("OWNER");
    }
    header.push("TITLE");
    // Looked up once per kind and status, not per row.
    let mut labels: std::collections::HashMap<(&str, &str), &str> = Default::default();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let label = *labels
                .entry((&i.kind, &i.status))
                .or_insert_with(|| config.status_label(&i.kind, &i.status));
            let mut r = vec![
                i.id.clone(),
                i.kind.clone(),
                out.status(label, i.status_rank, i.terminal),
                opt(&i.priority),
            ];
            if with_lane {
                r.push(opt(&i.lane));
            }
            if with_owner {
                r.push(opt(&i.owner));
            }
            r.push(i.title.clone());
            r
        })
        .collect();
    table(&header, &rows, out)
}

/// A filter value that says something: an empty one would match nothing (`--label`) or
/// everything (`--search`), neither of which a user asked for.
pub fn non_empty(s: &str) -> std::result::Result<String, String> {
    if s.trim().is_empty() {
        Err("needs a value (it was empty); leave the flag out to not filter on it".into())
    } else {
        Ok(s.to_string())
    }
}

/// `--limit N`: a count of at least 1 (`--limit 0` would silently show nothing).
pub fn limit(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (leave --limit out for no limit)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: give a whole number of at least 1")),
    }
}
