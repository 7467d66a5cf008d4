//! Just enough Markdown structure for Evident: lines with byte offsets, fenced code blocks
//! (so a ```` ```task ```` inside another fence is not a task, and a `##` inside a fence is not a
//! section), and ATX headings.

/// One line of the text: `start..end` excludes the line terminator; `next` is where the next
/// line starts.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

pub fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::with_capacity(text.len() / 32 + 1);
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let nl = memchr(b'\n', &bytes[start..]).map(|i| start + i);
        let (end, next) = match nl {
            Some(i) => (
                if i > start && bytes[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                },
                i + 1,
            ),
            None => (bytes.len(), bytes.len()),
        };
        out.push(Line { start, end, next });
        start = next;
    }
    out
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// A fenced code block.
#[derive(Debug, Clone)]
pub struct Fence {
    /// Index of the opening line.
    pub open: usize,
    /// Index of the closing line (or `lines.len()` when unterminated).
    pub close: usize,
    /// First word of the info string (`task`).
    pub info: String,
}

fn leading_spaces(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b' ').count()
}

/// Parse a fence opener: returns (indent, fence char, fence length, info word).
fn fence_open(line: &str) -> Option<(usize, u8, usize, String)> {
    let indent = leading_spaces(line);
    let rest = &line[indent..];
    let ch = *rest.as_bytes().first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|&b| b == ch).count();
    if len < 3 {
        return None;
    }
    let info = rest[len..].trim();
    if ch == b'`' && info.contains('`') {
        return None;
    }
    let word = info.split_whitespace().next().unwrap_or("").to_string();
    Some((indent, ch, len, word))
}

fn fence_closes(line: &str, ch: u8, len: usize) -> bool {
    let rest = line.trim_start_matches(' ');
    let n = rest.bytes().take_while(|&b| b == ch).count();
    n >= len && rest[n..].trim().is_empty()
}

/// All fenced blocks among `lines[from..]`.
pub fn fences(text: &str, lines: &[Line], from: usize) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut i = from;
    while i < lines.len() {
        let l = &text[lines[i].start..lines[i].end];
        if let Some((_indent, ch, len, info)) = fence_open(l) {
            let mut j = i + 1;
            while j < lines.len() && !fence_closes(&text[lines[j].start..lines[j].end], ch, len) {
                j += 1;
            }
            out.push(Fence {
                open: i,
                close: j,
                info,
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// An ATX heading: level and text.
pub fn heading(line: &str) -> Option<(usize, &str)> {
    let indent = leading_spaces(line);
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.bytes().take_while(|&b| b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !after.starts_with(' ') && !after.starts_with('\t') {
        return None;
    }
    let t = after.trim();
    let t = t.trim_end_matches('#').trim_end();
    Some((level, t))
}

/// Per line: is it inside (or the delimiter of) a fenced block?
pub fn fenced_mask(lines_len: usize, fences: &[Fence]) -> Vec<bool> {
    let mut mask = vec![false; lines_len];
    for f in fences {
        let end = f.close.min(lines_len.saturating_sub(1));
        for m in mask.iter_mut().take(end + 1).skip(f.open) {
            *m = true;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_offsets_with_crlf() {
        let t = "a\r\nbb\nc";
        let ls = lines(t);
        assert_eq!(ls.len(), 3);
        assert_eq!(&t[ls[0].start..ls[0].end], "a");
        assert_eq!(ls[0].next, 3);
        assert_eq!(&t[ls[2].start..ls[2].end], "c");
    }

    #[test]
    fn nested_fences_hide_inner_task() {
        let t = "````md\n```task\nid: X\n```\n````\n  ```task\n  id: Y\n  ```\n";
        let ls = lines(t);
        let f = fences(t, &ls, 0);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].info, "md");
        assert_eq!(f[1].info, "task");
    }

    #[test]
    fn headings() {
        assert_eq!(heading("## Tasks"), Some((2, "Tasks")));
        assert_eq!(heading("### T01 — x ##"), Some((3, "T01 — x")));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("    ## code"), None);
    }
}
