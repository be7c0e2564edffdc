//! Bytes per entry of each memtable, measured with a counting global
//! allocator: live heap bytes after loading N random keys (8-byte values)
//! minus live bytes before, divided by N. The figure includes the key and
//! value bytes themselves, and the ART's leaf chunks that it maps directly
//! rather than through the allocator (`strata_art::mapped_bytes`).
//!
//! `cargo run --release -p strata-bench --bin memtable_space -- [--out FILE]`
//! (`STRATA_BENCH_ENTRIES`, default 1,000,000). Writes JSON that the report
//! generator reads (default `target/criterion/strata-memory.json`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use strata_bench::workload::{env_count, load, map_kinds, KeyPattern};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's
// arguments unchanged; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let mut out = String::from("target/criterion/strata-memory.json");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().expect("--out needs a path"),
            other => {
                eprintln!("unknown argument {other:?}; usage: memtable_space [--out FILE]");
                std::process::exit(2);
            }
        }
    }
    let n = env_count("STRATA_BENCH_ENTRIES", 1_000_000);
    let mut rows = Vec::new();
    for key_bytes in [8usize, 16, 64] {
        for kind in map_kinds() {
            let live = || LIVE_BYTES.load(Ordering::Relaxed) + strata_art::mapped_bytes() as isize;
            let before = live();
            let map = (kind.make)();
            load(map.as_ref(), n, key_bytes, KeyPattern::Random);
            let after = live();
            assert_eq!(map.len(), n as usize);
            let per_entry = (after - before) as f64 / n as f64;
            let payload = (key_bytes + 8) as f64;
            println!(
                "{:>8} key {:>2} B: {:>7.1} B/entry ({:>6.1} B over the {payload} B of key+value)",
                kind.name,
                key_bytes,
                per_entry,
                per_entry - payload
            );
            rows.push(serde_json::json!({
                "kind": kind.name,
                "key_bytes": key_bytes,
                "value_bytes": 8,
                "entries": n,
                "bytes_per_entry": per_entry,
            }));
            drop(map);
        }
    }
    let doc = serde_json::json!({
        "method": "counting global allocator plus memory the ART maps directly (strata_art::mapped_bytes): live bytes after loading minus before, divided by entries; includes key and value bytes",
        "rows": rows,
    });
    if let Some(parent) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(parent).expect("create output directory");
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc).expect("json")).expect("write output");
    println!("wrote {out}");
}
