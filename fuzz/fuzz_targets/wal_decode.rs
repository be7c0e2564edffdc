//! WAL decoders on arbitrary bytes (see `strata_fuzz_harness::wal_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz_harness::wal_decode::run(data));
