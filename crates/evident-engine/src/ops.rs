//! The operations behind the verbs. Each takes a workspace and plain arguments and returns data;
//! rendering is the caller's business.

use std::path::Path;

use evident_codec::{apply_status_edit, parse_document, render_status_value, yaml_scalar};
use evident_core::config::{preset, IdScheme, KindDef, PRESETS};
use evident_core::status::canonical_key;
use evident_core::workflow::TransitionCheck;
use evident_core::{Diagnostic, StatusDef};
use evident_store::{action, Event, ItemFilter, ItemRow, Summary, TransitionRequest};
use serde::Serialize;

use crate::fsutil::atomic_write;
use crate::index::index_paths;
use crate::workspace::CONFIG_FILE;
use crate::{EngineError, Result, Workspace};
use evident_core::suggest;

/// The error for an id the store does not know; when the store knows it in another case
/// (`ph-1` for `PH-1`), the hint names it.
pub fn not_found(ws: &mut Workspace, id: &str) -> EngineError {
    // An item that was there and went away (its document no longer declares it) is not a typo:
    // say when and why, and where its history is, rather than suggest another id.
    let last = ws
        .store()
        .events(Some(id), Some(1))
        .ok()
        .and_then(|e| e.into_iter().next());
    if let Some(e) = last.filter(|e| e.action == action::REMOVED) {
        return EngineError::user(format!(
            "no item with id `{id}`: it was removed at {}{}",
            e.at,
            e.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ))
        .hint(format!(
            "`evident log {id}` shows its history; it comes back when a document declares `{id}` again (then `evident index`)"
        ));
    }
    let err = EngineError::user(format!("no item with id `{id}`"));
    let typed = id.split('-').next().unwrap_or(id);
    let mut prefixes = vec![
        typed.to_uppercase(),
        typed.to_lowercase(),
        typed.to_string(),
    ];
    prefixes.dedup();
    let other_case = prefixes
        .iter()
        .filter(|p| !p.is_empty() && id.contains('-'))
        .filter_map(|p| ws.store().ids_with_prefix(p).ok())
        .flatten()
        .find(|k| k.eq_ignore_ascii_case(id));
    if let Some(k) = other_case {
        return err.hint(format!("ids are case-sensitive: did you mean `{k}`?"));
    }
    // A typo: the ids of the same prefix nearest to the one typed.
    let same_prefix = if id.contains('-') && !typed.is_empty() {
        ws.store().ids_with_prefix(typed).unwrap_or_default()
    } else {
        Vec::new()
    };
    let near = suggest::closest(id, same_prefix.iter().map(String::as_str));
    err.hint(format!(
        "{}`evident list` shows known ids; run `evident index` if the item was added recently",
        suggest::did_you_mean(&near)
    ))
}

/// Resolve a kind spelling or fail listing the kinds.
pub fn kind_def<'a>(ws: &'a Workspace, spelling: &str) -> Result<&'a KindDef> {
    ws.config.kind(spelling).ok_or_else(|| {
        let known: Vec<&str> = ws.config.kinds.keys().map(String::as_str).collect();
        EngineError::user(format!("unknown kind `{spelling}`")).hint(suggest::among(
            spelling,
            "kinds in this repository",
            &known,
        ))
    })
}

