//! Graph checks over the item set: dependency cycles. Iterative, so a 100k-item chain cannot
//! overflow the stack.

use std::collections::HashMap;

/// Find the cycles among `edges` (item → the items it points at). Each cycle is returned once,
/// as the ids on it in path order starting from the smallest id. Edges to unknown ids are
/// ignored (they are dangling references, reported elsewhere).
pub fn cycles(edges: &HashMap<String, Vec<String>>) -> Vec<Vec<String>> {
    cycles_in(
        edges
            .iter()
            .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
            .collect(),
    )
}

/// [`cycles`] over borrowed ids: each node with the ids it points at, in any order. A node
/// listed twice keeps its first list; an id that is not listed is a dead end.
pub fn cycles_in(mut nodes: Vec<(&str, Vec<&str>)>) -> Vec<Vec<String>> {
    nodes.sort_by(|a, b| a.0.cmp(b.0));
    nodes.dedup_by(|b, a| a.0 == b.0);
    let ids: Vec<&str> = nodes.iter().map(|n| n.0).collect();
    let index: rustc_hash::FxHashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(_, to)| {
            let mut v: Vec<usize> = to.iter().filter_map(|d| index.get(d).copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = finished.
    let mut state = vec![0u8; ids.len()];
    let mut found = Vec::new();
    for start in 0..ids.len() {
        if state[start] != 0 {
            continue;
        }
        let mut path: Vec<usize> = vec![start];
        let mut next_edge: Vec<usize> = vec![0];
        state[start] = 1;
        while let Some(&node) = path.last() {
            let depth = path.len() - 1;
            if next_edge[depth] < adj[node].len() {
                let to = adj[node][next_edge[depth]];
                next_edge[depth] += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        path.push(to);
                        next_edge.push(0);
                    }
                    1 => {
                        let pos = path.iter().position(|&n| n == to).unwrap_or(0);
                        let mut cyc: Vec<usize> = path[pos..].to_vec();
                        let min_at = cyc
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map(|(i, _)| i)
                            .unwrap_or(0);
                        cyc.rotate_left(min_at);
                        found.push(cyc.into_iter().map(|n| ids[n].to_string()).collect());
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                path.pop();
                next_edge.pop();
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_cycles_and_ignores_dags() {
        assert!(cycles(&g(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])).is_empty());
        assert_eq!(
            cycles(&g(&[
                ("a", &["b"]),
                ("b", &["c"]),
                ("c", &["a"]),
                ("d", &["a"])
            ])),
            vec![vec!["a".to_string(), "b".into(), "c".into()]]
        );
        assert_eq!(cycles(&g(&[("a", &["a"])])), vec![vec!["a".to_string()]]);
        assert!(cycles(&g(&[("a", &["missing"])])).is_empty());
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let mut e = HashMap::new();
        for i in 0..200_000 {
            e.insert(format!("n{i}"), vec![format!("n{}", i + 1)]);
        }
        e.insert("n200000".to_string(), vec!["n0".to_string()]);
        assert_eq!(cycles(&e).len(), 1);
    }
}
