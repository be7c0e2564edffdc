//! Calls in flight on a `Db`, so that `Db::close(&self)` can wait for them:
//! every call on the handle enters the gate (refused with `Closed` once
//! the database is closing), and close marks the database closed, then
//! waits until the calls already inside have left. Iterators, cursors and
//! snapshots are not waited for: they see the closed flag on their next
//! use and return `Closed`.

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{lock, wait, Condvar, Mutex};

use crate::error::{Error, Result};

/// Counts the calls inside.
#[derive(Debug, Default)]
pub(crate) struct CallGate {
    inside: Mutex<u64>,
    left: Condvar,
}

/// A call inside the gate; leaving is dropping it.
#[derive(Debug)]
pub(crate) struct CallGuard<'a> {
    gate: &'a CallGate,
}

impl CallGate {
    /// Enters, unless `closed` is set: checked under the gate's lock, so a
    /// close that has set it waits for every call that got in.
    pub fn enter<'a>(&'a self, closed: &AtomicBool) -> Result<CallGuard<'a>> {
        let mut inside = lock(&self.inside);
        if closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        *inside += 1;
        Ok(CallGuard { gate: self })
    }

    /// Sets `closed` and waits until no call is inside. False if `closed`
    /// was already set (by an earlier close).
    pub fn close(&self, closed: &AtomicBool) -> bool {
        let mut inside = lock(&self.inside);
        if closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        while *inside > 0 {
            inside = wait(&self.left, inside);
        }
        true
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let mut inside = lock(&self.gate.inside);
        *inside -= 1;
        if *inside == 0 {
            self.gate.left.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Arc;
    use std::time::Duration;

    #[test]
    fn close_waits_for_the_calls_inside_and_refuses_new_ones() {
        let gate = Arc::new(CallGate::default());
        let closed = Arc::new(AtomicBool::new(false));
        let returned = Arc::new(AtomicBool::new(false));
        let call = gate.enter(&closed).expect("open gate");
        let closer = {
            let (gate, closed, returned) = (
                Arc::clone(&gate),
                Arc::clone(&closed),
                Arc::clone(&returned),
            );
            crate::sync::thread::spawn(move || {
                let first = gate.close(&closed);
                returned.store(true, Ordering::Release);
                first
            })
        };
        // Once the closer has set the flag it is inside `close`; it cannot
        // return while the call is inside, however long it is given, and a
        // close that did not wait would return well within this pause.
        while !closed.load(Ordering::Acquire) {
            crate::sync::thread::yield_now();
        }
        crate::sync::thread::sleep(Duration::from_millis(300));
        assert!(
            !returned.load(Ordering::Acquire),
            "close returned with a call still inside"
        );
        assert!(matches!(gate.enter(&closed), Err(Error::Closed)));
        drop(call);
        assert!(
            closer.join().expect("closer"),
            "the first close reports true"
        );
        assert!(returned.load(Ordering::Acquire));
        assert!(!gate.close(&closed), "a second close reports false");
        assert_eq!(*lock(&gate.inside), 0);
    }
}
