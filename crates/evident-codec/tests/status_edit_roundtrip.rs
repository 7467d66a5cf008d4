//! Property test for invariant I5: over generated documents in every format and style, parse →
//! set one item's status → re-parse yields the same everything else, and the bytes that changed
//! are exactly the status value's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_codec::{apply_status_edit, parse_document, render_status_value, StatusSpan};
use evident_core::config::{preset, Config};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Doc {
    text: String,
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9 _-]{0,12}".prop_map(|s| s.trim_end().to_string()),
        "[a-zA-Z0-9 ]{0,10}".prop_map(|s| format!("\"{}\"", s)),
        "[a-z ]{0,8}".prop_map(|s| format!("'{s}'")),
        Just("🟢 Low".to_string()),
        Just("\"naïve — ünïcode ✓\"".to_string()),
        Just("2026-03-21".to_string()),
        Just("[a, b, \"c d\"]".to_string()),
        Just("{x: 1, y: [2]}".to_string()),
        Just("42".to_string()),
    ]
    .prop_map(|s| if s.is_empty() { "x".to_string() } else { s })
}

fn extra_field(i: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        scalar().prop_map(move |v| format!("field_{i}: {v}")),
        scalar().prop_map(move |v| format!("field_{i}: {v}  # a comment")),
        Just(format!("block_{i}: |\n  status: not-this\n  second line")),
        Just(format!("folded_{i}: >\n  folded text\n  more")),
        Just(format!("list_{i}:\n  - one\n  - status: nested")),
        Just(format!("nested_{i}:\n  status: inner\n  k: v")),
    ]
}

fn status_line() -> impl Strategy<Value = Option<String>> {
    let statuses = prop_oneof![
        Just("todo"),
        Just("in_progress"),
        Just("In Progress"),
        Just("in-progress"),
        Just("done"),
        Just("Blocked"),
        Just("CANCELLED")
    ];
    (statuses, 0..4u8, any::<bool>(), 0..6u8).prop_map(|(s, q, comment, missing)| {
        if missing == 0 {
            return None;
        }
        let v = match q {
            0 => format!("\"{s}\""),
            1 => format!("'{s}'"),
            _ => s.to_string(),
        };
        Some(if comment {
            format!("status: {v} # was {s}")
        } else {
            format!("status: {v}")
        })
    })
}

fn body_chunk() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z ,.é✓]{0,40}".prop_map(|s| format!("{s}\n")),
        "[A-Za-z ]{1,12}".prop_map(|s| format!("## {s}\n")),
        Just("```rust\nstatus: in-code\nlet x = 1;\n```\n".to_string()),
        Just("````md\n```task\nid: FAKE-1\nstatus: todo\n```\n````\n".to_string()),
        Just("- [ ] a checkbox\n- [x] done one\n".to_string()),
        Just("| a | b |\n|---|---|\n| 1 | 2 |\n".to_string()),
    ]
}

fn task_block(n: usize) -> impl Strategy<Value = String> {
    (
        status_line(),
        0..3usize,
        proptest::collection::vec(extra_field(n), 0..3),
        body_chunk(),
    )
        .prop_map(move |(status, indent, extras, body)| {
            let pad = " ".repeat(indent * 2);
            let mut fields = vec![format!("id: WP-T{n:02}")];
            if let Some(s) = status {
                fields.push(s);
            }
            fields.extend(
                extras
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| f.replacen("_0", &format!("_{i}"), 1)),
            );
            let inner: Vec<String> = fields
                .join("\n")
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect();
            format!(
                "### T{n:02} — Task {n}\n\n{pad}```task\n{}\n{pad}```\n\n{body}\n",
                inner.join("\n")
            )
        })
}

