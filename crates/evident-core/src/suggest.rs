//! "Did you mean …?" for error hints: the known names nearest to a mistyped one (an id, a kind,
//! a status), so a typo is answered with its fix rather than only a list to search by eye.
//!
//! Near means a small edit distance between the two spellings (`strsim`'s optimal string
//! alignment: an insertion, a deletion, a substitution or two neighbours swapped each count as
//! one edit), with case ignored and `-`, `_` and spaces taken as one character, as status
//! spellings are: one edit for names of up to four characters, two up to eight, three beyond.
//! Further than that, a suggestion is more likely noise than help, and none is made.

/// The spelling compared: lower case, with `-`, `_` and spaces as one separator.
fn folded(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// How many edits `typed` may be from a candidate and still be suggested.
fn allowance(typed: &str) -> usize {
    match typed.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    }
}

/// The candidates nearest to `typed`, at most three (ties keep the candidates' order), when any
/// is near enough to be a likely typo; empty otherwise. A candidate spelled as `typed` is not a
/// suggestion.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let t = folded(typed);
    let mut best = allowance(typed);
    let mut found: Vec<&'a str> = Vec::new();
    for c in candidates {
        if c == typed {
            continue;
        }
        let d = strsim::osa_distance(&t, &folded(c));
        if d < best {
            best = d;
            found.clear();
        }
        if d == best && found.len() < 3 && !found.contains(&c) {
            found.push(c);
        }
    }
    found
}

/// `did you mean `a`? ` (or `a` or `b`, or `a`, `b` or `c`), ready to start a hint; empty when
/// there is nothing to suggest.
pub fn did_you_mean(found: &[&str]) -> String {
    let quoted: Vec<String> = found.iter().map(|s| format!("`{s}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!("did you mean {one}? "),
        [init @ .., last] => format!("did you mean {} or {last}? ", init.join(", ")),
    }
}

/// A hint naming what `typed` may have meant, then every known name: "did you mean `done`?
/// statuses: todo, in_progress, done".
pub fn among(typed: &str, what: &str, names: &[&str]) -> String {
    let near = closest(typed, names.iter().copied());
    format!("{}{what}: {}", did_you_mean(&near), names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_answered_and_a_stranger_is_not() {
        let statuses = ["todo", "in_progress", "blocked", "done", "cancelled"];
        assert_eq!(closest("donee", statuses), vec!["done"]);
        assert_eq!(closest("In Progres", statuses), vec!["in_progress"]);
        assert_eq!(closest("canceled", statuses), vec!["cancelled"]);
        assert!(closest("shipped", statuses).is_empty());
        // An exact spelling is not a suggestion of itself.
        assert!(closest("done", ["done"]).is_empty());
        // Short names allow one edit only; two neighbours swapped are one edit.
        assert_eq!(closest("tdo", statuses), vec!["todo"]);
        assert_eq!(closest("taks", ["task", "workplan"]), vec!["task"]);
        assert!(closest("xy", ["done"]).is_empty());
    }

    #[test]
    fn equally_near_candidates_are_all_named_up_to_three() {
        let ids = ["WP-1-T01", "WP-1-T02", "WP-1-T03", "WP-1-T04", "WP-2"];
        assert_eq!(
            closest("WP-1-T0", ids),
            vec!["WP-1-T01", "WP-1-T02", "WP-1-T03"]
        );
        assert_eq!(closest("WP-1-T3", ids), vec!["WP-1-T03"]);
        assert_eq!(did_you_mean(&["a"]), "did you mean `a`? ");
        assert_eq!(did_you_mean(&["a", "b"]), "did you mean `a` or `b`? ");
        assert_eq!(
            did_you_mean(&["a", "b", "c"]),
            "did you mean `a`, `b` or `c`? "
        );
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(
            among("dne", "statuses", &["todo", "done"]),
            "did you mean `done`? statuses: todo, done"
        );
        assert_eq!(among("zzz", "kinds", &["story"]), "kinds: story");
    }
}
