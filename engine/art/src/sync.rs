//! The one place atomics come from: loom's under `cfg(loom)`, std's otherwise.
//!
//! Every other module imports its atomics from here, so the same code is
//! model-checked by loom and shipped. Known gap: loom models `SeqCst` weaker
//! than the hardware does, so the tree uses only Acquire/Release/AcqRel and
//! Relaxed, and the protocols are argued in those terms (see DESIGN.md).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, AtomicUsize,
};

pub(crate) use std::sync::atomic::Ordering;

/// One step of a spin wait: under loom it must yield so the model checker
/// can run the lock holder.
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Called before an operation restarts after losing a race.
#[inline]
pub(crate) fn backoff(attempt: u32) {
    #[cfg(loom)]
    {
        let _ = attempt;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        if attempt < 4 {
            for _ in 0..(1u32 << attempt) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
}

/// A test-and-test-and-set write lock. Only writers take it; readers never
/// look at it.
pub(crate) struct WriteLock(AtomicBool);

impl WriteLock {
    pub(crate) fn new() -> Self {
        WriteLock(AtomicBool::new(false))
    }

    /// Blocks until the lock is held. Called only by a thread holding no
    /// other node lock, so blocking cannot deadlock.
    pub(crate) fn lock(&self) {
        loop {
            if self.try_lock() {
                return;
            }
            while self.0.load(Ordering::Relaxed) {
                spin_wait();
            }
        }
    }

    /// Takes the lock if it is free. Used for every second lock a thread
    /// takes (parent, child), so no thread ever waits while holding a lock.
    pub(crate) fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn unlock(&self) {
        debug_assert!(self.is_locked());
        self.0.store(false, Ordering::Release);
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