/// Canonical status keys for a filter, checked against every workflow.
pub fn status_keys(ws: &Workspace, spellings: &[String]) -> Result<Vec<String>> {
    spellings
        .iter()
        .map(|s| {
            let known = ws.config.workflows.values().any(|w| w.status(s).is_some());
            if known {
                Ok(canonical_key(s))
            } else {
                let mut all: Vec<&str> = ws
                    .config
                    .workflows
                    .values()
                    .flat_map(|w| w.statuses.iter().map(|d| d.key.as_str()))
                    .collect();
                all.sort();
                all.dedup();
                Err(EngineError::user(format!("unknown status `{s}`"))
                    .hint(suggest::among(s, "statuses", &all)))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// move / reopen

/// Result of `move` or `reopen`.
#[derive(Debug, Clone, Serialize)]
pub struct MoveOutcome {
    pub id: String,
    pub from: String,
    pub to: String,
    /// `transition`, `reopen`, `override`, or `none` when the item already had the status.
    pub action: String,
    pub path: String,
    pub file_written: bool,
    pub event: Option<Event>,
    /// Findings about the item's document made while merging it before the move (e.g. EV117:
    /// the file lowered a status without a reopen).
    pub warnings: Vec<Diagnostic>,
    /// Gates into the new status that failed: advisory ones (the move went ahead with a
    /// warning) and enforcing ones overridden with `--force --reason`.
    pub gates: Vec<evident_core::gate::GateResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveMode {
    /// An ordinary move: forward, or a regression the workflow declares.
    Move { force: bool },
    /// Lower the rank on purpose.
    Reopen,
}

/// How many times a move is re-validated when another writer moved the item first.
const MOVE_ATTEMPTS: usize = 20;

/// Move an item to a status, writing the store and its file (atomically, only the status
/// bytes), and journaling the change.
///
/// The transition is validated against the status read, then applied in the store as a
/// compare-and-swap on that status; if another machine moved the item in between, the move is
/// validated again against the new status (so a move that became a regression is refused, not
/// applied). The store is written before the file: a file write that fails leaves the file
/// behind the store, which `check` reports and `fix` writes back.
pub fn move_item(
    ws: &mut Workspace,
    id: &str,
    to_spelling: &str,
    mode: MoveMode,
    reason: Option<&str>,
) -> Result<MoveOutcome> {
    // A blank reason is no reason: not journaled as "", and refused where one is needed.
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let mut attempt = 1;
    loop {
        match move_once(ws, id, to_spelling, mode, reason) {
            Err(EngineError::Store(evident_store::StoreError::Conflict { .. }))
                if attempt < MOVE_ATTEMPTS =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn move_once(
    ws: &mut Workspace,
    id: &str,
    to_spelling: &str,
    mode: MoveMode,
    reason: Option<&str>,
) -> Result<MoveOutcome> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    // Merge any pending edit of the item's document before acting on it.
    index_paths(ws, std::slice::from_ref(&item.path), "file")?;
    let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    let warnings: Vec<Diagnostic> = ws
        .store()
        .diagnostics()?
        .into_iter()
        .filter(|d| d.path == item.path && d.code == evident_core::DiagCode::StatusLoweredInFile)
        .collect();
    let kind = kind_def(ws, &item.kind)?.clone();
    let wf = ws.config.workflow_of(&kind).clone();
    let to = wf.status(to_spelling).cloned().ok_or_else(|| {
        EngineError::user(format!(
            "`{to_spelling}` is not a status of {} ({} workflow)",
            item.kind, wf.name
        ))
        .hint(wf.unknown_status_hint(to_spelling, "statuses"))
    })?;
    let from = wf.status(&item.status).cloned();
    let check = match &from {
        Some(f) => wf.check(f, &to),
        None => TransitionCheck::Forward,
    };
    let from_name = from
        .as_ref()
        .map(|f| f.label.clone())
        .unwrap_or_else(|| item.status.clone());
    let allowed = |f: &Option<StatusDef>| -> String {
        match f {
            Some(f) => {
                let t: Vec<&str> = wf
                    .allowed_targets(f)
                    .iter()
                    .map(|s| s.label.as_str())
                    .collect();
                if t.is_empty() {
                    "none (the status is final)".to_string()
                } else {
                    t.join(", ")
                }
            }
            None => "any".to_string(),
        }
    };
    let act: &'static str = match (mode, &check) {
        (_, TransitionCheck::Same) => {
            return Ok(MoveOutcome {
                id: item.id.clone(),
                from: item.status.clone(),
                to: to.key.clone(),
                action: "none".into(),
                path: item.path.clone(),
                file_written: false,
                event: None,
                warnings,
                gates: vec![],
            })
        }
        (MoveMode::Reopen, TransitionCheck::Regression | TransitionCheck::DeclaredRegression) => {
            action::REOPEN
        }
        (MoveMode::Reopen, _) => {
            return Err(EngineError::user(format!(
                "reopen lowers a status, but {} → {} does not lower {id}'s rank",
                from_name, to.label
            ))
            .hint(format!("use `evident move {id} {to_spelling}`")))
        }
        (MoveMode::Move { .. }, TransitionCheck::Forward) => action::TRANSITION,
        (MoveMode::Move { .. }, TransitionCheck::DeclaredRegression) => {
            if reason.is_none() {
                return Err(EngineError::user(format!(
                    "{} → {} sends {id} back and needs a reason",
                    from_name, to.label
                ))
                .hint("add --reason \"why\" (it is journaled as a reopen)"));
            }
            action::REOPEN
        }
        (
            MoveMode::Move { force: true },
            TransitionCheck::Regression | TransitionCheck::NotAllowed,
        ) => {
            if reason.is_none() {
                return Err(EngineError::user("--force needs --reason")
                    .hint("say why the workflow is overridden; it is journaled"));
            }
            action::OVERRIDE
        }
        (MoveMode::Move { force: false }, TransitionCheck::Regression) => {
            return Err(EngineError::user(format!(
                "{} → {} lowers {id}'s status; only a reopen may do that",
                from_name, to.label
            ))
            .hint(format!(
                "run `evident reopen {id} {to_spelling} --reason \"why\"`"
            )))
        }
        (MoveMode::Move { force: false }, TransitionCheck::NotAllowed) => {
            return Err(EngineError::user(format!(
                "{} → {} is not an allowed transition for {} ({} workflow)",
                from_name, to.label, item.kind, wf.name
            ))
            .hint(format!(
                "allowed from {}: {}; or --force --reason to override",
                from_name,
                allowed(&from)
            )))
        }
    };
    if act == action::REOPEN && reason.is_none() {
        return Err(EngineError::user("reopen needs --reason")
            .hint("say why the item goes back; it is journaled"));
    }
    // Another agent's running lease: refused, or broken on purpose with --force --reason
    // (journaled as an override). The store checks again inside the transition, so a lease
    // taken after this read still stops the move.
    let now_ms = crate::claims::now_ms(ws)?;
    let actor = ws.actor();
    let lease = ws
        .store()
        .claims(now_ms)?
        .into_iter()
        .find(|c| c.item == item.id && c.agent != actor);
    let force = matches!(mode, MoveMode::Move { force: true });
    let mut act = act;
    let mut lease_note: Option<String> = None;
    if let Some(l) = &lease {
        if !force || reason.is_none() {
            return Err(claimed(
                &item.id,
                &l.agent,
                &l.expires_at,
                to_spelling,
                force && reason.is_none(),
            ));
        }
        act = action::OVERRIDE;
        lease_note = Some(format!("lease of {} broken", l.agent));
    }
    // Guards: the gates into the target status.
    let failed = crate::gates::guard(ws, &item.id, &to.key)?;
    let enforcing: Vec<_> = failed
        .iter()
        .filter(|g| g.severity == evident_core::gate::Severity::Enforcing)
        .cloned()
        .collect();
    let mut override_reason: Option<String> = None;
    if !enforcing.is_empty() {
        let ids: Vec<String> = enforcing
            .iter()
            .flat_map(|g| {
                g.failing()
                    .into_iter()
                    .map(move |c| format!("{}/{c}", g.gate))
            })
            .collect();
        match (mode, reason) {
            (MoveMode::Move { force: true }, Some(r)) => {
                act = action::OVERRIDE;
                override_reason = Some(format!("{r} (gate overridden: {})", ids.join(", ")));
            }
            (MoveMode::Move { force: true }, None) => {
                return Err(EngineError::user("--force needs --reason")
                    .hint("say why the gate is overridden; it is journaled"))
            }
            _ => {
                return Err(EngineError::user(format!(
                    "{id} cannot enter {}: {}",
                    to.label,
                    crate::gates::describe_failures(&enforcing)
                ))
                .hint(format!(
                    "fix the failing criteria (`evident gate check {id} --transition {}` shows them), or --force --reason to override (journaled)",
                    to.key
                )))
            }
        }
    }
    let reason = match (override_reason.or(reason.map(str::to_string)), lease_note) {
        (Some(r), Some(n)) => Some(format!("{r} ({n})")),
        (r, _) => r,
    };
    let reason = reason.as_deref();
    // Write the file: only the status bytes change, and only if the document parses.
    let abs = ws.abs(&item.path);
    let text = std::fs::read_to_string(&abs).map_err(|e| {
        EngineError::user(format!("cannot read {}: {e}", item.path))
            .at(item.path.clone())
            .hint("the item's document must exist in this checkout; run `evident index`")
    })?;
    let doc = parse_document(&item.path, &text, &ws.config);
    if doc.broken {
        let d = doc.diagnostics.first();
        return Err(EngineError::user(format!(
            "{} does not parse ({}), so Evident will not write to it",
            item.path,
            d.map(|d| d.message.as_str()).unwrap_or("malformed")
        ))
        .at(format!("{}:{}", item.path, d.map(|d| d.line).unwrap_or(1)))
        .hint("fix the document, then run the command again"));
    }
    let parsed = doc
        .items
        .iter()
        .find(|p| p.item.id == item.id)
        .ok_or_else(|| {
            EngineError::user(format!("{} no longer declares {id}", item.path))
                .at(item.path.clone())
                .hint("run `evident index` to refresh")
        })?;
    let edit = render_status_value(&text, &parsed.status_span, &to.key, &to.name).map_err(|e| {
        EngineError::user(e.to_string())
            .at(format!("{}:{}", item.path, parsed.item.line))
            .hint("write the status as a single-line value")
    })?;
    let new_text = apply_status_edit(&text, &edit);
    // Verify before writing: the edited document must parse and carry the new status.
    let check_doc = parse_document(&item.path, &new_text, &ws.config);
    let ok = !check_doc.broken
        && check_doc.items.len() == doc.items.len()
        && check_doc
            .items
            .iter()
            .find(|p| p.item.id == item.id)
            .and_then(|p| wf.status(&p.item.status))
            .is_some_and(|s| s.key == to.key);
    if !ok {
        return Err(EngineError::user(format!(
            "writing {} into {} would not round-trip; nothing was written",
            to.name, item.path
        ))
        .at(format!("{}:{}", item.path, parsed.item.line))
        .hint("please report this with the document attached"));
    }
    let ctx = ws.event_context("cli");
    let req = TransitionRequest {
        id: item.id.clone(),
        from: item.status.clone(),
        to: to.clone(),
        action: act,
        reason: reason.map(str::to_string),
        file_status: Some((ws.checkout.clone(), to.key.clone())),
        now_ms,
        break_claim: lease.is_some(),
    };
    let event = ws.store().transition(&req, &ctx).map_err(|e| match e {
        evident_store::StoreError::Claimed { id, agent, until } => {
            claimed(&id, &agent, &until, to_spelling, force && reason.is_none())
        }
        e => e.into(),
    })?;
    atomic_write(&abs, new_text.as_bytes()).map_err(|e| {
        EngineError::user(format!(
            "{id} moved to {} in the store, but {} could not be written: {e}",
            to.label, item.path
        ))
        .at(item.path.clone())
        .hint("fix the file's permissions, then run `evident fix` to write the status back")
    })?;
    index_paths(ws, std::slice::from_ref(&item.path), "file")?;
    Ok(MoveOutcome {
        id: item.id,
        from: item.status,
        to: to.key,
        action: act.to_string(),
        path: item.path,
        file_written: true,
        event: Some(event),
        warnings,
        gates: failed,
    })
}

/// A move refused because another agent holds the item (`forced_without_reason`: the move had
/// `--force` but no `--reason`, which breaking a lease needs).
fn claimed(
    id: &str,
    agent: &str,
    until: &str,
    to: &str,
    forced_without_reason: bool,
) -> EngineError {
    let msg = format!("{id} is claimed by {agent} until {until}");
    if forced_without_reason {
        EngineError::user(format!("{msg}; --force needs --reason to break the lease"))
            .hint("say why the lease is broken; it is journaled as an override")
    } else {
        EngineError::user(msg).hint(format!(
            "wait for the lease to end, ask {agent} to run `evident release {id}`, or `evident move {id} {to} --force --reason \"why\"` (journaled)"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// new

#[derive(Debug, Clone, Serialize)]
pub struct NewOutcome {
    pub id: String,
    pub kind: String,
    pub path: String,
    pub status: String,
}

const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn random_suffix() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b)
        .map_err(|e| EngineError::user(format!("no randomness available: {e}")))?;
    Ok(b.iter()
        .map(|x| CROCKFORD[(*x as usize) % 32] as char)
        .collect())
}

fn slug(title: &str) -> String {
    let mut out = String::new();
    for w in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(w);
    }
    out
}

fn render_template(
    kind: &KindDef,
    status: &StatusDef,
    id: &str,
    title: &str,
    parent: Option<&str>,
    fields: &[(String, String)],
    now: &str,
) -> String {
    let mut field_lines = String::new();
    for (k, v) in fields {
        field_lines.push_str(&format!("{k}: {v}\n"));
    }
    match &kind.template {
        Some(t) => t
            .replace("{id}", id)
            .replace("{title_yaml}", &yaml_scalar(title))
            .replace("{title}", title)
            .replace("{status}", &status.name)
            .replace("{kind}", &kind.key)
            .replace("{parent}", parent.unwrap_or(""))
            .replace("{now}", now)
            .replace("{fields}", &field_lines),
        None => {
            let mut s = format!(
                "---\nid: {}\nkind: {}\ntitle: {}\nstatus: {}\n",
                yaml_scalar(id),
                kind.key,
                yaml_scalar(title),
                yaml_scalar(&status.key)
            );
            if let Some(p) = parent {
                s.push_str(&format!("parent: {}\n", yaml_scalar(p)));
            }
            s.push_str(&field_lines);
            s.push_str(&format!(
                "created: \"{}\"\n---\n\n# {title}\n",
                &now[..now.len().min(10)]
            ));
            for sec in &kind.sections {
                s.push_str(&format!("\n## {sec}\n\n"));
            }
            s
        }
    }
}

/// `--field` may add fields, never set one that `new` writes itself (the id, kind, title,
/// status, parent, or a key the kind's template writes) nor the same key twice: the file would
/// hold the key twice, which no YAML reader accepts.
fn refuse_taken_fields(
    ws: &Workspace,
    kind: &KindDef,
    status: &StatusDef,
    fields: &[(String, String)],
) -> Result<()> {
    let d = &ws.config.detect;
    let is = |list: &[String], k: &str| list.iter().any(|f| f == k);
    let template_keys: Vec<String> = match &kind.template {
        Some(_) => {
            let text = render_template(kind, status, "ID", "Title", None, &[], "");
            text.lines()
                .skip(1)
                .take_while(|l| l.trim_end() != "---")
                .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
                .filter_map(|l| {
                    l.split_once(':')
                        .map(|(k, _)| k.trim().trim_matches('"').to_string())
                })
                .collect()
        }
        None => vec![],
    };
    for (i, (k, _)) in fields.iter().enumerate() {
        let why: Option<String> = if k == "status" {
            Some(format!(
                "a new {} starts at `{}`; move it afterwards with `evident move ID STATUS`",
                kind.key, status.name
            ))
        } else if k == "title" {
            Some("the title is the command's second argument".into())
        } else if k == "id" || *k == d.id_field || d.id_keys.iter().any(|ik| ik.key == *k) {
            Some(format!(
                "ids are allocated by Evident ({}-…, [project] id_scheme)",
                kind.prefix
            ))
        } else if k == "kind" || is(&d.kind_fields, k) {
            Some("the kind is the command's first argument".into())
        } else if k == "parent" || is(&d.parent_fields, k) {
            Some("use --parent ID".into())
        } else if template_keys.iter().any(|t| t == k) {
            Some(format!(
                "the {} template writes `{k}` itself ([kinds.{}] template)",
                kind.key, kind.key
            ))
        } else if fields[..i].iter().any(|(o, _)| o == k) {
            return Err(EngineError::user(format!("--field `{k}` is given twice"))
                .hint("give each field once"));
        } else {
            None
        };
        if let Some(why) = why {
            return Err(EngineError::user(format!("--field cannot set `{k}`")).hint(why));
        }
    }
    Ok(())
}

fn parse_field(raw: &str) -> Result<(String, String)> {
    let (k, v) = raw.split_once('=').ok_or_else(|| {
        EngineError::user(format!("--field `{raw}` is not KEY=VALUE"))
            .hint("e.g. --field priority=high")
    })?;
    let k = k.trim();
    let valid = !k.is_empty()
        && k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(
            EngineError::user(format!("--field key `{k}` is not a valid field name"))
                .hint("use letters, digits, _ and -"),
        );
    }
    let v = v.trim();
    // A number, boolean, `[list]` or `{map}` is written as typed, but only when `key: VALUE` on
    // one line reads back as that same value (`a: b` alone is a mapping, yet not on a key's
    // line); anything else is written as a quoted string.
    let typed = match serde_yaml::from_str::<serde_yaml::Value>(v) {
        Ok(serde_yaml::Value::String(_)) | Err(_) => None,
        // `# text` also reads as null: only a null spelled out is one.
        Ok(serde_yaml::Value::Null) if !["", "~", "null", "Null", "NULL"].contains(&v) => None,
        Ok(value) => Some(value),
    };
    let inline_ok = |value: &serde_yaml::Value| {
        serde_yaml::from_str::<serde_yaml::Mapping>(&format!("{k}: {v}\n"))
            .ok()
            .is_some_and(|m| m.len() == 1 && m.get(k) == Some(value))
    };
    let rendered = match typed {
        Some(value) if inline_ok(&value) => v.to_string(),
        _ => yaml_scalar(v),
    };
    Ok((k.to_string(), rendered))
}

/// Create a new item from its kind's template; prints nothing, returns the id and path.
pub fn new_item(
    ws: &mut Workspace,
    kind: &str,
    title: &str,
    parent: Option<&str>,
    fields: &[String],
) -> Result<NewOutcome> {
    let title = title.trim();
    if title.is_empty() || title.contains('\n') {
        return Err(EngineError::user("the title must be one non-empty line"));
    }
    let kind = kind_def(ws, kind)?.clone();
    let status = ws.config.workflow_of(&kind).initial().clone();
    if let Some(p) = parent {
        if !ws.store().item_exists(p)? {
            return Err(
                EngineError::user(format!("parent `{p}` is not a known item"))
                    .hint("check the id with `evident list`, or run `evident index`"),
            );
        }
    }
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|f| parse_field(f))
        .collect::<Result<_>>()?;
    refuse_taken_fields(ws, &kind, &status, &fields)?;
    let now = ws.now();
    let dir = ws.abs(&kind.dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io("cannot create folder", kind.dir.clone(), e))?;
    let width = kind.id_width;
    let prefix = match (kind.id_under_parent, parent) {
        (true, Some(p)) => {
            let number = p
                .rsplit('-')
                .next()
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let number = number.ok_or_else(|| {
                EngineError::user(format!(
                    "kind `{}` numbers ids within the parent, but `{p}` does not end in a number",
                    kind.key
                ))
                .hint("use a parent like EPIC-007")
            })?;
            format!("{}-{number}", kind.prefix)
        }
        (true, None) => {
            return Err(EngineError::user(format!(
                "kind `{}` numbers ids within its parent; pass --parent",
                kind.key
            ))
            .hint(format!(
                "e.g. evident new {} \"{title}\" --parent EPIC-001",
                kind.key
            )))
        }
        (false, _) => kind.prefix.clone(),
    };
    for _attempt in 0..64 {
        let id = match ws.config.project.id_scheme {
            IdScheme::Random => format!("{prefix}-{}", random_suffix()?),
            IdScheme::Sequential => {
                let floor = max_sequence(ws, &prefix)? + 1;
                let n = ws.store().allocate_sequence(&prefix, floor)?;
                format!("{prefix}-{:0width$}", n, width = width)
            }
        };
        if ws.store().item_exists(&id)? {
            continue;
        }
        let file_name = if ws.config.detect.id_from_filename {
            format!("{id}_{}.md", slug(title))
        } else {
            format!("{id}.md")
        };
        let rel = format!("{}/{}", kind.dir.trim_end_matches('/'), file_name);
        let content = render_template(&kind, &status, &id, title, parent, &fields, &now);
        let check = parse_document(&rel, &content, &ws.config);
        if check.broken || !check.items.iter().any(|p| p.item.id == id) {
            let why = check
                .diagnostics
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_else(|| "it declares no item".into());
            return Err(EngineError::user(format!(
                "the template of kind `{}` does not produce a valid item: {why}",
                kind.key
            ))
            .hint(format!("fix [kinds.{}] template in evident.toml", kind.key)));
        }
        // create_new: two processes can never write the same file.
        let abs = ws.abs(&rel);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&abs)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(content.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| EngineError::io("cannot write", rel.clone(), e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(EngineError::io("cannot create", rel, e)),
        }
        index_paths(ws, std::slice::from_ref(&rel), "cli")?;
        return Ok(NewOutcome {
            id,
            kind: kind.key.clone(),
            path: rel,
            status: status.key,
        });
    }
    Err(
        EngineError::user("could not find a free id after 64 attempts")
            .hint("check [kinds] prefix and the id scheme"),
    )
}

/// The highest number used by ids `PREFIX-N...` in the store.
fn max_sequence(ws: &mut Workspace, prefix: &str) -> Result<u64> {
    let head = format!("{prefix}-");
    Ok(ws
        .store()
        .ids_with_prefix(prefix)?
        .iter()
        .filter_map(|id| id.strip_prefix(&head))
        .filter_map(|rest| rest.split(['-', '_']).next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// show / list / ready / status / log

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub id: String,
    pub title: Option<String>,
    pub status: Option<String>,
    pub terminal: bool,
    /// False when the id is not a known item.
    pub known: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShowResult {
    pub item: ItemRow,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub sections: Vec<evident_core::item::Section>,
    pub dependencies: Vec<Dependency>,
    pub dependents: Vec<ItemRow>,
    pub children: Vec<ItemRow>,
    pub history: Vec<Event>,
    pub diagnostics: Vec<Diagnostic>,
    /// Each checkout's document declaring the item, with what it said when last read.
    pub sources: Vec<evident_store::ItemSource>,
    /// Sign-off records (sign-offs and reviews), oldest first.
    pub signoffs: Vec<evident_store::Signoff>,
    /// The running lease on the item, if any.
    pub claim: Option<evident_store::Claim>,
}

pub fn show(ws: &mut Workspace, id: &str) -> Result<ShowResult> {
    let mut item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    let fields = std::mem::take(&mut item.fields);
    let sections = std::mem::take(&mut item.sections);
    let mut dependencies = Vec::new();
    for d in &item.depends_on {
        let dep = ws.store().get_item(d)?;
        dependencies.push(match dep {
            Some(r) => Dependency {
                id: r.id,
                title: Some(r.title),
                status: Some(r.status),
                terminal: r.terminal,
                known: true,
            },
            None => Dependency {
                id: d.clone(),
                title: None,
                status: None,
                terminal: false,
                known: false,
            },
        });
    }
    let children = ws.store().list_items(&ItemFilter {
        parent: Some(id.to_string()),
        ..Default::default()
    })?;
    let dependents = ws.store().dependents(id)?;
    let history = ws.store().events(Some(id), None)?;
    let diagnostics = ws.store().item_diagnostics(id)?;
    let sources = ws.store().sources(id)?;
    let signoffs = ws.store().signoffs(Some(id))?;
    let now = crate::claims::now_ms(ws)?;
    let claim = ws.store().claims(now)?.into_iter().find(|c| c.item == id);
    Ok(ShowResult {
        sources,
        signoffs,
        claim,
        item,
        fields,
        sections,
        dependencies,
        dependents,
        children,
        history,
        diagnostics,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub project: String,
    pub summary: Summary,
    pub ready: Vec<ItemRow>,
    pub blocked: Vec<ItemRow>,
}

pub fn status(ws: &mut Workspace, recent: usize, top: usize) -> Result<StatusReport> {
    let summary = ws.store().summary(recent)?;
    let ready = ws.store().ready_items(Some(top), None)?;
    let blocked = ws.store().blocked_items(Some(top))?;
    Ok(StatusReport {
        project: ws.config.project.name.clone(),
        summary,
        ready,
        blocked,
    })
}

// ---------------------------------------------------------------------------------------------
// init

#[derive(Debug, Clone, Serialize)]
pub struct InitOutcome {
    pub root: String,
    pub preset: String,
    pub config: String,
    pub gitignore_updated: bool,
    pub examples: Vec<String>,
}

fn examples_for(preset_name: &str) -> Vec<(&'static str, &'static str)> {
    match preset_name {
        "basic" => vec![
            ("work/epics/EP-1.md", "---\nid: EP-1\nkind: epic\ntitle: \"First release\"\nstatus: in_progress\nowner: you\n---\n\n# First release\n\n## Goal\n\nShip the smallest useful version.\n\n## Scope\n\n- sign-in\n- the dashboard\n"),
            ("work/stories/ST-1.md", "---\nid: ST-1\nkind: story\ntitle: \"Sign in with email\"\nstatus: in_progress\nparent: EP-1\npriority: high\nlane: core\n---\n\n# Sign in with email\n\n## Description\n\nA user signs in with a one-time code.\n\n## Acceptance Criteria\n\n- [ ] a code arrives by email\n- [ ] the code expires after 10 minutes\n"),
            ("work/stories/ST-2.md", "---\nid: ST-2\nkind: story\ntitle: \"Dashboard shell\"\nstatus: todo\nparent: EP-1\npriority: medium\nlane: core\ndepends_on: [ST-1]\n---\n\n# Dashboard shell\n\n## Description\n\nThe empty dashboard a signed-in user lands on.\n\n## Acceptance Criteria\n\n- [ ] renders for a signed-in user\n"),
            ("work/bugs/BUG-1.md", "---\nid: BUG-1\nkind: bug\ntitle: \"Typo on the landing page\"\nstatus: todo\npriority: low\n---\n\n# Typo on the landing page\n\n## Steps to Reproduce\n\nOpen /.\n\n## Expected\n\n\"Welcome\".\n\n## Actual\n\n\"Wlecome\".\n"),
        ],
        "workplan" => vec![(
            "workplans/WP-1.md",
            "---\nid: WP-1\ntype: workplan\ntitle: \"Example workplan\"\nstatus: in_progress\n---\n\n# Example workplan\n\n## Tasks\n\n### T01 — Write the parser\n\n```task\nid: WP-1-T01\nstatus: done\npriority: high\n```\n\nParse the input format.\n\n### T02 — Wire the CLI\n\n```task\nid: WP-1-T02\nstatus: in_progress\npriority: medium\ndepends_on: [WP-1-T01]\n```\n\n### T03 — Document it\n\n```task\nid: WP-1-T03\nstatus: todo\npriority: low\ndepends_on: [WP-1-T02]\n```\n",
        )],
        "phases" => vec![
            ("phases/PH-1.md", "---\nid: PH-1\nkind: phase\ntitle: \"Phase 1 — Architecture\"\nstatus: In Progress\nevidence:\n  - {kind: doc, path: docs/architecture.md}\n---\n\n# Phase 1 — Architecture\n\n## Deliverables\n\n- [x] architecture document\n\n## Evidence\n\nThe architecture document, declared in `evidence:` above and verified by Evident once it exists.\n\n## Signoff\n\n"),
            ("phases/PH-2.md", "---\nid: PH-2\nkind: phase\ntitle: \"Phase 2 — Domain model\"\nstatus: Not Started\ndepends_on: [PH-1]\n---\n\n# Phase 2 — Domain model\n\n## Deliverables\n\n- [ ] state machines\n\n## Evidence\n\n## Signoff\n\n"),
        ],
        "cleargate" => vec![
            (".cleargate/delivery/pending-sync/EPIC-001_Onboarding.md", "---\nepic_id: \"EPIC-001\"\nstatus: \"Active\"\nowner: \"you\"\n---\n\n# EPIC-001: Onboarding\n\n## 1. Problem & Value\n\n## 2. Scope\n"),
            (".cleargate/delivery/pending-sync/STORY-001-01_Welcome_Email.md", "---\nstory_id: \"STORY-001-01\"\nparent_epic_ref: \"EPIC-001\"\nstatus: \"Ready\"\nlane: \"standard\"\n---\n\n# STORY-001-01: Welcome email\n\n## 1. The Spec\n\n## 2. Existing Surfaces\n\n## 3. Definition of Done\n"),
            (".cleargate/delivery/archive/.gitkeep", ""),
        ],
        _ => vec![],
    }
}

/// Write `evident.toml` from a preset in `dir`, ignore the store folder in `.gitignore`, and add
/// example items where the repository has no documents of its own.
pub fn init(dir: &Path, preset_name: &str, force: bool, examples: bool) -> Result<InitOutcome> {
    let text = preset(preset_name).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        EngineError::user(format!("unknown preset `{preset_name}`"))
            .hint(format!("presets: {}", names.join(", ")))
    })?;
    let root = dir
        .canonicalize()
        .map_err(|e| EngineError::io("cannot open folder", dir.display().to_string(), e))?;
    let cfg_path = root.join(CONFIG_FILE);
    if cfg_path.exists() && !force {
        return Err(
            EngineError::user(format!("{} already exists", cfg_path.display()))
                .hint("pass --force to overwrite it"),
        );
    }
    let project = root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("project");
    let text = text.replacen(
        "name = \"my-project\"",
        &format!("name = {}", toml_string(project)),
        1,
    );
    atomic_write(&cfg_path, text.as_bytes())?;
    // .gitignore
    let gi = root.join(".gitignore");
    let existing = std::fs::read_to_string(&gi).unwrap_or_default();
    let gitignore_updated = !existing.lines().any(|l| {
        matches!(
            l.trim(),
            ".evident" | ".evident/" | "/.evident" | "/.evident/"
        )
    });
    if gitignore_updated {
        let mut s = existing.clone();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(".evident/\n");
        atomic_write(&gi, s.as_bytes())?;
    }
    let mut written = Vec::new();
    if examples {
        let cfg =
            evident_core::Config::from_toml(&text).map_err(|e| EngineError::user(e.to_string()))?;
        let (found, _) = crate::walk::walk(&root, &cfg.project.roots, &cfg.project.exclude, false)?;
        let has_items = found.iter().any(|f| {
            std::fs::read_to_string(root.join(&f.rel))
                .map(|t| !parse_document(&f.rel, &t, &cfg).items.is_empty())
                .unwrap_or(false)
        });
        let cleargate_present = preset_name == "cleargate" && root.join(".cleargate").exists();
        if !has_items && !cleargate_present {
            for (rel, content) in examples_for(preset_name) {
                let p = root.join(rel);
                if p.exists() {
                    continue;
                }
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        EngineError::io("cannot create folder", parent.display().to_string(), e)
                    })?;
                }
                atomic_write(&p, content.as_bytes())?;
                if !content.is_empty() {
                    written.push(rel.to_string());
                }
            }
        }
    }
    Ok(InitOutcome {
        root: root.display().to_string(),
        preset: preset_name.to_string(),
        config: cfg_path.display().to_string(),
        gitignore_updated,
        examples: written,
    })
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// repositories

#[derive(Debug, Clone, Serialize)]
pub struct RepoEntry {
    pub slug: String,
    pub path: String,
}

/// Register a repository (for `check --all` / `fix --all`) in the current store.
pub fn repo_add(ws: &mut Workspace, slug: &str, path: &Path) -> Result<RepoEntry> {
    let valid = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(
            EngineError::user(format!("`{slug}` is not a valid repository slug"))
                .hint("use letters, digits, -, _ and ."),
        );
    }
    let abs = path.canonicalize().map_err(|e| {
        EngineError::user(format!("cannot open {}: {e}", path.display()))
            .hint("give the path of a repository checkout")
    })?;
    if !abs.is_dir() {
        return Err(EngineError::user(format!(
            "{} is not a folder",
            abs.display()
        )));
    }
    let shown = abs.display().to_string();
    ws.store().repo_add(slug, &shown)?;
    Ok(RepoEntry {
        slug: slug.to_string(),
        path: shown,
    })
}

pub fn repo_remove(ws: &mut Workspace, slug: &str) -> Result<()> {
    if ws.store().repo_remove(slug)? {
        Ok(())
    } else {
        Err(
            EngineError::user(format!("no repository registered as `{slug}`"))
                .hint("`evident repo list` shows them"),
        )
    }
}

pub fn repo_list(ws: &mut Workspace) -> Result<Vec<RepoEntry>> {
    Ok(ws
        .store()
        .repos()?
        .into_iter()
        .map(|(slug, path)| RepoEntry { slug, path })
        .collect())
}

/// Open the workspaces `--repo SLUG` / `--all` name, sharing the current store.
pub fn registered_workspaces(
    ws: &mut Workspace,
    ov: &crate::Overrides,
    only: Option<&str>,
) -> Result<Vec<(String, Workspace)>> {
    let repos = repo_list(ws)?;
    let chosen: Vec<RepoEntry> = match only {
        Some(slug) => vec![repos.into_iter().find(|r| r.slug == slug).ok_or_else(|| {
            EngineError::user(format!("no repository registered as `{slug}`"))
                .hint("register it with `evident repo add SLUG PATH`")
        })?],
        None => {
            if repos.is_empty() {
                return Err(EngineError::user("no repositories are registered")
                    .hint("register them with `evident repo add SLUG PATH`"));
            }
            repos
        }
    };
    let store = ws.store().location();
    chosen
        .into_iter()
        .map(|r| {
            let o = crate::Overrides {
                dir: Some(r.path.clone().into()),
                store: Some(store.clone()),
                actor: ov.actor.clone(),
            };
            Workspace::open(&o).map(|w| (r.slug, w))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// migrate

#[derive(Debug, Clone, Serialize)]
pub struct MigrateOutcome {
    pub backend: &'static str,
    /// Where the store is (passwords redacted).
    pub store: String,
    pub from_version: u32,
    pub to_version: u32,
}

/// Create the store's schema or bring it up to date (the only way a PostgreSQL hub is
/// upgraded; SQLite stores also upgrade themselves when opened).
pub fn migrate(ov: &crate::Overrides) -> Result<MigrateOutcome> {
    Ok(match Workspace::locate_store(ov)? {
        crate::StoreLocation::Sqlite(p) => {
            let (from, to) = evident_store::SqliteStore::migrate_file(&p)?;
            MigrateOutcome {
                backend: "sqlite",
                store: p.display().to_string(),
                from_version: from,
                to_version: to,
            }
        }
        crate::StoreLocation::Postgres(t) => {
            let (from, to) = evident_store::PgStore::migrate(&t)?;
            MigrateOutcome {
                backend: "postgres",
                store: t.display.clone(),
                from_version: from,
                to_version: to,
            }
        }
    })
}
