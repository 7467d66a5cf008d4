//! Verifying evidence against the repository. Every kind is checked mechanically (a file that
//! exists and is not empty, a heading or an OpenAPI operation parsed out of a contract, a
//! commit HEAD contains, a named test passing in a real report, a sha256 that matches, a CI run
//! whose recorded status is success); a URL is recorded and always shown as unverified. A path
//! that leaves the repository (`..`, absolute, or a symlink pointing out) is an error and is
//! never read.

use std::io::Read;
use std::path::{Path, PathBuf};

use evident_core::evidence::EvidenceSpec;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::git;

/// The outcome of verifying one piece of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Checked, and it holds.
    Verified,
    /// Checked, and it does not hold (missing file, failing test, sha mismatch, ...).
    Failed,
    /// Recorded, but Evident cannot check it (a URL).
    Unverified,
    /// The declaration or what it points at is unusable (bad path, corrupt report, ...).
    Error,
}

/// Resolve a repository-relative path, refusing anything that leaves the repository.
pub fn safe_path(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if rel.trim().is_empty() {
        return Err("the path is empty".into());
    }
    if p.is_absolute() || rel.starts_with('/') || rel.starts_with('\\') {
        return Err(format!(
            "`{rel}` is absolute; evidence paths are relative to the repository root"
        ));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "`{rel}` climbs out with `..`; evidence must stay inside the repository"
        ));
    }
    let full = root.join(p);
    if let Ok(real) = full.canonicalize() {
        let base = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        if !real.starts_with(&base) {
            return Err(format!(
                "`{rel}` is a link to {}, outside the repository; it is not read",
                real.display()
            ));
        }
    }
    Ok(full)
}

/// A cheap fingerprint of what verifying `spec` would read: each path's size and mtime, and
/// HEAD for code evidence. Same fingerprint, same verdict.
pub fn fingerprint(root: &Path, spec: &EvidenceSpec, head: Option<&str>) -> String {
    let mut f = serde_json::to_string(spec).unwrap_or_default();
    for p in spec.paths() {
        match safe_path(root, p)
            .ok()
            .and_then(|full| std::fs::metadata(full).ok())
        {
            Some(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                f.push_str(&format!("|{p}:{}:{mtime}", m.len()));
            }
            None => f.push_str(&format!("|{p}:absent")),
        }
    }
    if spec.kind == "code" {
        f.push_str(&format!("|head:{}", head.unwrap_or("none")));
    }
    f
}

fn read_text(root: &Path, rel: &str) -> Result<String, (Verdict, String)> {
    let full = safe_path(root, rel).map_err(|e| (Verdict::Error, e))?;
    match std::fs::read(&full) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| (Verdict::Error, format!("{rel} is not UTF-8 text"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err((Verdict::Failed, format!("{rel} does not exist")))
        }
        Err(e) => Err((Verdict::Error, format!("cannot read {rel}: {e}"))),
    }
}

/// Verify one declaration.
pub fn verify(root: &Path, spec: &EvidenceSpec) -> (Verdict, String) {
    if let Err(e) = spec.validate() {
        return (Verdict::Error, e);
    }
    let r = match spec.kind.as_str() {
        "doc" => verify_doc(root, spec.path.as_deref().unwrap_or_default()),
        "contract" => verify_contract(root, spec),
        "code" => verify_code(root, spec),
        "test" => verify_test(
            root,
            spec.report.as_deref().unwrap_or_default(),
            spec.test.as_deref().unwrap_or_default(),
        ),
        "artifact" => verify_artifact(
            root,
            spec.path.as_deref().unwrap_or_default(),
            spec.sha256.as_deref().unwrap_or_default(),
        ),
        "ci" => {
            let status = spec.status.as_deref().unwrap_or_default();
            let run = format!(
                "{} run {}",
                spec.provider.as_deref().unwrap_or_default(),
                spec.run_id.as_deref().unwrap_or_default()
            );
            if status.eq_ignore_ascii_case("success") {
                Ok(format!("{run} recorded as success"))
            } else {
                Err((
                    Verdict::Failed,
                    format!("{run} recorded as {status}, not success"),
                ))
            }
        }
        "url" => Err((
            Verdict::Unverified,
            format!(
                "{} is recorded; Evident does not fetch URLs",
                spec.url.as_deref().unwrap_or_default()
            ),
        )),
        other => Err((Verdict::Error, format!("unknown evidence kind `{other}`"))),
    };
    match r {
        Ok(d) => (Verdict::Verified, d),
        Err((v, d)) => (v, d),
    }
}

