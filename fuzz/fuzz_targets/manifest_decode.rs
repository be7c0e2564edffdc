//! Manifest decoders on arbitrary bytes (see `strata_fuzz::harness::manifest`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz::harness::manifest::run(data));
