//! The program's memory allocator: the C library's, until a command is about to do heavy
//! multi-threaded work and calls [`switch_to_mimalloc`]; from then on new allocations come from
//! mimalloc.
//!
//! Why two. A large index pass allocates on the parse workers and frees on the store writer;
//! mimalloc handles that cross-thread traffic far better than glibc's `malloc` (a first index of
//! 10k items: ~218 ms with glibc, ~190 ms with mimalloc, alternating runs). But every short
//! command paid for mimalloc too: its per-thread, per-size-class pages are touched fresh as they
//! come into use (~125 more page faults), and a warm no-change index of 1k items took ~4.35 ms
//! with mimalloc against ~3.83 ms with glibc (200 alternating runs each).
//!
//! How a block finds its way back. Every block is freed (and resized) by the allocator that
//! handed it out: mimalloc knows the address ranges it reserved ([`mi_is_in_heap_region`],
//! a range check, asked only once mimalloc is on). Blocks from before the switch stay with the
//! C library.
//!
//! SQLite's allocations follow the same switch ([`route_sqlite`]); a process that builds a new
//! store can also give SQLite a page cache of its own on one huge page
//! ([`reserve_sqlite_page_cache`]), faulted in ahead of the store writer.
//!
//! [`mi_is_in_heap_region`]: libmimalloc_sys::mi_is_in_heap_region

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The global allocator (see the crate's documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocator;

/// Set once and never cleared: whether new blocks come from mimalloc.
static MIMALLOC: AtomicBool = AtomicBool::new(false);

/// The address range of the arena reserved for mimalloc at the switch (see [`reserve_arena`]),
/// start and end; both zero when there is none. Written once, before [`MIMALLOC`] is set.
static ARENA_START: AtomicUsize = AtomicUsize::new(0);
static ARENA_END: AtomicUsize = AtomicUsize::new(0);

/// How much address space the switch reserves for mimalloc (not memory: pages are backed only
/// once touched): what mimalloc reserves by itself at its first allocation (its `arena_reserve`
/// option), reserved here instead so that its place is known. A first index of 100k items peaks
/// at ~120 MB; past the arena, mimalloc reserves more on its own and those blocks take the
/// slower check.
const ARENA_BYTES: usize = 1 << 30;

/// From now on, new allocations on every thread come from mimalloc. Call it before starting the
/// work that needs it (threads started later see it; a thread already running sees it soon).
pub fn switch_to_mimalloc() {
    if !MIMALLOC.load(Ordering::Acquire) {
        reserve_arena();
    }
    MIMALLOC.store(true, Ordering::Release);
}

#[allow(unsafe_code)]
mod arena_ffi {
    use std::os::raw::{c_int, c_void};
    extern "C" {
        // mimalloc's own entry points (mimalloc.h), in the library `libmimalloc-sys` links;
        // its Rust bindings put them behind a feature that also changes how mimalloc is built.
        pub fn mi_reserve_os_memory_ex(
            size: usize,
            commit: bool,
            allow_large: bool,
            exclusive: bool,
            arena_id: *mut c_int,
        ) -> c_int;
        pub fn mi_arena_area(arena_id: c_int, size: *mut usize) -> *mut c_void;
        pub fn mi_thread_init();
    }
}

/// Reserve one arena for mimalloc up front and remember where it is: a block inside it is
/// mimalloc's by a two-comparison check, where asking mimalloc (`mi_is_in_heap_region`, a walk
/// over its arenas) cost ~33 instructions per free: 2.3M of the 83.5M instructions of a first
/// index of 1k items (64k frees; callgrind), and a first index of 10k items 1.6-3% faster
/// (alternating runs; no change measurable at 1k). mimalloc allocates from arenas it has
/// before it reserves more, so every block comes from this one until it is full. Committed as
/// mimalloc commits its own arenas where the system overcommits (mapped readable and writable
/// with `MAP_NORESERVE`: nothing is backed until touched). When the reservation fails nothing
/// changes but the speed.
fn reserve_arena() {
    let mut id: std::os::raw::c_int = 0;
    // SAFETY: plain calls into mimalloc with a valid out-pointer; `mi_arena_area` only reads
    // the arena table.
    let (start, size) = unsafe {
        // Reserving draws on the calling thread's mimalloc heap (for a random address hint),
        // which a thread other than the main one has only once set up.
        arena_ffi::mi_thread_init();
        if arena_ffi::mi_reserve_os_memory_ex(ARENA_BYTES, true, false, false, &mut id) != 0 {
            return;
        }
        let mut size = 0usize;
        let start = arena_ffi::mi_arena_area(id, &mut size);
        (start as usize, size)
    };
    if start != 0 && size != 0 {
        ARENA_START.store(start, Ordering::Relaxed);
        ARENA_END.store(start.saturating_add(size), Ordering::Relaxed);
    }
}

/// Whether [`switch_to_mimalloc`] was called.
pub fn mimalloc_on() -> bool {
    MIMALLOC.load(Ordering::Acquire)
}

/// Whether mimalloc handed out `p`. A block allocated after the switch reaches another thread
/// only through some synchronisation, which carries the switch with it, so the thread freeing it
/// sees the flag set.
#[inline]
fn from_mimalloc(p: *mut u8) -> bool {
    if !mimalloc_on() {
        return false;
    }
    // The arena's bounds were stored before the switch was published (read above).
    let a = p as usize;
    if a >= ARENA_START.load(Ordering::Relaxed) && a < ARENA_END.load(Ordering::Relaxed) {
        return true;
    }
    // SAFETY: `mi_is_in_heap_region` only compares the address with the ranges mimalloc
    // reserved; it does not dereference it.
    unsafe { libmimalloc_sys::mi_is_in_heap_region(p.cast()) }
}

/// The alignment every mimalloc block of at least this size has (`MI_MAX_ALIGN_SIZE`); smaller
/// blocks are aligned to their size class, itself a multiple of 8.
const MI_MAX_ALIGN: usize = 16;

/// Whether a block of `size` bytes aligned to `align` can come from mimalloc's plain
/// `mi_malloc` family: Rust's sizes are multiples of their alignment, so an alignment up to
/// [`MI_MAX_ALIGN`] that fits in the size is met by every block (the rule the standard
/// library's own `System` applies to `malloc`). The aligned entry points check and look up
/// more on every call (~5% of a parse worker's instructions in a first index were mimalloc's
/// aligned allocation path).
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= MI_MAX_ALIGN && align <= size
}

