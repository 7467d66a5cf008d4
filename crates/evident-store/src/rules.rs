//! The decisions every backend takes inside its write transaction, written once: whether a
//! transition may land on the status the store holds now, and who gets a lease. Backends read
//! the current row, ask here, and write what is decided, all in one transaction.

use crate::model::{action, Claim, ClaimRequest, TransitionRequest};
use crate::{Result, StoreError};

/// Refuse a transition validated against a status the item no longer has, and a plain
/// transition that would lower the rank (only reopen and override may).
pub(crate) fn check_transition(
    req: &TransitionRequest,
    current: &str,
    current_rank: Option<i64>,
) -> Result<()> {
    if current != req.from {
        return Err(StoreError::Conflict {
            id: req.id.clone(),
            expected: req.from.clone(),
            found: current.to_string(),
        });
    }
    if req.action == action::TRANSITION && current_rank.is_some_and(|r| req.to.rank < r) {
        return Err(StoreError::Regression {
            id: req.id.clone(),
            from: current.to_string(),
            to: req.to.key.clone(),
        });
    }
    Ok(())
}

/// Decide what a transition by `actor` does about the item's lease. While another agent's lease
/// runs the move is refused, unless it breaks the lease on purpose (`break_claim`). A move into
/// a terminal status ends whatever lease there is: `Some(reason)` means the backend deletes it
/// and journals a release with that reason, in the same transaction.
pub(crate) fn transition_lease(
    req: &TransitionRequest,
    actor: &str,
    held: Option<&Claim>,
) -> Result<Option<String>> {
    let Some(h) = held else {
        return Ok(None);
    };
    let running = h.expires_ms > req.now_ms;
    if running && h.agent != actor && !req.break_claim {
        return Err(StoreError::Claimed {
            id: req.id.clone(),
            agent: h.agent.clone(),
            until: h.expires_at.clone(),
        });
    }
    if !req.to.terminal {
        return Ok(None);
    }
    let to = &req.to.key;
    Ok(Some(if h.agent == actor {
        format!("released by {actor}: the item is {to}")
    } else if running {
        format!(
            "lease of {} ended: {actor} moved the item to {to} (--force)",
            h.agent
        )
    } else {
        format!("expired lease of {} cleared: the item is {to}", h.agent)
    }))
}

/// What a claim writes: the lease and the journal's reason.
pub(crate) struct ClaimPlan {
    pub claim: Claim,
    pub reason: String,
}

/// Decide a claim against the lease held now (if any).
pub(crate) fn claim_plan(req: &ClaimRequest, held: Option<&Claim>, at: &str) -> Result<ClaimPlan> {
    let (claimed_at, reason) = match held {
        Some(h) if h.agent != req.agent && h.expires_ms > req.now_ms => {
            return Err(StoreError::Claimed {
                id: req.id.clone(),
                agent: h.agent.clone(),
                until: h.expires_at.clone(),
            })
        }
        Some(h) if h.agent == req.agent && h.expires_ms > req.now_ms => (
            h.claimed_at.clone(),
            format!("renewed by {} until {}", req.agent, req.expires_at),
        ),
        Some(h) => (
            at.to_string(),
            format!(
                "claimed by {} until {} (the lease of {} ended {})",
                req.agent, req.expires_at, h.agent, h.expires_at
            ),
        ),
        None => (
            at.to_string(),
            format!("claimed by {} until {}", req.agent, req.expires_at),
        ),
    };
    Ok(ClaimPlan {
        claim: Claim {
            item: req.id.clone(),
            agent: req.agent.clone(),
            claimed_at,
            expires_at: req.expires_at.clone(),
            expires_ms: req.expires_ms,
        },
        reason,
    })
}

/// Decide a release: the journal's reason, or `None` when nothing is held.
pub(crate) fn release_plan(
    id: &str,
    agent: &str,
    held: Option<&Claim>,
    now_ms: i64,
    force: bool,
) -> Result<Option<String>> {
    let Some(h) = held else {
        return Ok(None);
    };
    let running = h.expires_ms > now_ms;
    if h.agent != agent && running && !force {
        return Err(StoreError::Claimed {
            id: id.to_string(),
            agent: h.agent.clone(),
            until: h.expires_at.clone(),
        });
    }
    Ok(Some(if h.agent == agent {
        format!("released by {agent}")
    } else if running {
        format!("lease of {} broken by {agent} (--force)", h.agent)
    } else {
        format!("expired lease of {} cleared by {agent}", h.agent)
    }))
}

/// The journal entry for a sign-off record: (action, reason).
pub(crate) fn signoff_event(kind: &str, role: &str, note: Option<&str>) -> (&'static str, String) {
    let reason = match (kind, note) {
        ("review", Some(n)) => format!("gaps: {n}"),
        (_, Some(n)) => format!("{role}: {n}"),
        (_, None) => role.to_string(),
    };
    let act = if kind == "review" {
        action::REVIEW
    } else {
        action::SIGNOFF
    };
    (act, reason)
}
