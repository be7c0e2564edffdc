//! Transactions in the single-threaded simulator: the named scenarios are
//! judged as the module docs of `runner/txn.rs` say, and a campaign slice
//! reaches commits, refusals and the bounded history.

use strata_sim::workload::{KeyBound, Scan, Val};
use strata_sim::{execute, run_seed, FaultMode, Profile, RunConfig, SimOp};

fn cfg(faults: FaultMode, profile: Profile) -> RunConfig {
    RunConfig {
        ops: 600,
        faults,
        profile,
        ..RunConfig::default()
    }
}

/// Write skew refused, its snapshot-isolation twin committed, a phantom
/// refused and one outside the scanned part committed, transfers kept
/// at a zero total across a power loss.
#[test]
fn the_named_scenarios_pass_with_the_outcomes_the_model_predicts() {
    let v = Val { len: 3, tag: 1 };
    let k = |s: &str| s.as_bytes().to_vec();
    let ops = vec![
        SimOp::Put {
            key: k("x"),
            value: v,
            durable: true,
        },
        SimOp::Put {
            key: k("y"),
            value: v,
            durable: true,
        },
        SimOp::TxnSkew {
            a: k("x"),
            b: k("y"),
            serializable: true,
            durable: true,
        },
        SimOp::TxnSkew {
            a: k("x"),
            b: k("y"),
            serializable: false,
            durable: true,
        },
        // The scan reaches its end, so a put of "p" inside the range is
        // a phantom; with a limit of 1 it covers only up to "x".
        SimOp::TxnPhantom {
            lo: KeyBound::Included(k("a")),
            hi: KeyBound::Excluded(k("z")),
            limit: 10,
            key: k("p"),
            value: v,
            serializable: true,
        },
        SimOp::TxnPhantom {
            lo: KeyBound::Included(k("q")),
            hi: KeyBound::Excluded(k("z")),
            limit: 1,
            key: k("y0"),
            value: v,
            serializable: true,
        },
        SimOp::TxnBegin { serializable: true },
        SimOp::TxnTransfer {
            slot: 0,
            from: 0,
            to: 1,
            amount: 5,
        },
        SimOp::TxnRange {
            slot: 0,
            lo: KeyBound::Unbounded,
            hi: KeyBound::Unbounded,
            scan: Scan::ZigZag,
            limit: 40,
        },
        SimOp::TxnCommit {
            slot: 0,
            durable: true,
        },
        SimOp::TxnBegin { serializable: true },
        SimOp::TxnTransfer {
            slot: 0,
            from: 1,
            to: 2,
            amount: 3,
        },
        SimOp::TxnBegin { serializable: true },
        SimOp::TxnTransfer {
            slot: 0,
            from: 1,
            to: 3,
            amount: 1,
        },
        // Both read counter 1: the first to commit wins.
        SimOp::TxnCommit {
            slot: 1,
            durable: false,
        },
        SimOp::TxnCommit {
            slot: 0,
            durable: false,
        },
        SimOp::PowerLoss { after_io: 0 },
    ];
    let out = execute(1, &ops, &cfg(FaultMode::Crash, Profile::Default), true);
    assert!(
        out.failure.is_none(),
        "{:?}\n{}",
        out.failure,
        out.trace.join("\n")
    );
    let s = &out.stats;
    assert_eq!(s.skews_refused, 1, "{}", out.trace.join("\n"));
    assert_eq!(s.phantoms_refused, 1, "{}", out.trace.join("\n"));
    // Committed with writes: the first of the serializable skew pair, both
    // of the snapshot-isolation pair, the phantom outside the scanned
    // part, the first transfer and the first of the competing two;
    // refused: the second of the skew pair, the phantom, the loser.
    assert_eq!(
        (s.txns_committed, s.txn_conflicts),
        (6, 3),
        "{}",
        out.trace.join("\n")
    );
}

/// A slice of the campaign with every fault: transactions commit, are
/// refused, and (with the swarm's small histories) outlive the history.
#[test]
fn a_campaign_slice_with_transactions_passes_and_reaches_every_outcome() {
    let mut committed = 0;
    let mut refused = 0;
    let mut exceeded = 0;
    for (profile, seeds) in [(Profile::Default, 0..12u64), (Profile::Swarm, 0..40u64)] {
        for seed in seeds {
            let out = run_seed(seed, &cfg(FaultMode::All, profile), false);
            assert!(
                out.failure.is_none(),
                "seed {seed} ({profile:?}): {:?}",
                out.failure
            );
            committed += out.stats.txns_committed;
            refused += out.stats.txn_conflicts;
            exceeded += out.stats.txn_history_exceeded;
        }
    }
    assert!(
        committed > 20 && refused > 10,
        "{committed} committed, {refused} refused"
    );
    assert!(exceeded > 0, "no transaction outlived a small history");
}
