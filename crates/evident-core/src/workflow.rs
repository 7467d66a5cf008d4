//! Workflows: the statuses of a kind, their progress rank, which are terminal, and which
//! transitions are allowed. Rank is what the truth model merges on: a status may only move to
//! an equal or higher rank unless an explicit reopen says otherwise.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::status::{canonical_key, display_from_key};

/// One status of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDef {
    /// Canonical key (`in_progress`).
    pub key: String,
    /// Display name (`In Progress`): as configured when it has capitals or spaces, derived from
    /// the key otherwise. Used when a file spells statuses as words.
    pub name: String,
    /// The spelling the configuration uses (`in_progress`), for messages.
    pub label: String,
    /// Progress order; higher is further along.
    pub rank: i64,
    pub terminal: bool,
}

/// A validated workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub name: String,
    pub statuses: Vec<StatusDef>,
    /// Index into `statuses` by canonical key (FxHash: looked up for every item of an index
    /// pass, and its keys come from the configuration).
    by_key: FxHashMap<String, usize>,
    /// `statuses` again, shared: what an index pass attaches to each parsed item (see
    /// [`Workflow::status_shared`]).
    shared: Vec<Arc<StatusDef>>,
    /// Allowed targets per canonical source key; `None` means every move that does not lower
    /// the rank is allowed.
    transitions: Option<BTreeMap<String, Vec<String>>>,
    pub initial: String,
}

/// Why a workflow definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("workflow `{workflow}` has no statuses")]
    Empty { workflow: String },
    #[error("workflow `{workflow}` lists status `{status}` twice")]
    DuplicateStatus { workflow: String, status: String },
    #[error("workflow `{workflow}` names unknown status `{status}` in {place}")]
    UnknownStatus {
        workflow: String,
        status: String,
        place: String,
    },
}

/// What `move`/`reopen` may do from one status to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionCheck {
    /// Allowed as an ordinary move.
    Forward,
    /// The same status: nothing to do.
    Same,
    /// Declared in the workflow but lowers the rank: allowed only with a reason, and journaled
    /// as a reopen.
    DeclaredRegression,
    /// Lowers the rank and is not declared: only `reopen` may do it.
    Regression,
    /// Not in the workflow's transition table.
    NotAllowed,
}

impl Workflow {
    /// Build and validate a workflow. `transitions` maps a status spelling to allowed target
    /// spellings; `initial` defaults to the lowest-ranked status.
    pub fn new(
        name: &str,
        statuses: Vec<(String, i64, bool)>,
        transitions: Option<BTreeMap<String, Vec<String>>>,
        initial: Option<&str>,
    ) -> Result<Workflow, WorkflowError> {
        if statuses.is_empty() {
            return Err(WorkflowError::Empty {
                workflow: name.to_string(),
            });
        }
        let mut defs = Vec::with_capacity(statuses.len());
        let mut by_key = FxHashMap::default();
        for (raw, rank, terminal) in statuses {
            let key = canonical_key(&raw);
            if by_key.insert(key.clone(), defs.len()).is_some() {
                return Err(WorkflowError::DuplicateStatus {
                    workflow: name.to_string(),
                    status: raw,
                });
            }
            let display = if raw.contains(|c: char| c.is_uppercase() || c == ' ') {
                raw.clone()
            } else {
                display_from_key(&key)
            };
            defs.push(StatusDef {
                key,
                label: raw.clone(),
                name: display,
                rank,
                terminal,
            });
        }
        let unknown = |status: &str, place: &str| WorkflowError::UnknownStatus {
            workflow: name.to_string(),
            status: status.to_string(),
            place: place.to_string(),
        };
        let transitions = match transitions {
            None => None,
            Some(table) => {
                let mut canon = BTreeMap::new();
                for (from, tos) in table {
                    let fk = canonical_key(&from);
                    if !by_key.contains_key(&fk) {
                        return Err(unknown(&from, "transitions"));
                    }
                    let mut targets = Vec::new();
                    for to in tos {
                        let tk = canonical_key(&to);
                        if !by_key.contains_key(&tk) {
                            return Err(unknown(&to, &format!("transitions from `{from}`")));
                        }
                        targets.push(tk);
                    }
                    canon.insert(fk, targets);
                }
                Some(canon)
            }
        };
        let initial = match initial {
            Some(i) => {
                let k = canonical_key(i);
                if !by_key.contains_key(&k) {
                    return Err(unknown(i, "initial"));
                }
                k
            }
            None => defs
                .iter()
                .min_by_key(|d| d.rank)
                .map(|d| d.key.clone())
                .unwrap_or_default(),
        };
        Ok(Workflow {
            name: name.to_string(),
            shared: defs.iter().cloned().map(Arc::new).collect(),
            statuses: defs,
            by_key,
            transitions,
            initial,
        })
    }

    /// Look a status up by any spelling.
    pub fn status(&self, spelling: &str) -> Option<&StatusDef> {
        self.by_key
            .get(crate::status::canonical_key_cow(spelling).as_ref())
            .map(|&i| &self.statuses[i])
    }

