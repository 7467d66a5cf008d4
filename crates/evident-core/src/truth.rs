//! The truth model's merge rules. Files own content; status can move anywhere, so a status
//! seen in a file is a *proposal* merged against the store's effective status under the
//! workflow's rank. Only an explicit reopen lowers a rank (invariant I1), and a genuine file
//! edit is either applied or reported, never dropped (I2).
//!
//! How a stale file is told from an edited one: the store remembers, per checkout and item, the
//! status that checkout's file carried when it last read it. If the file still says the same
//! thing, the file proposes nothing, whatever the effective status is now (it was moved by the
//! CLI, another checkout or a sync). If the file's status changed, someone edited it: the edit
//! applies when it does not lower the rank, and is reported as EV117 when it does. A checkout
//! that has never read the item cannot tell an edit from a stale copy, so only a status ahead
//! of the effective one is taken from it.

use crate::workflow::StatusDef;

/// What to do with the status a file carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatusDecision {
    /// A new item: adopt the file's status.
    Create,
    /// The file's status becomes effective (journal it with source `file`).
    Apply,
    /// Nothing to do: the file agrees, or it is stale and proposes nothing.
    Keep,
    /// The file lowers the rank without a reopen: keep the effective status, report EV117.
    RefuseRegression,
}

/// Decide how a file's status merges with the store.
///
/// - `effective`: the store's current status for the item (`None` if the item is new);
/// - `last_file_status`: the canonical status this checkout's file carried when this checkout
///   last read it (`None` if it never did);
/// - `file`: the status the file carries now.
pub fn merge_file_status(
    effective: Option<&StatusDef>,
    last_file_status: Option<&str>,
    file: &StatusDef,
) -> FileStatusDecision {
    let Some(eff) = effective else {
        return FileStatusDecision::Create;
    };
    if eff.key == file.key {
        return FileStatusDecision::Keep;
    }
    let Some(last) = last_file_status else {
        return if file.rank > eff.rank {
            FileStatusDecision::Apply
        } else {
            FileStatusDecision::Keep
        };
    };
    if last == file.key {
        return FileStatusDecision::Keep;
    }
    if file.rank >= eff.rank {
        FileStatusDecision::Apply
    } else {
        FileStatusDecision::RefuseRegression
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(key: &str, rank: i64) -> StatusDef {
        StatusDef {
            key: key.into(),
            name: key.into(),
            label: key.into(),
            rank,
            terminal: false,
        }
    }

    #[test]
    fn stale_file_never_pulls_down() {
        let done = s("done", 2);
        let todo = s("todo", 0);
        assert_eq!(
            merge_file_status(Some(&done), Some("todo"), &todo),
            FileStatusDecision::Keep
        );
        assert_eq!(
            merge_file_status(Some(&done), Some("done"), &todo),
            FileStatusDecision::RefuseRegression
        );
        assert_eq!(
            merge_file_status(Some(&todo), Some("todo"), &done),
            FileStatusDecision::Apply
        );
        assert_eq!(
            merge_file_status(None, None, &todo),
            FileStatusDecision::Create
        );
    }

    proptest! {
        /// I1 at the level of one decision: whatever the inputs, the resulting effective rank
        /// is never lower than before.
        #[test]
        fn never_lowers_rank(eff_rank in 0i64..5, file_rank in 0i64..5, last in proptest::option::of(0i64..5)) {
            let eff = s(&format!("s{eff_rank}"), eff_rank);
            let file = s(&format!("f{file_rank}"), file_rank);
            let last_key = last.map(|r| format!("f{r}"));
            let d = merge_file_status(Some(&eff), last_key.as_deref(), &file);
            let after = if d == FileStatusDecision::Apply { file.rank } else { eff.rank };
            prop_assert!(after >= eff.rank);
            // I2: a changed file status is either applied, agrees, or reported.
            if last_key.is_some() && last_key.as_deref() != Some(file.key.as_str()) {
                prop_assert!(d != FileStatusDecision::Keep || eff.key == file.key);
            }
        }
    }
}
