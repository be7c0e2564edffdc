//! SSTable reader on arbitrary bytes (see `strata_fuzz::harness::table`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz::harness::table::run(data));
