//! SSTable reader on arbitrary bytes (see `strata_fuzz_harness::table_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz_harness::table_decode::run(data));
