//! Scans that allocate per chunk or block, not per entry: a counting global
//! allocator measures what a walk over a database with data in the
//! memtable, in level-0 tables and in a deeper level allocates.
//!
//! The counters are per thread, so the background thread's work is not
//! counted against the scan.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use strata::{Db, Options, WriteOptions};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    // `try_with`: the thread's locals may already be gone while it exits.
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + size as u64));
}

// SAFETY: every call is passed to the system allocator unchanged; counting
// touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and bytes allocated on this thread while `f` runs.
fn measure<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (a0, b0) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    let out = f();
    let (a1, b1) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    (out, a1 - a0, b1 - b0)
}

const VALUE_BYTES: usize = 200;

/// 6,000 keys spread over a bottom level, two level-0 tables and the
/// memtable, with overwrites and deletions across them. Returns the number
/// of live keys.
fn build(dir: &std::path::Path) -> (Db, usize) {
    let opts = Options {
        memtable_bytes_max: 64 << 20,
        ..Options::default()
    };
    let db = Db::open(dir, opts).unwrap();
    let key = |i: u32| format!("key{i:06}").into_bytes();
    let w = WriteOptions::BUFFERED;
    for i in 0..6000u32 {
        db.put(&key(i), &[1; VALUE_BYTES], w).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    for i in (0..6000u32).step_by(3) {
        db.put(&key(i), &[2; VALUE_BYTES], w).unwrap();
    }
    db.flush().unwrap();
    for i in (0..6000u32).step_by(7) {
        db.delete(&key(i), w).unwrap();
    }
    db.flush().unwrap();
    for i in (1..6000u32).step_by(5) {
        db.put(&key(i), &[3; VALUE_BYTES], w).unwrap();
    }
    let live = (0..6000u32).filter(|i| i % 7 != 0 || i % 5 == 1).count();
    (db, live)
}

#[test]
fn a_cursor_walk_allocates_per_block_not_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = build(dir.path());
    let walk = || {
        let mut c = db.cursor().unwrap();
        let mut n = 0usize;
        let mut value_bytes = 0usize;
        c.seek_to_first();
        while c.valid() {
            n += 1;
            value_bytes += c.value().len();
            c.next();
        }
        c.status().unwrap();
        (n, value_bytes)
    };
    walk(); // warms the table cache
    let ((n, value_bytes), allocs, _) = measure(walk);
    assert_eq!(n, live);
    assert_eq!(value_bytes, live * VALUE_BYTES);
    // Blocks are decoded as the walk enters them and memtable keys are
    // fetched 64 at a time; an entry itself must cost nothing. (Copying each
    // key and value out, as the walk once did, costs two or more per entry.)
    assert!(
        allocs * 5 < n as u64,
        "{allocs} allocations for a walk over {n} entries"
    );
}

#[test]
fn borrowed_iteration_from_both_ends_allocates_per_block_not_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = build(dir.path());
    let walk = || {
        let mut it = db.range::<&[u8], _>(..).unwrap();
        let mut n = 0usize;
        loop {
            let item = if n.is_multiple_of(2) {
                it.next_ref()
            } else {
                it.next_back_ref()
            };
            match item {
                Some(r) => {
                    r.unwrap();
                    n += 1;
                }
                None => break,
            }
        }
        n
    };
    walk();
    let (n, allocs, _) = measure(walk);
    assert_eq!(n, live);
    assert!(
        allocs * 5 < n as u64,
        "{allocs} allocations for a walk over {n} entries"
    );
}

#[test]
fn a_keys_only_walk_never_copies_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = build(dir.path());
    let owned = || db.range::<&[u8], _>(..).unwrap().count();
    let keys = || db.range::<&[u8], _>(..).unwrap().keys_only().count();
    owned();
    let (n, _, owned_bytes) = measure(owned);
    assert_eq!(n, live);
    let (n, _, keys_bytes) = measure(keys);
    assert_eq!(n, live);
    // The owned walk hands out every value (200 bytes each); the keys-only
    // one only the 9-byte keys, plus the blocks it decodes.
    assert!(
        owned_bytes > (live * VALUE_BYTES) as u64,
        "owned walk allocated {owned_bytes} bytes"
    );
    assert!(
        keys_bytes * 4 < owned_bytes,
        "keys-only walk allocated {keys_bytes} bytes, the owned one {owned_bytes}"
    );
}