type Check = Result<String, (Verdict, String)>;

fn verify_doc(root: &Path, rel: &str) -> Check {
    let text = read_text(root, rel)?;
    if text.trim().is_empty() {
        return Err((Verdict::Failed, format!("{rel} is empty")));
    }
    Ok(format!("{rel} exists ({} bytes)", text.len()))
}

fn verify_contract(root: &Path, spec: &EvidenceSpec) -> Check {
    let rel = spec.path.as_deref().unwrap_or_default();
    let text = read_text(root, rel)?;
    if let Some(h) = &spec.heading {
        let want = h.trim().trim_start_matches('#').trim();
        let found = text.lines().any(|l| {
            let t = l.trim_start();
            t.starts_with('#') && t.trim_start_matches('#').trim().eq_ignore_ascii_case(want)
        });
        return if found {
            Ok(format!("{rel} has the heading `{want}`"))
        } else {
            Err((Verdict::Failed, format!("{rel} has no heading `{want}`")))
        };
    }
    let api = spec.api_path.as_deref().unwrap_or_default();
    let method = spec
        .method
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        (
            Verdict::Error,
            format!("{rel} is not valid OpenAPI YAML/JSON: {e}"),
        )
    })?;
    let paths = doc.get("paths").ok_or_else(|| {
        (
            Verdict::Error,
            format!("{rel} has no `paths`: not an OpenAPI document"),
        )
    })?;
    match paths.get(api) {
        None => Err((Verdict::Failed, format!("{rel} has no path `{api}`"))),
        Some(ops) if ops.get(method.as_str()).is_some() => {
            Ok(format!("{rel} defines {} {api}", method.to_uppercase()))
        }
        Some(_) => Err((
            Verdict::Failed,
            format!(
                "{rel} has `{api}` but no {} operation on it",
                method.to_uppercase()
            ),
        )),
    }
}

fn verify_code(root: &Path, spec: &EvidenceSpec) -> Check {
    if let Some(c) = &spec.commit {
        return git::commit_reachable(root, c.trim())
            .map(|_| format!("commit {c} is in HEAD's history"))
            .map_err(|e| (Verdict::Failed, e));
    }
    let rel = spec.path.as_deref().unwrap_or_default();
    safe_path(root, rel).map_err(|e| (Verdict::Error, e))?;
    if git::path_at_head(root, rel) {
        Ok(format!("{rel} is present at HEAD"))
    } else {
        Err((Verdict::Failed, format!("{rel} is not present at HEAD")))
    }
}

fn verify_artifact(root: &Path, rel: &str, want: &str) -> Check {
    let full = safe_path(root, rel).map_err(|e| (Verdict::Error, e))?;
    let mut f = std::fs::File::open(&full).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            (Verdict::Failed, format!("{rel} does not exist"))
        } else {
            (Verdict::Error, format!("cannot read {rel}: {e}"))
        }
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| (Verdict::Error, format!("cannot read {rel}: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got.eq_ignore_ascii_case(want.trim()) {
        Ok(format!("{rel} has sha256 {got}"))
    } else {
        Err((
            Verdict::Failed,
            format!("{rel} has sha256 {got}, expected {want}"),
        ))
    }
}

/// How one test came out in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestOutcome {
    Passed,
    Failed,
    Skipped,
}

fn name_matches(found: &str, want: &str) -> bool {
    found == want
        || found.rsplit_once('$').is_some_and(|(_, t)| t == want)
        || found.ends_with(&format!("::{want}"))
        || found.ends_with(&format!(".{want}"))
}

