//! A new store published before its file is on the disk, made durable by the first process that
//! writes to it.
//!
//! Why. A first index builds a new store under a private name and publishes it by linking it
//! into place. Until a process writes to it, such a store holds only what the documents say (the
//! items, their sources and statuses, and the journal's creation events, all derived from the
//! files): losing it loses nothing a new first index would not rebuild. What must never happen
//! is a process using a store whose pages did not reach the disk before a crash. Flushing the
//! file before linking it (`fdatasync`, then the folder's `fsync`) guaranteed that, at a cost of
//! ~7% of a first index of 1k items (docs/performance.md), paid even when the kernel would have
//! written the file back on its own seconds later.
//!
//! How. The new file carries an extended attribute, [`ATTRIBUTE`], naming the boot of the
//! machine that built it (Linux's `boot_id`, new at every start), set before the file is linked
//! in, so that the name and its mark reach the disk together (one inode). A process that opens a
//! store reads the mark (one `getxattr`; a store without it costs nothing more):
//!
//! - this boot: the file's pages are in the kernel's page cache, whatever reached the disk, so
//!   reading it is safe. The first process to write to it flushes it (`fdatasync`), removes the
//!   mark, and syncs the file and its folder before its own write: nothing but derived rows is
//!   ever at risk. A reader does the same once the store is 30 s old ([`settled`]), when the
//!   flush costs little, so that a store only read is not set aside after the next start.
//! - another boot (or a mark that cannot be read): the machine stopped before the store was
//!   flushed, and its file may hold pages that never reached the disk. It is set aside, renamed
//!   `<name>.unflushed-<pid>-<n>` and never deleted, and the process goes on as if no store
//!   existed (the next `index` rebuilds it from the documents).
//!
//! The writes themselves are not put off: while the store loads, and when it is published, they
//! are started ([`start_writeback`]) and left to finish after the process ends, so that the first
//! writer's `fdatasync` usually finds them done and costs what a write always did.
//!
//! Where the file system has no extended attributes, or the machine no boot id (not Linux), the
//! store is flushed before it is published, as before.

use std::path::{Path, PathBuf};

/// The extended attribute that marks a store published before it was flushed; its value is the
/// boot id of the machine that published it.
pub(crate) const ATTRIBUTE: &str = "user.evident.unflushed";

