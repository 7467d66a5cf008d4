//! Starting a helper thread where it can run at once.
//!
//! Why. On the 2-core virtual machines Evident is measured on, a thread started by a busy
//! thread was queued on its starter's core and began running only when the starter next slept
//! or was preempted: in-process probes of a no-change `index` of 1k items put the walk helper's
//! first instruction 0.8–1.3 ms after it was started (medians of 100 runs), while the other core
//! stood idle and the walk waited for it. Started on another core, it ran ~0.1 ms after, and a
//! no-change `index` took 1.73 ms instead of 2.23 at 1k items (300 alternating runs) and 6.70
//! instead of 8.02 ms at 10k (60 runs).
//!
//! How. [`spawn`] starts the thread allowed only on the cores other than the one the calling
//! thread is on, which makes the scheduler put it there; once running, the thread takes back
//! the cores the process may use, so it can move like any other thread later. Where the
//! process may use one core only, or the platform has no such calls, it is a plain start.
//!
//! Only the walk helper starts this way. The threads of a first index (the schema's, the parse
//! workers, the flusher, the graph checks, the freeing thread) compete for the cores with the
//! store's writer, and started this way a first index of 10k items took 101 ms instead of 88
//! (24 alternating runs); of 1k items, within the noise.

use std::thread::{Builder, JoinHandle};

/// Start `f` on a new thread built by `builder`, on a core other than the calling thread's
/// where there is one (see the module's documentation).
pub fn spawn<F, T>(builder: Builder, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    #[cfg(target_os = "linux")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        if let Some((all, elsewhere)) = placement::masks() {
            // The new thread takes its cores back only once it has been moved: were it to do
            // so first, the move would then pin it for good.
            let moved = Arc::new(AtomicBool::new(false));
            let seen = moved.clone();
            let handle = builder.spawn(move || {
                while !seen.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                placement::allow(&all);
                f()
            })?;
            placement::pin(&handle, &elsewhere);
            moved.store(true, Ordering::Release);
            return Ok(handle);
        }
    }
    builder.spawn(f)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod placement {
    use std::os::unix::thread::JoinHandleExt;

    /// The cores the process may use, and those of them other than the calling thread's
    /// (`None` when there is no other, or the calls fail).
    pub(super) fn masks() -> Option<(libc::cpu_set_t, libc::cpu_set_t)> {
        // SAFETY: `cpu_set_t` is plain bits, valid when zeroed; `sched_getaffinity` writes at
        // most its size into it; `sched_getcpu` takes nothing.
        unsafe {
            let mut all: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut all) != 0 {
                return None;
            }
            let me = libc::sched_getcpu();
            if me < 0 {
                return None;
            }
            let mut elsewhere = all;
            libc::CPU_CLR(me as usize, &mut elsewhere);
            (libc::CPU_COUNT(&elsewhere) > 0).then_some((all, elsewhere))
        }
    }

    /// Allow the thread behind `handle` only on `cores` (best effort: a refusal leaves it
    /// where the scheduler put it).
    pub(super) fn pin<T>(handle: &std::thread::JoinHandle<T>, cores: &libc::cpu_set_t) {
        // SAFETY: the handle's thread has not been joined (we hold its handle), so its
        // `pthread_t` is valid; the call only reads the set.
        unsafe {
            libc::pthread_setaffinity_np(
                handle.as_pthread_t(),
                std::mem::size_of::<libc::cpu_set_t>(),
                cores,
            );
        }
    }

    /// Allow the calling thread on `cores` (best effort, as [`pin`]).
    pub(super) fn allow(cores: &libc::cpu_set_t) {
        // SAFETY: the calling thread; the call only reads the set.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), cores);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::spawn;

    #[test]
    fn a_thread_started_elsewhere_runs_and_may_use_every_core_the_process_may() {
        let before = std::thread::available_parallelism().map_or(1, |n| n.get());
        let h = spawn(std::thread::Builder::new().name("t".into()), move || {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        })
        .unwrap();
        // `available_parallelism` counts the cores the thread may use: all of them again.
        assert_eq!(h.join().unwrap(), before);
    }
}
