//! An ordered parallel map that streams: the pool's workers take the inputs one at a time, in
//! order, and a consumer on the calling thread receives each result, in input order, as soon as
//! it and every result before it are ready. A consumer that finds its next result not ready
//! maps inputs itself rather than wait for it (see [`Results::next`]).
//!
//! An index pass parses documents on the workers while the store's single writer consumes them.
//! It used to parse in chunks (each chunk a parallel map that finished whole before it was
//! handed on), and at the end of each chunk the writer, as fast as the parsers by then, waited
//! for the chunk's last document: a first index of 1k items spent 1.2–3.2 ms of its ~14 ms
//! waiting so (in-process probes, 12 runs), most of it for the last two chunks. Here a result
//! waits for nothing but the results before it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the consumer spins for the next result, when a worker is on it, before it maps
/// that input itself: about what parsing a document takes, so a worker about to finish is
/// not duplicated. The consumer spins without yielding its core: a consumer that polled with
/// `yield` kept a lower-priority worker (see [`WORKER_NICE`]) off the core they shared, and a
/// first index of 1k items wrote its first document ~2.5 ms later (in-process probes, medians
/// of 40 runs).
const POLL: Duration = Duration::from_micros(20);

/// The scheduling priority (`nice`) of a worker, against the consumer's 0. The consumer, an
/// index pass's store writer, is the slower side at 10k items and more: with two workers and
/// the writer on two cores, the writer shared a core with a worker in some runs and had one to
/// itself in others, and a first index of 10k items took ~92 ms in the first kind of run and
/// ~79 ms in the second. A lower priority lets the scheduler give the writer its own core
/// (the workers still get every idle moment of both).
const WORKER_NICE: i32 = 5;

/// Lower the calling worker thread's priority to [`WORKER_NICE`], once per thread (Linux: the
/// priority is a thread's own; a thread outside the pool, or another platform, is left alone).
fn defer_to_consumer() {
    #[cfg(target_os = "linux")]
    {
        thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if rayon::current_thread_index().is_some() && !LOWERED.with(|l| l.replace(true)) {
            let me = rustix::thread::gettid();
            // Best effort: a refusal leaves the thread as it was.
            let _ = rustix::process::setpriority_process(Some(me), WORKER_NICE);
        }
    }
}

struct State<R> {
    /// The next input a worker (or the consumer) takes.
    next: usize,
    /// Results handed to the consumer so far.
    consumed: usize,
    /// The results of inputs `consumed..`, `None` while a worker is still on it.
    slots: VecDeque<Option<R>>,
    /// Workers asleep, waiting for the window to move on.
    sleepers: usize,
    /// The consumer is gone: workers stop.
    cancelled: bool,
    /// A worker panicked: its payload, for the consumer to raise.
    panicked: Option<Box<dyn std::any::Any + Send>>,
}

struct Shared<R> {
    state: Mutex<State<R>>,
    /// Signalled when the window has moved on, or the consumer is gone.
    space: Condvar,
    /// Results stored so far: what the consumer polls without taking the lock.
    filled: AtomicUsize,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cancel(&self) {
        self.lock().cancelled = true;
        self.space.notify_all();
    }
}

/// Map `f` over `items` on the rayon pool's workers (each with its own `init()` state), and
/// give `consume` the results in the order of `items`. At most `window` results are held at
/// once (parsed ahead of the consumer, or waiting for an earlier one), which bounds memory
/// however many items there are. If `consume` returns early, the workers stop taking inputs.
/// The calling thread also maps, with a state of its own from `init`, inputs no worker has
/// taken while the one it needs next is not ready, and that one itself when there are none:
/// `f` may run twice on an input (once on a worker, whose result is then dropped), so it must
/// not have effects that count. A panic in `f` is raised again on the calling thread when
/// the consumer next waits for a result it finds missing, at the latest on reaching that
/// input; results after it are never handed on.
pub fn ordered_map<T, R, S, O>(
    items: &[T],
    window: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> O,
) -> O
where
    T: Sync,
    R: Send,
{
    if rayon::current_thread_index().is_some() {
        // Called from one of the pool's own threads, this thread would wait for work that the
        // pool (of one thread, say) might never get to: map in order, here.
        let mut own = init();
        let mut mapped = items.iter().map(|t| f(&mut own, t));
        return consume(&mut mapped);
    }
    let window = window.max(1);
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            consumed: 0,
            slots: VecDeque::new(),
            sleepers: 0,
            cancelled: false,
            panicked: None,
        }),
        space: Condvar::new(),
        filled: AtomicUsize::new(0),
    };
    let workers = rayon::current_num_threads().clamp(1, items.len().max(1));
    rayon::in_place_scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| work(&shared, items, window, &init, &f));
        }
        // Whatever way the consumer leaves (returning early, or a panic), the workers stop:
        // the scope waits for them.
        struct Stop<'a, R>(&'a Shared<R>);
        impl<R> Drop for Stop<'_, R> {
            fn drop(&mut self) {
                self.0.cancel();
            }
        }
        let _stop = Stop(&shared);
        let mut results = Results {
            shared: &shared,
            items,
            window,
            init: &init,
            f: &f,
            own: None,
        };
        consume(&mut results)
    })
}

