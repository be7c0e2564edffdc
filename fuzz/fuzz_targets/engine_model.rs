//! `Db` operation sequences on the simulated disk, with crashes and faults,
//! checked by the crash oracle (see `strata_fuzz_harness::engine_model`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_fuzz_harness::engine_model::run(data);
    // Let crossbeam-epoch free what this input's trees retired: libFuzzer
    // runs a full LeakSanitizer scan after every input whose mallocs and
    // frees do not balance, which deferred frees otherwise always cause
    // (it cut art_model from ~95 to ~20 execs/s).
    for _ in 0..16 {
        crossbeam_epoch::pin().flush();
    }
});
