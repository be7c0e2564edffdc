//! The engine's synchronisation and clock, in one place.
//!
//! Every mutex, rwlock, condition variable, atomic, thread, yield, sleep and
//! clock reading in the engine goes through this module, so that a
//! scheduler can be swapped in here alone; `engine/tests/sync_shim.rs`
//! fails if another engine source file names the `std` originals. Today
//! every name maps to `std`. (`Arc` and `Weak` stay `std`'s everywhere:
//! they are not scheduling points.)
//!
//! A panic while holding a lock poisons it; the engine's invariants do not
//! depend on the holder having finished (every mutation that must be atomic
//! is a single assignment or is re-checked), so a poisoned lock is used as
//! it is rather than turning every later call into a panic.

pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Atomic integers and flags.
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
}

/// Threads: spawning, yielding, sleeping.
pub(crate) mod thread {
    #[cfg(test)]
    pub(crate) use std::thread::spawn;
    pub(crate) use std::thread::{sleep, yield_now, Builder, JoinHandle};
}

/// The clock.
pub(crate) mod time {
    pub(crate) use std::time::Instant;
}

use std::time::Duration;

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks `l`, ignoring poisoning.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks `l`, ignoring poisoning.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv`, ignoring poisoning.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv` for at most `timeout`, ignoring poisoning.
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match cv.wait_timeout(guard, timeout) {
        Ok((g, _)) => g,
        Err(p) => p.into_inner().0,
    }
}
