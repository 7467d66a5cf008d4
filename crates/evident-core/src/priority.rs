//! Priority ordering. Files spell priority many ways ("high", "P1-High", "2", "urgent"); `rank`
//! maps them to one order where lower is more urgent, so `ready` and `list --sort priority`
//! agree across formats.

/// Urgency rank: 0 most urgent; `None` for no priority (sorts last).
pub fn rank(raw: &str) -> Option<i64> {
    let key = crate::status::canonical_key_cow(raw);
    if key.is_empty() {
        return None;
    }
    if let Ok(n) = key.parse::<i64>() {
        return Some(n);
    }
    // "p0", "p1_high"…
    if let Some(rest) = key.strip_prefix('p') {
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<i64>() {
            return Some(n);
        }
    }
    let word = key.split('_').next().unwrap_or("");
    Some(match word {
        "critical" | "urgent" | "blocker" | "highest" => 0,
        "high" => 1,
        "medium" | "normal" | "med" => 2,
        "low" => 3,
        "lowest" | "trivial" => 4,
        _ => 5,
    })
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn spellings_order_consistently() {
        assert_eq!(rank("P0-Critical"), Some(0));
        assert_eq!(rank("critical"), Some(0));
        assert_eq!(rank("High"), Some(1));
        assert_eq!(rank("p1"), Some(1));
        assert_eq!(rank("medium"), Some(2));
        assert_eq!(rank("3"), Some(3));
        assert_eq!(rank("whatever"), Some(5));
        assert_eq!(rank(""), None);
    }
}