fn work<T, R, S>(
    shared: &Shared<R>,
    items: &[T],
    window: usize,
    init: &(impl Fn() -> S + Sync),
    f: &(impl Fn(&mut S, &T) -> R + Sync),
) {
    defer_to_consumer();
    let mut own = init();
    loop {
        let i = {
            let mut g = shared.lock();
            loop {
                if g.cancelled || g.panicked.is_some() || g.next >= items.len() {
                    return;
                }
                if g.next < g.consumed + window {
                    break;
                }
                g.sleepers += 1;
                g = shared.space.wait(g).unwrap_or_else(|e| e.into_inner());
                g.sleepers -= 1;
            }
            g.next += 1;
            g.next - 1
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut own, &items[i])));
        let panicked = r.is_err();
        let mut g = shared.lock();
        let unneeded = store(shared, &mut g, i, r);
        drop(g);
        drop(unneeded);
        if panicked {
            return;
        }
    }
}

/// Put the outcome of mapping input `i` where the consumer finds it, under the lock held as `g`:
/// the result in its slot, or the panic for the consumer to raise. A result for an input the
/// consumer has handed on already (it mapped that input itself meanwhile, see
/// [`Results::next`]) is not needed: it is given back, to be dropped outside the lock.
fn store<R>(
    shared: &Shared<R>,
    g: &mut State<R>,
    i: usize,
    r: std::thread::Result<R>,
) -> Option<R> {
    match r {
        Ok(r) if i < g.consumed => return Some(r),
        Ok(r) => {
            let k = i - g.consumed;
            if g.slots.len() <= k {
                g.slots.resize_with(k + 1, || None);
            }
            g.slots[k] = Some(r);
        }
        Err(payload) => {
            g.panicked = Some(payload);
            shared.space.notify_all();
        }
    }
    shared.filled.fetch_add(1, Ordering::Release);
    None
}

/// The consumer's side: the results, in order.
struct Results<'a, T, R, S, I, F> {
    shared: &'a Shared<R>,
    items: &'a [T],
    window: usize,
    init: &'a I,
    f: &'a F,
    /// The consumer's own state for `f`, made the first time it maps an input.
    own: Option<S>,
}

