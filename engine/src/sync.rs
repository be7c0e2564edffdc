//! The engine's synchronisation and clock, in one place.
//!
//! Every mutex, rwlock, condition variable, atomic, thread, yield, sleep and
//! clock reading in the engine, and in the simulator's disk (`SimFs`), goes
//! through this module (public but hidden: it is not part of the API), so that a
//! scheduler can be swapped in here alone; `engine/tests/sync_shim.rs`
//! fails if another engine source file names the `std` originals.
//!
//! Normal builds map every name to `std`. Built with `--cfg shuttle` (in
//! its own target directory, as loom is for the ART: a cargo feature would
//! unify across a workspace build), they map to shuttle's, which runs all
//! threads on one OS thread under a seeded scheduler, and the clock is a
//! simulated one. `Arc` and `Weak` are `std`'s under both (they are not
//! scheduling points; shuttle re-exports them too) but are named here as
//! well, so that no engine file outside this one names `std::sync`. The
//! ART's own atomics stay outside the scheduler (a memtable
//! call is one step); loom checks the ART.
//!
//! A panic while holding a lock poisons it; the engine's invariants do not
//! depend on the holder having finished (every mutation that must be atomic
//! is a single assignment or is re-checked), so a poisoned lock is used as
//! it is rather than turning every later call into a panic.

pub use std::sync::{Arc, Weak};

#[cfg(not(shuttle))]
pub use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(shuttle)]
pub use shuttle::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Atomic integers and flags.
pub mod atomic {
    #[cfg(not(shuttle))]
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    #[cfg(shuttle)]
    pub use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
}

/// Threads: spawning, yielding, sleeping.
pub mod thread {
    #[cfg(not(shuttle))]
    pub use std::thread::{sleep, yield_now, Builder, JoinHandle};

    #[cfg(all(test, not(shuttle)))]
    pub use std::thread::spawn;

    #[cfg(shuttle)]
    pub use shuttle::thread::{Builder, JoinHandle};

    #[cfg(all(test, shuttle))]
    pub use shuttle::thread::spawn;

    /// Gives the scheduler a chance to run another thread. Under the
    /// scheduler, also moves the simulated clock on by one microsecond, so
    /// a loop that yields until a deadline (the group-commit gather) ends.
    #[cfg(shuttle)]
    pub fn yield_now() {
        super::time::advance(std::time::Duration::from_micros(1));
        shuttle::thread::yield_now();
    }

    /// Sleeps for `d`. Under the scheduler, moves the simulated clock on by
    /// `d` and yields.
    #[cfg(shuttle)]
    pub fn sleep(d: std::time::Duration) {
        super::time::advance(d);
        shuttle::thread::yield_now();
    }
}

/// The clock.
pub mod time {
    #[cfg(not(shuttle))]
    pub use std::time::Instant;

    #[cfg(shuttle)]
    pub use simulated::{advance, Instant};

    /// Under the scheduler, time is a counter that only sleeps, yields and
    /// timed-out waits move on: runs do not depend on the wall clock. All
    /// scheduled threads run on one OS thread, so the counter is that
    /// thread's.
    #[cfg(shuttle)]
    mod simulated {
        use std::cell::Cell;
        use std::time::Duration;

        std::thread_local! {
            static NOW_NANOS: Cell<u64> = const { Cell::new(0) };
        }

        /// Moves the simulated clock on by `d`.
        pub fn advance(d: Duration) {
            let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            NOW_NANOS.with(|n| n.set(n.get().saturating_add(nanos)));
        }

        /// A reading of the simulated clock.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub struct Instant(u64);

        impl Instant {
            /// The simulated clock now.
            pub fn now() -> Instant {
                Instant(NOW_NANOS.with(Cell::get))
            }

            /// Simulated time since `self`.
            pub fn elapsed(&self) -> Duration {
                Duration::from_nanos(Instant::now().0.saturating_sub(self.0))
            }
        }
    }
}

use std::time::Duration;

/// A statistics counter (code probes): a relaxed atomic that is never a
/// scheduling point, in either build, because it orders nothing.
#[derive(Debug, Default)]
pub struct StatCounter(std::sync::atomic::AtomicU64);

impl StatCounter {
    /// A counter at `v`.
    pub const fn new(v: u64) -> Self {
        StatCounter(std::sync::atomic::AtomicU64::new(v))
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Locks `m`, ignoring poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks `l`, ignoring poisoning.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks `l`, ignoring poisoning.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv`, ignoring poisoning.
pub fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv` for at most `timeout`, ignoring poisoning.
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    let (guard, result) = match cv.wait_timeout(guard, timeout) {
        Ok(r) => r,
        Err(p) => p.into_inner(),
    };
    #[cfg(shuttle)]
    if result.timed_out() {
        time::advance(timeout);
    }
    #[cfg(not(shuttle))]
    let _ = result;
    guard
}