// SAFETY: each call is forwarded to one of two allocators that uphold `GlobalAlloc`'s contract;
// a block is always freed or resized by the allocator that allocated it (see `from_mimalloc`),
// with the same layout the caller gave.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mimalloc_on() {
            if plain(layout.size(), layout.align()) {
                // SAFETY: `plain`: any block of this size meets the alignment.
                return unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() };
            }
            // SAFETY: the caller's layout is forwarded as is.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mimalloc_on() {
            if plain(layout.size(), layout.align()) {
                // SAFETY: as in `alloc`.
                return unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() };
            }
            // SAFETY: the caller's layout is forwarded as is.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if from_mimalloc(ptr) {
            // SAFETY: mimalloc allocated `ptr` with this layout.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        } else {
            // SAFETY: the C library allocated `ptr` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if from_mimalloc(ptr) {
            if plain(new_size, layout.align()) {
                // SAFETY: mimalloc allocated `ptr`; any block of `new_size` bytes meets the
                // alignment (see `plain`).
                return unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() };
            }
            // SAFETY: mimalloc allocated `ptr` with this layout; the caller vouches for
            // `new_size`.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        } else {
            // SAFETY: the C library allocated `ptr` with this layout; as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// Hand SQLite's own allocations (a copy of every text value bound to a statement, record