impl<T, R, S, I, F> Iterator for Results<'_, T, R, S, I, F>
where
    I: Fn() -> S,
    F: Fn(&mut S, &T) -> R,
{
    type Item = R;

    /// The next result in order: taken from its slot when a worker has stored it. Otherwise,
    /// after a short spin (see [`POLL`]), the consumer maps inputs no worker has taken yet,
    /// one at a time, into their slots, until the one it needs is ready; only when the window
    /// holds no such input does it map the one it needs itself. The consumer never sleeps
    /// waiting for a worker. It used to: on two cores shared by the consumer (an index pass's
    /// store writer) and two parse workers, the worker holding the next document was often the
    /// one of the two not running, while the other parsed documents far ahead, and a first
    /// index of 1k items waited 0.1–4 ms at once for one document (~1.2 ms per run, in-process
    /// probes, medians of 60 runs). It then mapped the input it needed right after the spin,
    /// which parsed that document twice (the worker's result dropped), while the worker on it
    /// was usually nearly done: at 100k items the writer spent ~12% of its time spinning or
    /// parsing again (`perf`). Mapping an untaken input instead is never wasted work; a first
    /// index of 100k items took 1004 ms against 1062, and 1121 against 1268 in a busier spell
    /// (alternating runs, medians of 6 and 10), with 1k and 10k unchanged.
    fn next(&mut self) -> Option<R> {
        let shared = self.shared;
        let mut g = shared.lock();
        let mut polled = false;
        loop {
            let k = g.consumed;
            if k >= self.items.len() {
                return None;
            }
            let ready = matches!(g.slots.front(), Some(Some(_)));
            if !ready {
                if let Some(payload) = g.panicked.take() {
                    drop(g);
                    std::panic::resume_unwind(payload);
                }
                // Still not ready after the spin: rather than map the input again (the worker
                // on it is likely nearly done), map the next one no worker has taken, within
                // the window, into its slot, and look again.
                if polled && g.next > k && g.next < self.items.len() && g.next < k + self.window {
                    let j = g.next;
                    g.next += 1;
                    drop(g);
                    let own = self.own.get_or_insert_with(self.init);
                    let item = &self.items[j];
                    let f = self.f;
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(own, item)));
                    g = shared.lock();
                    // Only this consumer moves `consumed`, so `j` is still ahead of it and its
                    // result is kept.
                    let unneeded = store(shared, &mut g, j, r);
                    debug_assert!(unneeded.is_none());
                    continue;
                }
                // Spin first when a worker is on the input (see [`POLL`]).
                if !polled && g.next > k {
                    polled = true;
                    let seen = shared.filled.load(Ordering::Acquire);
                    drop(g);
                    let start = Instant::now();
                    while shared.filled.load(Ordering::Acquire) == seen && start.elapsed() < POLL {
                        std::hint::spin_loop();
                    }
                    g = shared.lock();
                    continue;
                }
            }
            // Either way input `k` is handed on now: its slot goes.
            let r = g.slots.pop_front().flatten();
            g.consumed += 1;
            if g.next == k {
                // No worker took it: the consumer does.
                g.next += 1;
            }
            // Wake sleeping workers once a quarter of the window is free again, not at every
            // result (at 100k items the writer is the slower side, and the workers wait).
            if g.sleepers > 0 && g.next + self.window / 4 <= g.consumed + self.window {
                shared.space.notify_all();
            }
            drop(g);
            return Some(match r {
                Some(r) => r,
                None => {
                    let own = self.own.get_or_insert_with(self.init);
                    (self.f)(own, &self.items[k])
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ordered_map;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_arrive_in_input_order_however_long_each_takes() {
        let items: Vec<u64> = (0..500).collect();
        let out = ordered_map(
            &items,
            16,
            || (),
            |_, &i| {
                // Uneven work, so later inputs often finish before earlier ones.
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
                i * 3
            },
            |it| it.collect::<Vec<_>>(),
        );
        assert_eq!(out, items.iter().map(|i| i * 3).collect::<Vec<_>>());
    }

    #[test]
    fn no_more_than_the_window_is_held_ahead_of_the_consumer() {
        let items: Vec<usize> = (0..300).collect();
        let started = AtomicUsize::new(0);
        let window = 8;
        let mut worst = 0;
        ordered_map(
            &items,
            window,
            || (),
            |_, &i| {
                started.fetch_add(1, Ordering::SeqCst);
                i
            },
            |it| {
                for (taken, i) in it.enumerate() {
                    assert_eq!(i, taken);
                    // Slow consumer: the workers run into the window.
                    std::thread::sleep(std::time::Duration::from_micros(50));
                    let ahead = started.load(Ordering::SeqCst) - (taken + 1);
                    worst = worst.max(ahead);
                }
            },
        );
        assert!(
            worst <= window,
            "{worst} results held ahead of the consumer"
        );
        assert!(worst > 0, "the workers never ran ahead");
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_workers() {
        let items: Vec<usize> = (0..10_000).collect();
        let done = AtomicUsize::new(0);
        let first: Vec<usize> = ordered_map(
            &items,
            32,
            || (),
            |_, &i| {
                done.fetch_add(1, Ordering::SeqCst);
                i
            },
            |it| it.take(5).collect(),
        );
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        // The workers took at most a window's worth (plus the one each had in hand), and the
        // consumer mapped again at most the five it took.
        assert!(done.load(Ordering::SeqCst) <= 5 + 32 + rayon::current_num_threads() + 5);
    }

    #[test]
    fn each_worker_keeps_its_own_state() {
        let items: Vec<usize> = (0..200).collect();
        let inits = AtomicUsize::new(0);
        let out: Vec<usize> = ordered_map(
            &items,
            64,
            || {
                inits.fetch_add(1, Ordering::SeqCst);
                0usize
            },
            |seen, &i| {
                *seen += 1;
                i
            },
            |it| it.collect(),
        );
        assert_eq!(out, items);
        // One state per worker, and one for the consumer if it mapped an input itself.
        assert!(inits.load(Ordering::SeqCst) <= rayon::current_num_threads() + 1);
    }

    /// A worker stuck on an input (descheduled, say) does not hold the consumer up: the
    /// consumer maps that input itself, and the worker's late result is dropped.
    #[test]
    fn the_consumer_maps_an_input_a_stuck_worker_holds() {
        use std::sync::atomic::AtomicBool;
        use std::time::{Duration, Instant};
        let items: Vec<usize> = (0..50).collect();
        let released = AtomicBool::new(false);
        let holding = AtomicBool::new(false);
        let stuck_for = Duration::from_secs(20);
        let calling = std::thread::current().id();
        let started = Instant::now();
        let out: Vec<(usize, bool)> = ordered_map(
            &items,
            8,
            || (),
            |_, &i| {
                let on_consumer = std::thread::current().id() == calling;
                if i == 3 && !on_consumer {
                    holding.store(true, Ordering::SeqCst);
                    // Held until the consumer is past this input (or for 20 s, if it waits).
                    let t = Instant::now();
                    while !released.load(Ordering::SeqCst) && t.elapsed() < stuck_for {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                (i, on_consumer)
            },
            |it| {
                // Let a worker take input 3 first.
                while !holding.load(Ordering::SeqCst) && started.elapsed() < stuck_for {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut v = Vec::new();
                for r in it {
                    if r.0 == 3 {
                        released.store(true, Ordering::SeqCst);
                    }
                    v.push(r);
                }
                v
            },
        );
        assert_eq!(
            out.iter().map(|r| r.0).collect::<Vec<_>>(),
            items,
            "every result, once, in order"
        );
        assert!(out[3].1, "input 3 was mapped on the consumer's thread");
        assert!(
            started.elapsed() < stuck_for,
            "the consumer waited for the stuck worker"
        );
    }

    /// While a worker holds the input the consumer needs, the consumer maps inputs no worker
    /// has taken (useful work) and maps the held one again only once the window has none left.
    /// Every worker here holds any input after the awaited one until the consumer is past it,
    /// so what the consumer maps meanwhile does not depend on how the threads are scheduled.
    #[test]
    fn a_waiting_consumer_maps_untaken_inputs_before_it_maps_a_held_one_again() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Mutex;
        use std::time::{Duration, Instant};
        let items: Vec<usize> = (0..60).collect();
        let window = 8;
        let released = AtomicBool::new(false);
        let holding = AtomicBool::new(false);
        let stuck_for = Duration::from_secs(20);
        let calling = std::thread::current().id();
        // Every mapping: (input, on the consumer's thread, while input 3 was held).
        let maps: Mutex<Vec<(usize, bool, bool)>> = Mutex::new(Vec::new());
        let started = Instant::now();
        let out: Vec<usize> = ordered_map(
            &items,
            window,
            || (),
            |_, &i| {
                let on_consumer = std::thread::current().id() == calling;
                let held = holding.load(Ordering::SeqCst) && !released.load(Ordering::SeqCst);
                maps.lock().unwrap().push((i, on_consumer, held));
                if i == 3 && !on_consumer {
                    holding.store(true, Ordering::SeqCst);
                    let t = Instant::now();
                    while !released.load(Ordering::SeqCst) && t.elapsed() < stuck_for {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                } else if i > 3 && !on_consumer {
                    let t = Instant::now();
                    while !released.load(Ordering::SeqCst) && t.elapsed() < stuck_for {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                i
            },
            |it| {
                while !holding.load(Ordering::SeqCst) && started.elapsed() < stuck_for {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut v = Vec::new();
                for r in it {
                    if r == 3 {
                        released.store(true, Ordering::SeqCst);
                    }
                    v.push(r);
                }
                v
            },
        );
        assert_eq!(out, items, "every result, once, in order");
        let maps = maps.into_inner().unwrap();
        let mut count = vec![0; items.len()];
        for &(i, _, _) in &maps {
            count[i] += 1;
        }
        assert_eq!(count[3], 2, "the held input is mapped again, once");
        let ahead: Vec<usize> = maps
            .iter()
            .filter(|&&(i, on_consumer, held)| on_consumer && held && i > 3)
            .map(|&(i, _, _)| i)
            .collect();
        // Inputs 4 to 10 are in the window after 3; the other workers hold one of them at most
        // each, so the consumer maps the rest (on two cores: at least six).
        let least = (window - 1).saturating_sub(rayon::current_num_threads() - 1);
        assert!(
            ahead.len() >= least && ahead.iter().all(|&i| i < 3 + window),
            "while input 3 was held the consumer mapped later inputs within the window: {ahead:?}"
        );
        assert!(
            started.elapsed() < stuck_for,
            "the consumer waited for the held inputs"
        );
    }

    #[test]
    fn a_panic_while_mapping_reaches_the_consumer_and_nothing_after_it_is_handed_on() {
        let items: Vec<usize> = (0..100).collect();
        let handed = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ordered_map(
                &items,
                16,
                || (),
                |_, &i| {
                    if i == 40 {
                        panic!("document 40");
                    }
                    i
                },
                |it| {
                    for _ in it {
                        handed.fetch_add(1, Ordering::SeqCst);
                    }
                },
            )
        }));
        assert!(r.is_err());
        assert!(handed.load(Ordering::SeqCst) <= 40);
    }

    #[test]
    fn called_from_the_pool_it_maps_in_place_even_on_a_pool_of_one() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let items: Vec<usize> = (0..100).collect();
        let out: Vec<usize> =
            pool.install(|| ordered_map(&items, 8, || (), |_, &i| i * 2, |it| it.collect()));
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn no_items_no_results() {
        let items: Vec<u8> = Vec::new();
        let n = ordered_map(&items, 4, || (), |_, &i| i, |it| it.count());
        assert_eq!(n, 0);
    }
}
