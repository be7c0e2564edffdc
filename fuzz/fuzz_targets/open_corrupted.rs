//! A damaged database directory, opened and read (see `strata_fuzz_harness::open_corrupted`).
#![no_main]

use std::sync::OnceLock;

use strata_fuzz_harness::open_corrupted::{build_base, run, Base, BASE_SEED};

static BASE: OnceLock<Base> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(BASE.get_or_init(|| build_base(BASE_SEED)), data)
});
