//! A file kept as the runs of its bytes that are not zero, and written back from them.
//!
//! Why it exists: a new SQLite store starts as the file SQLite leaves once the baseline schema
//! script has run, and writing that file is far cheaper than running the script (~1.3 ms of
//! statements on every first index, competing for the cores with the walk and the first
//! documents' parsing). The file is ~0.5 MB of mostly empty 16 KiB pages, so it is kept (in the
//! repository and the binary) as its non-zero runs: a few kilobytes. A test rebuilds the file
//! from the script and fails when the kept image differs (see `sqlite.rs`).
//!
//! Layout: the magic `EVIMG1`, the file's length (u64, little-endian), then each run as its
//! offset (u64), its length (u32) and its bytes, in increasing order of offset.

use std::path::Path;

const MAGIC: &[u8; 6] = b"EVIMG1";

/// Zero bytes between two runs below which they are kept as one (a run costs 12 bytes of
/// header, and one write when the file is made).
#[cfg(test)]
const JOIN_GAP: usize = 64;

/// The image of `bytes`.
#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = end;
        while j < bytes.len() && j - end < JOIN_GAP {
            if bytes[j] != 0 {
                end = j + 1;
            }
            j += 1;
        }
        out.extend_from_slice(&(start as u64).to_le_bytes());
        out.extend_from_slice(&((end - start) as u32).to_le_bytes());
        out.extend_from_slice(&bytes[start..end]);
        i = end;
    }
    out
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("bad file image: {what}"),
    )
}

/// A run of bytes and where it goes in the file.
struct Run<'a> {
    at: u64,
    bytes: &'a [u8],
}

/// The next `n` bytes of `rest`, taken off it.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> std::io::Result<&'a [u8]> {
    if rest.len() < n {
        return Err(invalid("truncated"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u64(rest: &mut &[u8]) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    b.copy_from_slice(take(rest, 8)?);
    Ok(u64::from_le_bytes(b))
}

fn take_u32(rest: &mut &[u8]) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    b.copy_from_slice(take(rest, 4)?);
    Ok(u32::from_le_bytes(b))
}

/// The file's length and its runs, checked: every run lies inside the file, after the one
/// before it.
fn runs(image: &[u8]) -> std::io::Result<(u64, Vec<Run<'_>>)> {
    let mut rest = image
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("no magic"))?;
    let total = take_u64(&mut rest)?;
    let mut out = Vec::new();
    let mut floor = 0u64;
    while !rest.is_empty() {
        let at = take_u64(&mut rest)?;
        let n = take_u32(&mut rest)?;
        let bytes = take(&mut rest, n as usize)?;
        floor = at
            .checked_add(u64::from(n))
            .filter(|&end| at >= floor && end <= total)
            .ok_or_else(|| invalid("a run outside the file or out of order"))?;
        out.push(Run { at, bytes });
    }
    Ok((total, out))
}

/// The bytes `image` stands for.
#[cfg(test)]
pub(crate) fn decode(image: &[u8]) -> std::io::Result<Vec<u8>> {
    let (total, runs) = runs(image)?;
    let mut out = vec![0u8; usize::try_from(total).map_err(|_| invalid("too large"))?];
    for r in runs {
        let at = usize::try_from(r.at).map_err(|_| invalid("too large"))?;
        out[at..at + r.bytes.len()].copy_from_slice(r.bytes);
    }
    Ok(out)
}

/// Make the file at `path` (replacing whatever is there) hold the bytes `image` stands for: its
/// length set, then each run written where it goes (the zeros between are left to the file
/// system, as holes).
pub(crate) fn write(path: &Path, image: &[u8]) -> std::io::Result<()> {
    let (total, runs) = runs(image)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.set_len(total)?;
    for r in runs {
        write_at(&file, r.bytes, r.at)?;
    }
    Ok(())
}

#[cfg(unix)]
fn write_at(file: &std::fs::File, bytes: &[u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, off)
}

#[cfg(not(unix))]
fn write_at(mut file: &std::fs::File, bytes: &[u8], off: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(off))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes (runs of zeros and of other bytes, at either end or none) come back as they
        /// were, through the image and through a file written from it.
        #[test]
        fn an_image_gives_back_its_bytes(
            parts in proptest::collection::vec((0usize..200, proptest::collection::vec(any::<u8>(), 0..40)), 0..12)
        ) {
            let mut bytes = Vec::new();
            for (zeros, other) in &parts {
                bytes.extend(std::iter::repeat_n(0u8, *zeros));
                bytes.extend_from_slice(other);
            }
            let image = encode(&bytes);
            prop_assert_eq!(&decode(&image).unwrap(), &bytes);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            std::fs::write(&path, b"something longer that was here before, to be replaced").unwrap();
            write(&path, &image).unwrap();
            prop_assert_eq!(&std::fs::read(&path).unwrap(), &bytes);
        }
    }

    #[test]
    fn a_damaged_image_is_refused_not_written_out_of_bounds() {
        let good = encode(b"\0\0\0abc\0\0\0\0def");
        assert!(runs(&good).is_ok());
        // Truncated anywhere, or with its magic gone.
        for n in [0, 3, 10, 16, good.len() - 1] {
            assert!(runs(&good[..n]).is_err(), "{n}");
        }
        let mut no_magic = good.clone();
        no_magic[0] = b'X';
        assert!(runs(&no_magic).is_err());
        // A run past the file's end.
        let mut past = good.clone();
        past[6..14].copy_from_slice(&4u64.to_le_bytes());
        assert!(runs(&past).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("f"), &past).is_err());
    }
}