fn verify_test(root: &Path, report: &str, test: &str) -> Check {
    let text = read_text(root, report)?;
    let trimmed = text.trim_start();
    let (format, outcome) = if trimmed.starts_with('<') {
        (
            "JUnit XML",
            junit(&text, test).map_err(|e| (Verdict::Error, format!("{report}: {e}")))?,
        )
    } else if trimmed.starts_with('{') {
        (
            "libtest JSON",
            libtest_json(&text, test).map_err(|e| (Verdict::Error, format!("{report}: {e}")))?,
        )
    } else if trimmed.starts_with("TAP version")
        || trimmed.starts_with("1..")
        || trimmed.starts_with("ok ")
        || trimmed.starts_with("not ok ")
    {
        ("TAP", tap(&text, test))
    } else {
        return Err((
            Verdict::Error,
            format!("{report} is not a JUnit XML, TAP or libtest/nextest JSON report"),
        ));
    };
    match outcome {
        Some(TestOutcome::Passed) => Ok(format!("`{test}` passed in {report} ({format})")),
        Some(TestOutcome::Failed) => Err((Verdict::Failed, format!("`{test}` failed in {report}"))),
        Some(TestOutcome::Skipped) => {
            Err((Verdict::Failed, format!("`{test}` was skipped in {report}")))
        }
        None => Err((Verdict::Failed, format!("`{test}` is not in {report}"))),
    }
}

