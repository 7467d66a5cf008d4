//! Claims: how agents take work without stepping on each other. A claim is a lease on an item,
//! taken by compare-and-swap in the store (so two agents on two machines can never both hold
//! it), renewed by its holder, and free again once it expires. The agent is the acting identity
//! (`--as`, `EVIDENT_ACTOR`); time comes from the workspace clock, so tests can fix it.

use chrono::{DateTime, SecondsFormat, Utc};
use evident_store::{Claim, ClaimRequest};
use serde::Serialize;

use crate::ops::not_found;
use crate::{EngineError, Result, Workspace};

/// The default lease.
pub const DEFAULT_TTL: &str = "30m";

/// Parse a lease length: `90s`, `30m`, `2h`, `1d` (a bare number is minutes).
pub fn parse_ttl(raw: &str) -> Result<i64> {
    let t = raw.trim();
    let bad = || {
        EngineError::user(format!("`{raw}` is not a lease length"))
            .hint("write it as 90s, 30m, 2h or 1d (between 1s and 30d)")
    };
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "m"),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let total = n.checked_mul(ms).ok_or_else(bad)?;
    if !(1_000..=30 * 86_400_000).contains(&total) {
        return Err(bad());
    }
    Ok(total)
}

/// Now, in milliseconds since the epoch, from the workspace clock (`EVIDENT_NOW` in tests).
pub fn now_ms(ws: &Workspace) -> Result<i64> {
    let now = ws.now();
    DateTime::parse_from_rfc3339(&now)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            EngineError::user(format!("EVIDENT_NOW=`{now}` is not an RFC 3339 time"))
                .hint("write it like 2026-01-31T09:00:00Z")
        })
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Take or renew the acting agent's lease on `id`.
pub fn claim(ws: &mut Workspace, id: &str, ttl: &str) -> Result<Claim> {
    let ttl = parse_ttl(ttl)?;
    let now = now_ms(ws)?;
    let item = ws.store().get_item(id)?.ok_or_else(|| not_found(ws, id))?;
    if item.terminal {
        return Err(EngineError::user(format!(
            "{id} is {}: there is no work left to claim",
            item.status
        ))
        .hint("pick open work with `evident ready --unclaimed`"));
    }
    let agent = ws.actor();
    let req = ClaimRequest {
        id: item.id,
        agent,
        now_ms: now,
        expires_ms: now + ttl,
        expires_at: rfc3339(now + ttl),
    };
    let ctx = ws.event_context("cli");
    Ok(ws.store().claim(&req, &ctx)?)
}

/// Give back the acting agent's lease on `id` (anyone's with `force`).
pub fn release(ws: &mut Workspace, id: &str, force: bool) -> Result<Option<Claim>> {
    let now = now_ms(ws)?;
    if !ws.store().item_exists(id)? {
        return Err(not_found(ws, id));
    }
    let agent = ws.actor();
    let ctx = ws.event_context("cli");
    Ok(ws.store().release(id, &agent, now, force, &ctx)?)
}

/// A running lease, with what it is on.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimView {
    #[serde(flatten)]
    pub claim: Claim,
    pub title: Option<String>,
    pub status: Option<String>,
}

/// Every running lease.
pub fn list(ws: &mut Workspace) -> Result<Vec<ClaimView>> {
    let now = now_ms(ws)?;
    let claims = ws.store().claims(now)?;
    let mut out = Vec::with_capacity(claims.len());
    for c in claims {
        let it = ws.store().get_item(&c.item)?;
        out.push(ClaimView {
            title: it.as_ref().map(|i| i.title.clone()),
            status: it.map(|i| i.status),
            claim: c,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lengths() {
        assert_eq!(parse_ttl("30m").unwrap(), 1_800_000);
        assert_eq!(parse_ttl("90s").unwrap(), 90_000);
        assert_eq!(parse_ttl("2h").unwrap(), 7_200_000);
        assert_eq!(parse_ttl("1d").unwrap(), 86_400_000);
        assert_eq!(parse_ttl("5").unwrap(), 300_000);
        for bad in ["", "0s", "10x", "-5m", "31d", "m", "99999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
