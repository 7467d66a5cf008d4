//! A git merge driver for work-item documents. When two branches change the same item's status,
//! git's line merge would conflict (or pick one blindly); this driver merges statuses by rank:
//! a side that did not change the status takes the other side's (so a committed reopen is
//! respected), and when both changed it the higher rank wins — unless the store's effective
//! status, which already carries reopens, is one of the two. Everything else goes through git's
//! own three-way merge (`git merge-file`), conflicts included, with the status lines normalised
//! first so they never conflict.

use std::collections::HashMap;
use std::path::Path;

use evident_codec::{apply_status_edit, parse_document, render_status_value, StatusEdit};
use evident_core::config::Config;
use serde::Serialize;

use crate::fsutil::atomic_write;
use crate::{EngineError, Result};

/// Result of merging one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    /// Conflicts left by git's line merge (0 = clean).
    pub conflicts: u32,
}

/// The merged status (canonical key) of each item present on both sides.
fn merged_statuses(
    config: &Config,
    path: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    effective: &dyn Fn(&str) -> Option<String>,
) -> Option<HashMap<String, String>> {
    let (o, a, b) = (
        parse_document(path, base, config),
        parse_document(path, ours, config),
        parse_document(path, theirs, config),
    );
    if a.broken || b.broken {
        return None;
    }
    let status_of = |doc: &evident_codec::ParsedDocument, id: &str| -> Option<(String, i64)> {
        let p = doc.items.iter().find(|p| p.item.id == id)?;
        let kind = config.kind(&p.item.kind)?;
        let wf = config.workflow_of(kind);
        let s = if p.item.status.is_empty() {
            wf.initial()
        } else {
            wf.status(&p.item.status)?
        };
        Some((s.key.clone(), s.rank))
    };
    let mut out = HashMap::new();
    for pa in &a.items {
        let id = pa.item.id.as_str();
        let (Some(sa), Some(sb)) = (status_of(&a, id), status_of(&b, id)) else {
            continue;
        };
        let so = status_of(&o, id).map(|s| s.0);
        let merged = if sa.0 == sb.0 {
            sa.0
        } else if so.as_deref() == Some(sa.0.as_str()) {
            sb.0
        } else if so.as_deref() == Some(sb.0.as_str()) {
            sa.0
        } else {
            match effective(id) {
                Some(e) if e == sa.0 || e == sb.0 => e,
                _ if sb.1 > sa.1 => sb.0,
                _ => sa.0,
            }
        };
        out.insert(id.to_string(), merged);
    }
    Some(out)
}

/// Rewrite the status values of `text` to `statuses` (only the status bytes change).
fn normalise(
    config: &Config,
    path: &str,
    text: &str,
    statuses: &HashMap<String, String>,
) -> String {
    let doc = parse_document(path, text, config);
    if doc.broken {
        return text.to_string();
    }
    let mut edits: Vec<StatusEdit> = Vec::new();
    for p in &doc.items {
        let Some(target) = statuses.get(&p.item.id) else {
            continue;
        };
        let Some(kind) = config.kind(&p.item.kind) else {
            continue;
        };
        let Some(to) = config.workflow_of(kind).status(target) else {
            continue;
        };
        let current = config
            .workflow_of(kind)
            .status(&p.item.status)
            .map(|s| s.key.clone());
        if current.as_deref() == Some(to.key.as_str()) {
            continue;
        }
        if let Ok(e) = render_status_value(text, &p.status_span, &to.key, &to.name) {
            edits.push(e);
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut out = text.to_string();
    for e in &edits {
        out = apply_status_edit(&out, e);
    }
    out
}

/// Merge three versions of a document.
pub fn merge_texts(
    config: &Config,
    path: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    effective: &dyn Fn(&str) -> Option<String>,
) -> Result<Merged> {
    let (o, a, b) = match merged_statuses(config, path, base, ours, theirs, effective) {
        Some(st) => (
            normalise(config, path, base, &st),
            normalise(config, path, ours, &st),
            normalise(config, path, theirs, &st),
        ),
        None => (base.to_string(), ours.to_string(), theirs.to_string()),
    };
    let dir = tempfile_dir()?;
    let (po, pa, pb) = (dir.join("base"), dir.join("ours"), dir.join("theirs"));
    let write = |p: &Path, t: &str| {
        std::fs::write(p, t)
            .map_err(|e| EngineError::io("cannot write", p.display().to_string(), e))
    };
    write(&po, &o)?;
    write(&pa, &a)?;
    write(&pb, &b)?;
    let status = std::process::Command::new("git")
        .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&pa)
        .arg(&po)
        .arg(&pb)
        .status()
        .map_err(|e| EngineError::io("cannot run", "git merge-file", e))?;
    let text = std::fs::read_to_string(&pa)
        .map_err(|e| EngineError::io("cannot read", pa.display().to_string(), e));
    let _ = std::fs::remove_dir_all(&dir);
    let code = status.code().unwrap_or(-1);
    if code < 0 {
        return Err(EngineError::user("git merge-file failed").hint("check that git is installed"));
    }
    Ok(Merged {
        text: text?,
        conflicts: code as u32,
    })
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("evident-merge-{name}"));
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io("cannot create", dir.display().to_string(), e))?;
    Ok(dir)
}