/// Where Linux gives the id of the current boot (a UUID, new at every start).
#[cfg(target_os = "linux")]
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The id of the current boot, or none where the system has none to give.
fn boot_id() -> Option<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        let id = std::fs::read(BOOT_ID).ok()?;
        let id = id.trim_ascii().to_vec();
        (!id.is_empty()).then_some(id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `fdatasync` and `fsync` calls this process's SQLite stores made (see [`syncs_made`]).
static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count one `fdatasync` or `fsync` call (see [`syncs_made`]).
pub(crate) fn note_sync() {
    SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many `fdatasync` and `fsync` calls this process's SQLite stores made to publish or flush
/// new stores, for tests: deterministic, unlike the time they take.
pub fn syncs_made() -> u64 {
    SYNCS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Start writing `file`'s dirty pages to the disk without waiting for them to get there, nor
/// for the device to flush its cache (Linux's `sync_file_range` with `SYNC_FILE_RANGE_WRITE`):
/// what an unflushed store does instead of `fdatasync` while it loads and when it is published,
/// so that the writes go on after the process ends, and its first writer's `fdatasync` finds
/// them done (a first index of 10k items followed at once by a write: that write took ~9 ms
/// with nothing started, docs/performance.md). Elsewhere, nothing.
#[allow(unsafe_code)]
pub(crate) fn start_writeback(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; offset 0 and length 0 mean the
        // whole file.
        let rc =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// Mark the new store at `path` as published unflushed by this boot. False when it cannot be
/// marked (no boot id, no extended attributes there): the store must then be flushed before it
/// is published.
pub(crate) fn mark(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(id) = boot_id() else {
            return false;
        };
        rustix::fs::setxattr(path, ATTRIBUTE, &id, rustix::fs::XattrFlags::empty()).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

/// What a store's file says about its flushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A store without the mark: flushed (or from a release, or a file system, that never marks).
    None,
    /// No file at the path.
    NoStore,
    /// Nothing known, not even whether there is a file (not Linux, or the path unreadable).
    Unknown,
    /// Published unflushed during this boot: safe to read, flushed by its first writer.
    ThisBoot,
    /// Published unflushed before the machine last started: may be torn; not to be opened.
    EarlierBoot,
}

/// How long after its last write a store published unflushed is left to its first writer to
/// flush; past that, a reader flushes it too (see [`settled`]). The kernel writes dirty pages
/// back within 30 s by default (`vm.dirty_expire_centisecs`), and a store starts its own writes
/// when it is published, so by then a flush only waits for the device's cache.
const READERS_FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether the store at `path`, marked by this boot, is old enough for a reader to flush it
/// (see [`READERS_FLUSH_AFTER`]): so that a store nobody writes to does not stay marked, and
/// set aside after the machine's next start, for longer than that.
pub(crate) fn settled(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > READERS_FLUSH_AFTER)
}

/// Read the mark of the store at `path` (one `getxattr` when there is none; it also tells
/// whether there is a file, so that opening a store costs no `stat` more than it did).
pub(crate) fn read(path: &Path) -> Mark {
    #[cfg(target_os = "linux")]
    {
        let mut buf = [0u8; 64];
        match rustix::fs::getxattr(path, ATTRIBUTE, &mut buf[..]) {
            Ok(n) => {
                let value = buf.get(..n).unwrap_or_default();
                match boot_id() {
                    Some(id) if id == value => Mark::ThisBoot,
                    _ => Mark::EarlierBoot,
                }
            }
            // Longer than any boot id: not ours to trust.
            Err(rustix::io::Errno::RANGE) => Mark::EarlierBoot,
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => Mark::None,
            Err(rustix::io::Errno::NOENT) => Mark::NoStore,
            Err(_) => Mark::Unknown,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Mark::Unknown
    }
}

/// Make the marked store at `path` durable and remove its mark: its pages first, then the mark's
/// removal (the file's own metadata), then the folder that names it. A caller writes to the
/// store only once this returns: until then only derived rows are in it. Idempotent (another
/// process may have cleared it meanwhile).
///
/// The descriptor it opens stays open until the process ends (see [`KEPT_OPEN`]).
pub(crate) fn clear(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    note_sync();
    file.sync_data()?;
    #[cfg(target_os = "linux")]
    match rustix::fs::fremovexattr(&file, ATTRIBUTE) {
        Ok(()) | Err(rustix::io::Errno::NODATA) => {}
        Err(e) => return Err(e.into()),
    }
    note_sync();
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Best effort, as when publishing: not every platform can sync a folder.
        note_sync();
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    KEPT_OPEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(file);
    Ok(())
}

/// The descriptors [`clear`] opened on stores, never closed before the process ends: closing a
/// descriptor of a file drops every POSIX lock the process holds on that file, SQLite's
/// included (SQLite's documentation, "How To Corrupt An SQLite Database File", 2.2), so another
/// process could then write past a connection's locks. Any connection of this process, of any
/// store object, may have the file open at any time (SQLite itself defers closing its own
/// descriptors for the same reason). At most one per store whose mark a process cleared.
static KEPT_OPEN: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

/// Stores this process set aside (see [`set_aside`]), for the CLI to tell the user.
static SET_ASIDE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The stores this process found published unflushed before the machine last started, and set
/// aside (never deleted): where each now is.
pub fn stores_set_aside() -> Vec<PathBuf> {
    SET_ASIDE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Move the store at `path`, marked by an earlier boot, out of the way (with its WAL files), so
/// that the caller goes on as if there were none. The store is claimed by renaming it first and
/// its mark read again there: when two processes race, or a new store took the name meanwhile,
/// a store that is not an earlier boot's goes back where it was (if the name is still free).
/// Returns where the store went, or none if another process moved it first.
pub(crate) fn set_aside(path: &Path) -> std::io::Result<Option<PathBuf>> {
    let aside = crate::sqlite::unique_sibling(path, "unflushed");
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    if read(&aside) != Mark::EarlierBoot {
        // Not the store this process found: put it back unless a new one is there already.
        if std::fs::hard_link(&aside, path).is_ok() {
            let _ = std::fs::remove_file(&aside);
            return Ok(None);
        }
    }
    for suffix in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        let _ = std::fs::rename(from, to);
    }
    SET_ASIDE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(aside.clone());
    Ok(Some(aside))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Give `path` the mark another boot would have left.
    pub(crate) fn mark_as_earlier_boot(path: &Path) -> bool {
        rustix::fs::setxattr(
            path,
            ATTRIBUTE,
            b"00000000-0000-0000-0000-000000000000",
            rustix::fs::XattrFlags::empty(),
        )
        .is_ok()
    }

    #[test]
    fn a_mark_reads_back_as_this_boots_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, b"x").unwrap();
        assert_eq!(read(&p), Mark::None);
        if !mark(&p) {
            eprintln!("no extended attributes here: nothing to check");
            return;
        }
        assert_eq!(read(&p), Mark::ThisBoot);
        clear(&p).unwrap();
        assert_eq!(read(&p), Mark::None);
        // Clearing twice is harmless (two processes may race to it).
        clear(&p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    /// Descriptors of this process open on `p` (Linux's `/proc/self/fd`).
    fn open_on(p: &Path) -> usize {
        let p = p.canonicalize().unwrap();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| *t == p)
            .count()
    }

    #[test]
    fn clearing_leaves_its_descriptor_open_for_the_life_of_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, b"x").unwrap();
        if !mark(&p) {
            eprintln!("no extended attributes here: nothing to check");
            return;
        }
        assert_eq!(open_on(&p), 0);
        // Closing it would drop the POSIX locks of every SQLite connection of this process on
        // the file (see `KEPT_OPEN`).
        clear(&p).unwrap();
        assert_eq!(open_on(&p), 1);
    }

    #[test]
    fn an_earlier_boots_store_is_set_aside_with_its_wal_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, b"pages").unwrap();
        std::fs::write(dir.path().join("s.db-wal"), b"").unwrap();
        if !mark_as_earlier_boot(&p) {
            eprintln!("no extended attributes here: nothing to check");
            return;
        }
        assert_eq!(read(&p), Mark::EarlierBoot);
        let aside = set_aside(&p).unwrap().expect("set aside");
        assert!(!p.exists());
        assert!(!dir.path().join("s.db-wal").exists());
        assert_eq!(std::fs::read(&aside).unwrap(), b"pages");
        let mut wal = aside.as_os_str().to_owned();
        wal.push("-wal");
        assert!(Path::new(&wal).exists());
        assert!(stores_set_aside().contains(&aside));
        // Gone already: nothing to do.
        assert_eq!(set_aside(&p).unwrap(), None);
    }

    #[test]
    fn a_store_that_is_not_an_earlier_boots_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, b"good").unwrap();
        // Unmarked (another process cleared it, or a new store took the name): put back.
        assert_eq!(set_aside(&p).unwrap(), None);
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing left beside the store");
    }
}
