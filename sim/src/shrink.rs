//! Delta debugging over a failing op list, and printing the result as a
//! ready-to-paste regression test.

use crate::runner::{execute, RunConfig};
use crate::workload::SimOp;

/// The result of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smaller op list; it still fails.
    pub ops: Vec<SimOp>,
    /// Its failure message.
    pub message: String,
    /// Runs spent.
    pub runs: usize,
}

/// Reduces `ops` (which must fail for `seed`) to a smaller list that still
/// fails, spending at most `runs_max` runs. `None` if `ops` does not fail.
pub fn shrink(seed: u64, ops: &[SimOp], cfg: &RunConfig, runs_max: usize) -> Option<Shrunk> {
    let mut runs = 0usize;
    let fails = |candidate: &[SimOp], runs: &mut usize| -> Option<String> {
        *runs += 1;
        execute(seed, candidate, cfg, false)
            .failure
            .map(|f| f.message)
    };
    let first = fails(ops, &mut runs)?;
    let out = execute(seed, ops, cfg, false);
    let cut = out
        .failure
        .map_or(ops.len(), |f| (f.op_index + 1).min(ops.len()));
    let mut cur: Vec<SimOp> = ops[..cut].to_vec();
    let mut message = fails(&cur, &mut runs).unwrap_or_else(|| {
        cur = ops.to_vec();
        first.clone()
    });

    // ddmin: try removing chunks, refining granularity.
    let mut n = 2usize;
    while cur.len() >= 2 && runs < runs_max {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < cur.len() && runs < runs_max {
            let end = (start + chunk).min(cur.len());
            let candidate: Vec<SimOp> = cur[..start].iter().chain(&cur[end..]).cloned().collect();
            if let Some(m) = fails(&candidate, &mut runs) {
                cur = candidate;
                message = m;
                reduced = true;
                n = (n - 1).max(2);
                break;
            }
            start = end;
        }
        if !reduced {
            if n >= cur.len() {
                break;
            }
            n = (n * 2).min(cur.len());
        }
    }
    Some(Shrunk {
        ops: cur,
        message,
        runs,
    })
}

/// A regression test reproducing `ops` for `seed`.
pub fn regression_test(seed: u64, ops: &[SimOp], cfg: &RunConfig, message: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "/// Found by `strata-sim` (seed {seed}, shrunk to {} ops).\n\
         /// Failure: {}\n\
         /// Postmortem: TODO describe the cause and the fix.\n",
        ops.len(),
        message.replace('\n', " ")
    ));
    s.push_str(&format!("#[test]\nfn sim_regression_seed_{seed}() {{\n"));
    s.push_str(
        "    use strata_sim::{execute, DiskModel, FaultMode, KeyBound, MemtableChoice, RunConfig, Scan, SimOp, Val};\n",
    );
    s.push_str("    #[allow(unused_imports)]\n    let _ = (KeyBound::Unbounded, Scan::Forward, Val { len: 0, tag: 0 });\n");
    s.push_str("    let ops = vec![\n");
    for op in ops {
        s.push_str(&format!("        {},\n", op.to_rust()));
    }
    s.push_str("    ];\n");
    s.push_str(&format!(
        "    let cfg = RunConfig {{ ops: ops.len(), memtable: MemtableChoice::{:?}, faults: FaultMode::{:?}, disk: DiskModel::{:?}, profile: strata_sim::Profile::{:?} }};\n",
        cfg.memtable, cfg.faults, cfg.disk, cfg.profile
    ));
    s.push_str(&format!(
        "    let out = execute({seed}, &ops, &cfg, true);\n    \
         assert!(out.failure.is_none(), \"{{:?}}\\n{{}}\", out.failure, out.trace.join(\"\\n\"));\n}}\n"
    ));
    s
}