/// Find a test case in a JUnit XML report (any nesting of `testsuites`/`testsuite`). The whole
/// report is read, so a corrupt one is an error even after the test was found.
fn junit(text: &str, want: &str) -> Result<Option<TestOutcome>, String> {
    use quick_xml::events::{BytesStart, Event};
    let matches = |e: &BytesStart<'_>| -> Result<bool, String> {
        let mut name = String::new();
        let mut class = String::new();
        for a in e.attributes() {
            let a = a.map_err(|e| format!("corrupt XML attribute: {e}"))?;
            let v = a
                .unescape_value()
                .map_err(|e| format!("corrupt XML attribute: {e}"))?
                .to_string();
            match a.key.as_ref() {
                b"name" => name = v,
                b"classname" => class = v,
                _ => {}
            }
        }
        Ok(name_matches(&name, want)
            || (!class.is_empty()
                && (format!("{class}.{name}") == want || format!("{class}::{name}") == want)))
    };
    let mut r = quick_xml::Reader::from_str(text);
    let mut current: Option<(bool, TestOutcome)> = None;
    let mut found: Option<TestOutcome> = None;
    let mut is_junit = false;
    let mut open = 0usize;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("corrupt XML near byte {}: {e}", r.buffer_position()))?;
        match &ev {
            Event::Start(_) => open += 1,
            Event::End(_) => open = open.saturating_sub(1),
            _ => {}
        }
        match ev {
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                is_junit = true;
                current = Some((matches(&e)?, TestOutcome::Passed));
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                is_junit = true;
                if matches(&e)? && found.is_none() {
                    found = Some(TestOutcome::Passed);
                }
            }
            Event::Start(e) | Event::Empty(e) => {
                let n = e.name();
                if n.as_ref() == b"testsuite" || n.as_ref() == b"testsuites" {
                    is_junit = true;
                }
                if let Some((_, o)) = current.as_mut() {
                    match n.as_ref() {
                        b"failure" | b"error" => *o = TestOutcome::Failed,
                        b"skipped" => *o = TestOutcome::Skipped,
                        _ => {}
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some((true, o)) = current.take() {
                    if found.is_none() {
                        found = Some(o);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if open > 0 {
        return Err("corrupt XML: the report ends before its elements close (truncated?)".into());
    }
    if !is_junit {
        return Err("no <testsuite> or <testcase> elements: not a JUnit report".into());
    }
    Ok(found)
}

/// Find a test in libtest / nextest JSON lines (`{"type":"test","event":"ok","name":...}`).
fn libtest_json(text: &str, want: &str) -> Result<Option<TestOutcome>, String> {
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not JSON ({e})", n + 1))?;
        if v["type"] != "test" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default();
        if !name_matches(name, want) {
            continue;
        }
        match v["event"].as_str() {
            Some("ok") => found = Some(TestOutcome::Passed),
            Some("failed") | Some("timeout") => found = Some(TestOutcome::Failed),
            Some("ignored") => found = Some(TestOutcome::Skipped),
            _ => {}
        }
    }
    Ok(found)
}

/// Find a test in a TAP stream (`ok 3 - name`, `not ok 4 - name # SKIP`).
fn tap(text: &str, want: &str) -> Option<TestOutcome> {
    let mut found = None;
    for line in text.lines() {
        let t = line.trim_start();
        let (ok, rest) = if let Some(r) = t.strip_prefix("not ok") {
            (false, r)
        } else if let Some(r) = t.strip_prefix("ok") {
            (true, r)
        } else {
            continue;
        };
        let rest = rest
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let rest = rest.strip_prefix("- ").unwrap_or(rest);
        let (name, directive) = match rest.split_once(" # ") {
            Some((n, d)) => (n.trim(), d.trim().to_ascii_uppercase()),
            None => (rest.trim(), String::new()),
        };
        if !name_matches(name, want) {
            continue;
        }
        found = Some(if directive.starts_with("SKIP") {
            TestOutcome::Skipped
        } else if ok {
            TestOutcome::Passed
        } else {
            TestOutcome::Failed
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_in_three_formats() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="s"><testcase classname="pay" name="charges_once"/><testcase classname="pay" name="refunds"><failure message="boom"/></testcase><testcase name="later"><skipped/></testcase></testsuite></testsuites>"#;
        assert_eq!(
            junit(xml, "charges_once").unwrap(),
            Some(TestOutcome::Passed)
        );
        assert_eq!(
            junit(xml, "pay.charges_once").unwrap(),
            Some(TestOutcome::Passed)
        );
        assert_eq!(junit(xml, "refunds").unwrap(), Some(TestOutcome::Failed));
        assert_eq!(junit(xml, "later").unwrap(), Some(TestOutcome::Skipped));
        assert_eq!(junit(xml, "nope").unwrap(), None);
        assert!(junit("<testsuite><testcase name=\"a\"></testsuite>", "zzz").is_err());
        assert!(junit("<html><body/></html>", "a").is_err());
        assert!(junit("<testsuite><testcase name=\"zzz\"/>", "zzz").is_err());
        let json = "{\"type\":\"suite\",\"event\":\"started\"}\n{\"type\":\"test\",\"event\":\"ok\",\"name\":\"pay::tests::charges_once\"}\n{\"type\":\"test\",\"event\":\"failed\",\"name\":\"bin$pay::refunds\"}\n";
        assert_eq!(
            libtest_json(json, "charges_once").unwrap(),
            Some(TestOutcome::Passed)
        );
        assert_eq!(
            libtest_json(json, "pay::refunds").unwrap(),
            Some(TestOutcome::Failed)
        );
        assert!(libtest_json("{\"type\":", "a").is_err());
        let t = "TAP version 13\n1..3\nok 1 - charges once\nnot ok 2 - refunds\nok 3 - later # SKIP not yet\n";
        assert_eq!(tap(t, "charges once"), Some(TestOutcome::Passed));
        assert_eq!(tap(t, "refunds"), Some(TestOutcome::Failed));
        assert_eq!(tap(t, "later"), Some(TestOutcome::Skipped));
    }

    #[test]
    fn paths_never_leave_the_repository() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert!(safe_path(root, "../x").unwrap_err().contains(".."));
        assert!(safe_path(root, "/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(safe_path(root, "a/../../x").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
            assert!(safe_path(root, "out/hostname")
                .unwrap_err()
                .contains("outside"));
        }
        std::fs::write(root.join("ok.md"), "x").unwrap();
        assert!(safe_path(root, "ok.md").is_ok());
    }
}
