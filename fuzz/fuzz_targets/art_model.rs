//! ART operation sequences against a `BTreeMap` model (see `strata_fuzz::model::art`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz::model::art::run(data));