fn document() -> impl Strategy<Value = Doc> {
    (
        any::<bool>(),
        status_line(),
        proptest::collection::vec(extra_field(0), 0..4),
        proptest::collection::vec(body_chunk(), 0..5),
        0..4usize,
        any::<bool>(),
    )
        .prop_flat_map(|(workplan, status, extras, body, ntasks, crlf)| {
            let tasks =
                proptest::collection::vec(task_block(0), 0..=if workplan { ntasks } else { 0 });
            (Just((workplan, status, extras, body, crlf)), tasks)
        })
        .prop_map(|((workplan, status, extras, body, crlf), tasks)| {
            let mut fm = vec![
                "id: DOC-1".to_string(),
                format!("kind: {}", if workplan { "workplan" } else { "task" }),
            ];
            if let Some(s) = status {
                fm.push(s);
            }
            fm.extend(
                extras
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| f.replacen("_0", &format!("_{i}"), 1)),
            );
            let mut text = format!(
                "---\n{}\n---\n\n# Title\n\n{}",
                fm.join("\n"),
                body.concat()
            );
            for (i, t) in tasks.iter().enumerate() {
                text.push_str(
                    &t.replace("WP-T00", &format!("WP-T{i:02}"))
                        .replace("T00", &format!("T{i:02}")),
                );
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            Doc { text }
        })
}

fn config() -> Config {
    Config::from_toml(preset("workplan").unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn status_edit_changes_only_the_value(doc in document(), pick in any::<prop::sample::Index>(), target in 0..5usize) {
        let cfg = config();
        let parsed = parse_document("plan.md", &doc.text, &cfg);
        prop_assert!(parsed.diagnostics.is_empty(), "{:?}\n{}", parsed.diagnostics, doc.text);
        prop_assume!(!parsed.items.is_empty());
        let victim = pick.index(parsed.items.len());
        let wf = &cfg.workflows["default"];
        let to = &wf.statuses[target];
        let edit = match render_status_value(&doc.text, &parsed.items[victim].status_span, &to.key, &to.name) {
            Ok(e) => e,
            Err(_) => return Ok(()), // block scalars etc. are refused, never mangled
        };
        let new_text = apply_status_edit(&doc.text, &edit);

        // Byte diff: everything outside the span is identical.
        prop_assert_eq!(&new_text[..edit.start], &doc.text[..edit.start]);
        prop_assert_eq!(&new_text[edit.start + edit.replacement.len()..], &doc.text[edit.end..]);
        if let StatusSpan::Value { .. } = parsed.items[victim].status_span {
            prop_assert!(!edit.replacement.contains('\n'));
        }

        // Re-parse: the victim's status moved, everything else is the same.
        let re = parse_document("plan.md", &new_text, &cfg);
        prop_assert!(re.diagnostics.is_empty(), "{:?}\n{}", re.diagnostics, new_text);
        prop_assert_eq!(re.items.len(), parsed.items.len());
        // Inserting a missing `status:` line shifts the lines after it.
        let shift = edit.replacement.matches('\n').count() as u32;
        let at_line = doc.text[..edit.start].matches('\n').count() as u32 + 1;
        let moved = |l: u32| if l >= at_line { l + shift } else { l };
        for (i, (a, b)) in parsed.items.iter().zip(re.items.iter()).enumerate() {
            let (a, b) = (&a.item, &b.item);
            prop_assert_eq!(&a.id, &b.id);
            prop_assert_eq!(&a.title, &b.title);
            prop_assert_eq!(&a.parent, &b.parent);
            let shifted: Vec<_> = a.sections.iter().cloned().map(|mut s| { s.line = moved(s.line); s }).collect();
            prop_assert_eq!(&shifted, &b.sections);
            prop_assert_eq!(moved(a.line), b.line);
            let mut fa = a.fields.clone();
            let mut fb = b.fields.clone();
            fa.remove("status");
            fb.remove("status");
            prop_assert_eq!(fa, fb);
            if i == victim {
                prop_assert_eq!(wf.status(&b.status).map(|s| s.key.clone()), Some(to.key.clone()));
            } else {
                prop_assert_eq!(&a.status, &b.status);
            }
        }
    }
}
