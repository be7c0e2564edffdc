//! Support code for Strata's cargo-fuzz targets (see `README.md`).

pub mod harness;
pub mod model;