    /// The hint for a spelling that is none of this workflow's statuses: the nearest ones, if
    /// any is near, then every status as configured ("did you mean `done`? statuses: …"),
    /// `what` naming the list.
    pub fn unknown_status_hint(&self, spelling: &str, what: &str) -> String {
        let names: Vec<&str> = self.statuses.iter().map(|s| s.label.as_str()).collect();
        crate::suggest::among(spelling, what, &names)
    }

    /// [`Workflow::status`], shared: an index pass attaches one to every parsed item, and a
    /// shared definition is passed on without copying its three strings (allocated by a parse
    /// worker, freed by the store's writer).
    pub fn status_shared(&self, spelling: &str) -> Option<Arc<StatusDef>> {
        self.by_key
            .get(crate::status::canonical_key_cow(spelling).as_ref())
            .map(|&i| Arc::clone(&self.shared[i]))
    }

    /// [`Workflow::initial`], shared (see [`Workflow::status_shared`]).
    pub fn initial_shared(&self) -> Arc<StatusDef> {
        self.status_shared(&self.initial)
            .unwrap_or_else(|| Arc::clone(&self.shared[0]))
    }

    pub fn initial(&self) -> &StatusDef {
        // `initial` is validated in `new`.
        self.status(&self.initial).unwrap_or(&self.statuses[0])
    }

    pub fn has_transition_table(&self) -> bool {
        self.transitions.is_some()
    }

    /// Classify a move from `from` to `to` (both canonical keys of this workflow).
    pub fn check(&self, from: &StatusDef, to: &StatusDef) -> TransitionCheck {
        if from.key == to.key {
            return TransitionCheck::Same;
        }
        let declared = self
            .transitions
            .as_ref()
            .map(|t| t.get(&from.key).is_some_and(|v| v.contains(&to.key)));
        match (declared, to.rank < from.rank) {
            (Some(true), true) => TransitionCheck::DeclaredRegression,
            (Some(true), false) => TransitionCheck::Forward,
            (Some(false), true) | (None, true) => TransitionCheck::Regression,
            (Some(false), false) => TransitionCheck::NotAllowed,
            (None, false) => TransitionCheck::Forward,
        }
    }

    /// Targets an ordinary `move` may reach from `from`, in workflow order.
    pub fn allowed_targets(&self, from: &StatusDef) -> Vec<&StatusDef> {
        self.statuses
            .iter()
            .filter(|to| {
                matches!(
                    self.check(from, to),
                    TransitionCheck::Forward | TransitionCheck::DeclaredRegression
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workplan() -> Workflow {
        Workflow::new(
            "workplan",
            vec![
                ("todo".into(), 0, false),
                ("in_progress".into(), 1, false),
                ("blocked".into(), 1, false),
                ("done".into(), 2, true),
                ("cancelled".into(), 2, true),
            ],
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn open_workflow_allows_forward_and_refuses_regression() {
        let w = workplan();
        let s = |k: &str| w.status(k).unwrap().clone();
        assert_eq!(w.check(&s("todo"), &s("Done")), TransitionCheck::Forward);
        assert_eq!(
            w.check(&s("blocked"), &s("in-progress")),
            TransitionCheck::Forward
        );
        assert_eq!(w.check(&s("done"), &s("todo")), TransitionCheck::Regression);
        assert_eq!(w.check(&s("done"), &s("done")), TransitionCheck::Same);
        assert_eq!(w.initial().key, "todo");
    }

    #[test]
    fn table_declares_moves_and_regressions() {
        let mut t = BTreeMap::new();
        t.insert("Ready to Bounce".to_string(), vec!["Bouncing".to_string()]);
        t.insert(
            "Bouncing".to_string(),
            vec!["QA Passed".to_string(), "Ready to Bounce".to_string()],
        );
        let w = Workflow::new(
            "loop",
            vec![
                ("Ready to Bounce".into(), 0, false),
                ("Bouncing".into(), 1, false),
                ("QA Passed".into(), 2, false),
            ],
            Some(t),
            None,
        )
        .unwrap();
        let s = |k: &str| w.status(k).unwrap().clone();
        assert_eq!(
            w.check(&s("ready_to_bounce"), &s("qa passed")),
            TransitionCheck::NotAllowed
        );
        assert_eq!(
            w.check(&s("bouncing"), &s("ready to bounce")),
            TransitionCheck::DeclaredRegression
        );
        assert_eq!(w.status("qa_passed").unwrap().name, "QA Passed");
        let targets: Vec<_> = w
            .allowed_targets(&s("bouncing"))
            .iter()
            .map(|d| d.key.clone())
            .collect();
        assert_eq!(targets, vec!["ready_to_bounce", "qa_passed"]);
    }

    #[test]
    fn bad_definitions_are_refused() {
        assert!(matches!(
            Workflow::new("x", vec![], None, None),
            Err(WorkflowError::Empty { .. })
        ));
        assert!(matches!(
            Workflow::new(
                "x",
                vec![("a".into(), 0, false), ("A".into(), 1, false)],
                None,
                None
            ),
            Err(WorkflowError::DuplicateStatus { .. })
        ));
        assert!(matches!(
            Workflow::new("x", vec![("a".into(), 0, false)], None, Some("b")),
            Err(WorkflowError::UnknownStatus { .. })
        ));
    }
}
