//! Settings every benchmark binary shares (included with `mod common;`;
//! Cargo does not build this folder as a benchmark of its own).

use std::time::Duration;

use criterion::Criterion;

/// Criterion as every Strata benchmark runs it: 10 samples after one second
/// of warm-up, `measurement` per benchmark, no plots (the report draws its
/// own from criterion's JSON).
pub fn config(measurement: Duration) -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement)
        .without_plots()
}
