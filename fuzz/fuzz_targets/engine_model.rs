//! `Db` operation sequences on the simulated disk, with crashes and faults,
//! checked by the crash oracle (see `strata_fuzz::model::engine`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz::model::engine::run(data));
