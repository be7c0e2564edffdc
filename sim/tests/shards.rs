//! Sharded campaigns add up to the unsharded one: the seeds of `--shard I/N`
//! partition the campaign's, and `coverage merge` of the shards' summaries
//! gives the figures of one run over all the seeds. The scaled-out workflow
//! (`.github/workflows/sim-campaigns.yml`) relies on both.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn strata_sim(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_strata-sim"))
        .args(args)
        .output()
        .expect("strata-sim runs");
    assert!(
        out.status.success(),
        "strata-sim {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the summary was written");
    serde_json::from_str(&text).expect("the summary is JSON")
}

/// The summary without its timing (which no two runs share).
fn untimed(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().expect("a JSON object");
    o.remove("seconds");
    o.remove("ops_per_sec");
    v
}

#[test]
fn merged_shards_equal_one_run_over_all_seeds() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shards-test");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let common = [
        "--seeds", "12", "--start", "40", "--ops", "300", "--jobs", "1",
    ];
    let mut whole = vec!["run"];
    whole.extend(common);
    let all = file("all.json");
    whole.extend(["--summary-json", &all]);
    strata_sim(&whole);

    let shards: Vec<String> = (0..3).map(|i| file(&format!("shard{i}.json"))).collect();
    for (i, path) in shards.iter().enumerate() {
        let shard = format!("{i}/3");
        let mut args = vec!["run"];
        args.extend(common);
        args.extend(["--shard", &shard, "--summary-json", path]);
        strata_sim(&args);
        let s = summary(Path::new(path));
        assert_eq!(s["seeds"], 4, "shard {shard} runs a third of the seeds");
    }
    let mut merge = vec!["coverage", "merge"];
    merge.extend(shards.iter().map(String::as_str));
    let merged: serde_json::Value =
        serde_json::from_slice(&strata_sim(&merge).stdout).expect("merge prints JSON");

    let whole = untimed(summary(Path::new(&all)));
    assert_eq!(whole["seeds"], 12);
    assert!(
        whole["ops"].as_u64().unwrap() > 12 * 250,
        "{}",
        whole["ops"]
    );
    assert!(whole["crashes"]["recoveries"].as_u64().unwrap() > 0);
    assert_eq!(untimed(merged), whole);
}