/// `git` calls the driver with the base, ours (written back with the result) and theirs files.
pub fn run_driver(
    config: &Config,
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: &str,
    effective: &dyn Fn(&str) -> Option<String>,
) -> Result<u32> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| EngineError::io("cannot read", p.display().to_string(), e))
    };
    let merged = merge_texts(
        config,
        path,
        &read(base)?,
        &read(ours)?,
        &read(theirs)?,
        effective,
    )?;
    atomic_write(ours, merged.text.as_bytes())?;
    Ok(merged.conflicts)
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    pub gitattributes: String,
    pub gitattributes_updated: bool,
    pub driver: String,
}

/// Register the driver: a `.gitattributes` line for Markdown documents and the git config entry
/// that runs this binary.
pub fn install(root: &Path) -> Result<InstallOutcome> {
    let exe = std::env::current_exe()
        .map_err(|e| EngineError::io("cannot locate", "the evident binary", e))?;
    let driver = format!("\"{}\" merge-driver run %O %A %B %P", exe.display());
    let set = |k: &str, v: &str| -> Result<()> {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["config", k, v])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(EngineError::user(format!("could not set git config {k}"))
                .hint("run it inside a git repository"))
        }
    };
    set(
        "merge.evident.name",
        "Evident: merge work-item statuses by rank",
    )?;
    set("merge.evident.driver", &driver)?;
    let ga = root.join(".gitattributes");
    let existing = std::fs::read_to_string(&ga).unwrap_or_default();
    let line = "*.md merge=evident";
    let updated = !existing.lines().any(|l| l.trim() == line);
    if updated {
        let mut s = existing;
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(line);
        s.push('\n');
        atomic_write(&ga, s.as_bytes())?;
    }
    Ok(InstallOutcome {
        gitattributes: ga.display().to_string(),
        gitattributes_updated: updated,
        driver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::config::preset;

    fn cfg() -> Config {
        Config::from_toml(preset("workplan").unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn plan(s1: &str, s2: &str, title: &str) -> String {
        format!("---\nid: WP\ntype: workplan\nstatus: todo\n---\n\n### {title}\n\n```task\nid: T-1\nstatus: {s1}\n```\n\n```task\nid: T-2\nstatus: {s2}  # note\n```\n")
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn statuses_merge_by_rank_and_other_edits_merge_normally() {
        let c = cfg();
        let base = plan("todo", "todo", "Tasks");
        let ours = plan("done", "in_progress", "Tasks");
        let theirs = plan("in_progress", "todo", "Tasks, renamed");
        let m = merge_texts(&c, "wp.md", &base, &ours, &theirs, &none)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.conflicts, 0);
        assert_eq!(m.text, plan("done", "in_progress", "Tasks, renamed"));
    }

    #[test]
    fn a_one_sided_lowering_is_a_reopen_and_is_respected() {
        let c = cfg();
        let m = merge_texts(
            &c,
            "wp.md",
            &plan("done", "todo", "T"),
            &plan("done", "in_progress", "T"),
            &plan("todo", "todo", "T"),
            &none,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.text, plan("todo", "in_progress", "T"));
        // Both changed: higher rank, unless the store (which knows reopens) says otherwise.
        let m = merge_texts(
            &c,
            "wp.md",
            &plan("in_progress", "todo", "T"),
            &plan("done", "todo", "T"),
            &plan("todo", "todo", "T"),
            &|_| Some("todo".into()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.text, plan("todo", "todo", "T"));
    }

    #[test]
    fn real_conflicts_stay_conflicts() {
        let c = cfg();
        let m = merge_texts(
            &c,
            "wp.md",
            &plan("todo", "todo", "T"),
            &plan("todo", "todo", "Ours"),
            &plan("todo", "todo", "Theirs"),
            &none,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.conflicts, 1);
        assert!(m.text.contains("<<<<<<< ours"));
    }
}