/// buffers, its page cache) to the same switch: the C library's `malloc` until
/// [`switch_to_mimalloc`], mimalloc after, each block freed by the allocator that gave it out.
/// A first index of 10k items: the store writer's instructions 645M with SQLite on the C
/// library's allocator, 611M with it on mimalloc (callgrind).
///
/// Call it before SQLite is first used (it is then too late, and this does nothing). On
/// platforms other than Linux with glibc, SQLite keeps its own allocator.
pub fn route_sqlite() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    sqlite::install();
}

/// Give SQLite a page cache of its own for the new store this process is about to build: one
/// 2 MiB block, aligned and advised for a transparent huge page (Linux), that SQLite takes its
/// first page buffers from (`SQLITE_CONFIG_PAGECACHE`), falling back to its allocator beyond it.
/// Page buffers drawn from the heap are touched fresh page by page: ~320 of the ~800 page
/// faults of the store writer in a first index of 1k items, at ~2.5 µs each on the virtual
/// machines Evident is measured on; on a huge page they are one fault, which
/// [`warm_sqlite_page_cache`] can take on another thread ahead of the writer.
///
/// Only for a process whose first SQLite call is still to come, made when no other thread can
/// be calling SQLite: the configuration is process-wide and SQLite reads it as it initialises
/// (once it has, this changes nothing). Returns whether the page cache was set up.
pub fn reserve_sqlite_page_cache() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        sqlite::reserve_page_cache()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Fault in the page cache [`reserve_sqlite_page_cache`] set up (one huge page where the system
/// grants it), if there is one and it was not warmed yet: for a thread with nothing else to
/// do, so that the store writer does not take those faults.
pub fn warm_sqlite_page_cache() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    sqlite::warm_page_cache();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sqlite {
    use std::os::raw::{c_int, c_void};

    use super::mimalloc_on;

    /// Whether mimalloc handed out `p` (see `from_mimalloc`).
    fn ours(p: *mut c_void) -> bool {
        super::from_mimalloc(p.cast())
    }

    unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
        let n = n.max(0) as usize;
        if mimalloc_on() {
            // SAFETY: plain allocation of `n` bytes.
            unsafe { libmimalloc_sys::mi_malloc(n) }
        } else {
            // SAFETY: as above.
            unsafe { libc::malloc(n) }
        }
    }

    unsafe extern "C" fn x_free(p: *mut c_void) {
        if ours(p) {
            // SAFETY: SQLite frees only what `x_malloc`/`x_realloc` gave it; this one is
            // mimalloc's.
            unsafe { libmimalloc_sys::mi_free(p) }
        } else {
            // SAFETY: as above; the C library's (or null).
            unsafe { libc::free(p) }
        }
    }

    unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        let n = n.max(0) as usize;
        if ours(p) {
            // SAFETY: `p` is a live mimalloc block.
            unsafe { libmimalloc_sys::mi_realloc(p, n) }
        } else {
            // SAFETY: `p` is a live C library block.
            unsafe { libc::realloc(p, n) }
        }
    }

    unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
        let n = if p.is_null() {
            0
        } else if ours(p) {
            // SAFETY: `p` is a live mimalloc block.
            unsafe { libmimalloc_sys::mi_usable_size(p) }
        } else {
            // SAFETY: `p` is a live C library block.
            unsafe { libc::malloc_usable_size(p) }
        };
        c_int::try_from(n).unwrap_or(c_int::MAX)
    }

    unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
        // Both allocators hand out 16-byte multiples at least.
        n.saturating_add(15) & !15
    }

    unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }

    unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

    /// The size of the page cache block (see `reserve_sqlite_page_cache`): one huge page.
    const PAGE_CACHE_BYTES: usize = 2 << 20;

    /// The page cache block's address (0: none), and whether it still waits to be warmed.
    static PAGE_CACHE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static PAGE_CACHE_COLD: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    pub(super) fn reserve_page_cache() -> bool {
        use std::sync::atomic::Ordering;
        if PAGE_CACHE.load(Ordering::Acquire) != 0 {
            return false;
        }
        let mut header: c_int = 0;
        // SAFETY: SQLITE_CONFIG_PCACHE_HDRSZ writes one int; it may be called at any time.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_PCACHE_HDRSZ,
                &mut header as *mut c_int,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK || header <= 0 {
            return false;
        }
        // Lines for the largest page a new store has (16 KiB) with SQLite's header, 8-aligned.
        let line = (16384 + header as usize + 7) & !7;
        let lines = PAGE_CACHE_BYTES / line;
        // Twice the block, to place it on a 2 MiB boundary inside; nothing is touched here.
        let span = 2 * PAGE_CACHE_BYTES;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                span,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return false;
        }
        let start = (raw as usize + PAGE_CACHE_BYTES - 1) & !(PAGE_CACHE_BYTES - 1);
        let block = start as *mut c_void;
        // SAFETY: `block..block + PAGE_CACHE_BYTES` lies inside the mapping made above. Advice
        // only: where the system grants no huge page, the block is paged as usual.
        unsafe {
            libc::madvise(block, PAGE_CACHE_BYTES, libc::MADV_HUGEPAGE);
        }
        // SAFETY: SQLite takes the block for the rest of the process (the mapping is never
        // unmapped); before SQLite's initialisation the call takes effect, after it SQLite
        // refuses it (SQLITE_MISUSE) and nothing changes. The caller guarantees no other
        // thread is calling SQLite meanwhile.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_PAGECACHE,
                block,
                line as c_int,
                lines as c_int,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            // SAFETY: the mapping made above, unused.
            unsafe {
                libc::munmap(raw, span);
            }
            return false;
        }
        PAGE_CACHE.store(start, Ordering::Release);
        PAGE_CACHE_COLD.store(true, Ordering::Release);
        true
    }

    pub(super) fn warm_page_cache() {
        use std::sync::atomic::Ordering;
        let start = PAGE_CACHE.load(Ordering::Acquire);
        if start == 0 || !PAGE_CACHE_COLD.swap(false, Ordering::AcqRel) {
            return;
        }
        // MADV_POPULATE_WRITE (Linux 5.14): fault the block in as if written, here. Older
        // kernels refuse the advice, and the block is faulted in where it is first used.
        const MADV_POPULATE_WRITE: c_int = 23;
        // A step at a time: populating holds the process's memory-map lock, which another
        // thread's `mmap` (a thread's stack, the allocator's arena) waits for. On a huge page
        // the first step faults in the whole block and the others find it there; without one,
        // a step is 64 pages.
        const STEP: usize = 256 << 10;
        for at in (0..PAGE_CACHE_BYTES).step_by(STEP) {
            // SAFETY: a part of the block `reserve_page_cache` set up, mapped for the rest of
            // the process; populating changes no byte of it (a page already present is left
            // as it is).
            let refused = unsafe {
                libc::madvise((start + at) as *mut c_void, STEP, MADV_POPULATE_WRITE) != 0
            };
            if refused {
                return;
            }
        }
    }

    pub(super) fn install() {
        let methods = libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to methods SQLite copies; they are
        // thread-safe and route each block back to its allocator. Once SQLite is initialised
        // the call fails with SQLITE_MISUSE and changes nothing, which is harmless.
        let _ = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                &methods as *const libsqlite3_sys::sqlite3_mem_methods,
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, because the switch is one-way and shared by the process: blocks from both
    /// sides of it, freed and resized on other threads, go back to the allocator that gave them
    /// out (a mix-up would crash or corrupt either heap), and so do SQLite's.
    #[test]
    fn blocks_from_before_and_after_the_switch_go_back_where_they_came_from() {
        route_sqlite();
        let a = Allocator;
        let layout = Layout::from_size_align(48, 16).unwrap_or_else(|_| unreachable!());
        let big = Layout::from_size_align(1 << 20, 4096).unwrap_or_else(|_| unreachable!());
        let sqlite_before = sqlite_round_trip();
        // SAFETY: layouts are non-zero; every block is freed once with its layout.
        unsafe {
            let before = a.alloc(layout);
            let before_big = a.alloc_zeroed(big);
            assert!(!before.is_null() && !before_big.is_null());
            assert!(!from_mimalloc(before));
            switch_to_mimalloc();
            assert!(
                !from_mimalloc(before),
                "a C library block is not mimalloc's"
            );
            let after = a.alloc(layout);
            let after_big = a.alloc_zeroed(big);
            assert!(from_mimalloc(after) && from_mimalloc(after_big));
            // Both come from the arena reserved at the switch, so the quick check found them.
            let (start, end) = (
                ARENA_START.load(Ordering::Relaxed),
                ARENA_END.load(Ordering::Relaxed),
            );
            assert!(end > start, "an arena was reserved at the switch");
            for p in [after as usize, after_big as usize] {
                assert!((start..end).contains(&p), "{p:#x} in {start:#x}..{end:#x}");
            }
            assert!((0..1 << 20).step_by(4096).all(|i| *after_big.add(i) == 0));
            let before = a.realloc(before, layout, 4096);
            assert!(
                !from_mimalloc(before),
                "resized by the allocator that gave it out"
            );
            let (b, ab) = (before as usize, after_big as usize);
            std::thread::spawn(move || {
                a.dealloc(b as *mut u8, Layout::from_size_align_unchecked(4096, 16));
                a.dealloc(ab as *mut u8, big);
            })
            .join()
            .unwrap_or_else(|_| unreachable!());
            a.dealloc(after, layout);
            a.dealloc(before_big, big);
            // Every layout's alignment holds after the switch, through the plain entry points
            // (alignment up to 16 within the size) and the aligned ones, and across a resize.
            for (size, align) in [(8, 8), (16, 16), (24, 8), (48, 16), (64, 32), (8192, 4096)] {
                let l = Layout::from_size_align(size, align).unwrap_or_else(|_| unreachable!());
                let p = a.alloc(l);
                let z = a.alloc_zeroed(l);
                assert!(from_mimalloc(p) && from_mimalloc(z));
                assert!(
                    (p as usize).is_multiple_of(align) && (z as usize).is_multiple_of(align),
                    "{l:?}"
                );
                assert!((0..size).all(|i| *z.add(i) == 0), "{l:?}");
                p.write_bytes(7, size);
                let grown = a.realloc(p, l, size * 40);
                assert!((grown as usize).is_multiple_of(align), "{l:?} grown");
                assert!(
                    (0..size).all(|i| *grown.add(i) == 7),
                    "{l:?} kept its bytes"
                );
                a.dealloc(grown, Layout::from_size_align_unchecked(size * 40, align));
                a.dealloc(z, l);
            }
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            assert!(
                !sqlite_before,
                "SQLite used the C library's allocator before the switch"
            );
            assert!(sqlite_round_trip(), "SQLite uses mimalloc after the switch");
        }
    }

    /// Allocate through SQLite, grow and free the block; whether mimalloc gave it out.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn sqlite_round_trip() -> bool {
        use libsqlite3_sys as ffi;
        // SAFETY: blocks from `sqlite3_malloc` are resized and freed through SQLite only.
        unsafe {
            let p = ffi::sqlite3_malloc(100);
            assert!(!p.is_null());
            assert!(ffi::sqlite3_msize(p) >= 100);
            let mimalloc = from_mimalloc(p.cast());
            let p = ffi::sqlite3_realloc(p, 100_000);
            assert!(!p.is_null() && ffi::sqlite3_msize(p) >= 100_000);
            assert_eq!(
                from_mimalloc(p.cast()),
                mimalloc,
                "resized where it was allocated"
            );
            ffi::sqlite3_free(p);
            mimalloc
        }
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn sqlite_round_trip() -> bool {
        false
    }
}
