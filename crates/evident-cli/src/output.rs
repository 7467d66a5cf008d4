//! One place that renders: JSON envelopes (`{"schema_version": 1, "kind": ...}`), aligned
//! tables, colour only on a terminal and never with `NO_COLOR`. A closed pipe ends output
//! quietly (it is success, not an error).

use std::io::{IsTerminal, Write};

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

pub const SCHEMA_VERSION: u32 = 1;

/// Output settings for this run.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub color: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Out { json, color }
    }

    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    /// Colour a status by progress: final green, not started dim, in flight yellow.
    pub fn status(&self, status: &str, rank: Option<i64>, terminal: bool) -> String {
        match (terminal, rank) {
            (true, _) => self.paint("32", status),
            (_, None) => self.paint("31", status),
            (_, Some(0)) => self.dim(status),
            _ => self.paint("33", status),
        }
    }
}

/// Write text to stdout; a closed pipe is not an error.
pub fn print(text: &str) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("evident: cannot write output: {e}");
        }
    }
}

/// The versioned envelope every JSON output is wrapped in.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema_version: u32,
    kind: &'a str,
    #[serde(flatten)]
    payload: &'a T,
}

/// Print a JSON envelope of `kind` around `payload` (an object whose fields are merged in),
/// streamed straight to stdout: pretty on a terminal, compact when piped.
pub fn print_json<T: Serialize>(kind: &str, payload: &T) {
    let env = Envelope {
        schema_version: SCHEMA_VERSION,
        kind,
        payload,
    };
    let stdout = std::io::stdout();
    let pretty = stdout.is_terminal();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = if pretty {
        serde_json::to_writer_pretty(&mut w, &env)
    } else {
        serde_json::to_writer(&mut w, &env)
    };
    let result = result.map_err(std::io::Error::from).and_then(|_| {
        w.write_all(b"\n")?;
        w.flush()
    });
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("evident: cannot write output: {e}");
        }
    }
}

/// An aligned table; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>], out: &Out) -> String {
    let cols = header.len();
    let strip = |s: &str| -> usize { UnicodeWidthStr::width(strip_ansi(s).as_str()) };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(strip(c));
        }
    }
    let mut s = String::new();
    let line = |cells: Vec<String>, s: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            s.push_str(&c);
            if i + 1 < n {
                let pad = widths[i].saturating_sub(strip(&c)) + 2;
                s.push_str(&" ".repeat(pad));
            }
        }
        let trimmed = s.trim_end_matches(' ').len();
        s.truncate(trimmed);
        s.push('\n');
    };
    line(header.iter().map(|h| out.bold(h)).collect(), &mut s);
    for r in rows {
        line(r.clone(), &mut s);
    }
    s
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `n` and the noun, plural unless `n` is 1: `1 document`, `3 documents`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}
