//! Runs the report generator on the checked-in sample of criterion output
//! (`testdata/criterion-sample`, from a short real run) and checks that the
//! report quotes the ratios computed independently from the same JSON, that
//! every target has a verdict, and that the SVG plots exist.

use std::path::{Path, PathBuf};

use strata_bench::machine::MachineInfo;
use strata_bench::report::{fmt_ratio, generate, Direction, ReportOptions};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/criterion-sample")
}

/// Mean ns per iteration straight from a criterion estimates.json.
fn mean_ns(rel: &str) -> f64 {
    let path = sample_dir().join(rel).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["mean"]["point_estimate"].as_f64().unwrap()
}

fn options(out: &Path) -> ReportOptions {
    ReportOptions {
        criterion_dir: sample_dir(),
        out_dir: out.to_path_buf(),
        memory_json: Some(sample_dir().join("strata-memory.json")),
        baseline: None,
        noise: None,
        notes: None,
        run_info: Some(sample_dir().join("strata-run.txt")),
        machine: MachineInfo::probe(Path::new("/")),
        commit: "0123456789abcdef".into(),
        date: "2000-01-01".into(),
        bench_command: "bash bench-reports/run.sh".into(),
        report_command: "cargo run -p strata-bench --bin report -- --criterion-dir SAMPLE".into(),
    }
}

/// The report generated from the sample: its directory, summary and text.
fn sample_report() -> (
    tempfile::TempDir,
    strata_bench::report::ReportSummary,
    String,
) {
    let out = tempfile::tempdir().unwrap();
    let summary = generate(&options(out.path())).expect("generate");
    let report = std::fs::read_to_string(out.path().join("REPORT.md")).unwrap();
    (out, summary, report)
}

/// A JSON file of the sample.
fn sample_json(name: &str) -> serde_json::Value {
    let path = sample_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The report's text after `heading`.
fn section<'a>(report: &'a str, heading: &str) -> &'a str {
    report
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading}"))
}

#[test]
fn report_from_sample_quotes_ratios_and_writes_svgs() {
    let out = tempfile::tempdir().unwrap();
    let summary = generate(&options(out.path())).expect("generate");
    let report = std::fs::read_to_string(out.path().join("REPORT.md")).unwrap();

    // Ratios recomputed here from the raw JSON appear in the report.
    let expected = [
        mean_ns("memtable_get_hit/btree/16") / mean_ns("memtable_get_hit/art/16"),
        mean_ns("memtable_get_hit/skipmap/16") / mean_ns("memtable_get_hit/art/16"),
        mean_ns("memtable_insert_random/btree/64") / mean_ns("memtable_insert_random/art/64"),
        mean_ns("memtable_mixed/btree/2") / mean_ns("memtable_mixed/art/2"),
        mean_ns("engine_read_random/fjall") / mean_ns("engine_read_random/strata"),
        mean_ns("engine_fill_random/fjall") / mean_ns("engine_fill_random/strata"),
    ];
    for r in expected {
        let s = fmt_ratio(r);
        assert!(report.contains(&s), "report lacks ratio {s}:\n{report}");
    }
    // The 1 writer + 1 reader target quotes the mixed 2-thread ratio.
    let mixed = summary
        .targets
        .iter()
        .find(|t| t.name.contains("1 writer + 1 reader"))
        .unwrap();
    assert_eq!(mixed.measured, Some(expected[3]));

    // Every target is listed with a verdict; missed ones are said plainly.
    // The sample has no RocksDB peer (a feature CI does not build): its
    // targets are the only ones not measured.
    assert_eq!(summary.targets.len(), 16);
    for t in &summary.targets {
        let name = t.name.replace('<', "&lt;");
        assert!(report.contains(&name), "missing target {name}");
        assert_eq!(
            t.measured.is_none(),
            t.name.contains("rocksdb"),
            "sample data for {}",
            t.name
        );
    }
    let unmet = summary
        .targets
        .iter()
        .filter(|t| t.met() != Some(true))
        .count();
    assert!(report.contains("**NOT MEASURED**"));
    assert!(report.contains(&format!("{unmet} of 16 targets were not met")));

    // Machine, commit and the regenerating command are stated.
    assert!(report.contains("logical cores"));
    assert!(report.contains("0123456789abcdef"));
    assert!(report.contains("bash bench-reports/run.sh"));
    assert!(report.contains("--bin report"));
    assert!(report.contains("Bytes per entry"));
    assert!(report.contains("**Run:** load average before benches"));

    // The plots exist, are SVG, and are referenced from the report.
    for svg in [
        "memtable_ratios.svg",
        "memtable_threads.svg",
        "engine_ratios.svg",
        "durability_threads.svg",
        "latency_memtable.svg",
        "latency_engine.svg",
        "latency_durability.svg",
    ] {
        let path = out.path().join(svg);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{svg}: {e}"));
        assert!(text.contains("<svg"), "{svg} is not SVG");
        assert!(text.len() > 1000, "{svg} is nearly empty");
        assert!(
            report.contains(&format!("({svg})")),
            "report does not show {svg}"
        );
        assert!(summary.svgs.contains(&path));
    }
}

#[test]
fn generator_fails_cleanly_without_results() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut opts = options(out.path());
    opts.criterion_dir = empty.path().to_path_buf();
    let e = generate(&opts).unwrap_err();
    assert!(e.0.contains("no benchmark results"), "{e}");
    assert!(!out.path().join("REPORT.md").exists());
}

#[test]
fn a_run_against_itself_as_baseline_moves_no_ratio() {
    let out = tempfile::tempdir().unwrap();
    let opts = ReportOptions {
        baseline: Some(sample_dir()),
        ..options(out.path())
    };
    let summary = generate(&opts).expect("generate");
    let report = std::fs::read_to_string(out.path().join("REPORT.md")).unwrap();
    // Every subject-over-peer ratio of the sample, plus the writers' scaling.
    let n = summary.movements.len();
    assert!(n >= 20, "{n} ratios compared");
    assert!(summary
        .movements
        .iter()
        .all(|m| m.change() == 1.0 && m.direction() == Direction::Within));
    assert!(report.contains("## Against the baseline run"));
    assert!(
        report.contains(&format!("**0 of {n} ratios moved beyond their noise**")),
        "{report}"
    );
    // Without a baseline the section is absent.
    let plain = tempfile::tempdir().unwrap();
    generate(&options(plain.path())).expect("generate");
    let text = std::fs::read_to_string(plain.path().join("REPORT.md")).unwrap();
    assert!(!text.contains("Against the baseline run"));
}

#[test]
fn the_simulation_campaigns_speed_is_quoted_from_their_summaries() {
    let (_out, _, report) = sample_report();
    // The sample holds one real summary (`strata-sim run --seeds 20 --jobs 1
    // --summary-json`): its rate appears, formatted as the report does.
    let v = sample_json("strata-sim-default.json");
    let rate = v["ops"].as_f64().unwrap() / v["seconds"].as_f64().unwrap();
    assert!((rate / v["ops_per_sec"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let row = section(&report, "## Simulation throughput")
        .lines()
        .find(|l| l.starts_with("| default |"))
        .expect("the default campaign's row");
    assert!(row.contains(&strata_bench::report::fmt_rate(rate)), "{row}");
    assert!(row.contains(&format!("| {} |", v["seeds"])), "{row}");
    assert!(row.ends_with("| 0 |"), "no failed seeds: {row}");
}

#[test]
fn tail_latency_is_quoted_per_engine_and_operation_with_its_plots() {
    let (out, summary, report) = sample_report();
    // The sample holds a short real pass of the `latency` binary.
    let v = sample_json("strata-latency.json");
    let section = section(&report, "## Tail latency per operation");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        8,
        "2 engines x fill, read, synced-write, synced-write-4"
    );
    for r in rows {
        let ns = |k: &str| strata_bench::report::fmt_ns(r[k].as_f64().unwrap());
        let want = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r["engine"].as_str().unwrap(),
            r["op"].as_str().unwrap(),
            r["count"],
            ns("mean_ns"),
            ns("p50_ns"),
            ns("p99_ns"),
            ns("p999_ns"),
            ns("max_ns")
        );
        assert!(section.contains(&want), "missing row {want}");
    }
    for svg in ["latency_tail_rw.svg", "latency_tail_synced.svg"] {
        assert!(summary.svgs.iter().any(|p| p.ends_with(svg)), "{svg}");
        let text = std::fs::read_to_string(out.path().join(svg)).unwrap();
        assert!(
            text.contains("strata") && text.contains("fjall"),
            "{svg} legend"
        );
    }
}

/// Copies `from` into `to` recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn a_second_peer_gets_its_own_columns_and_targets() {
    // The sample with fjall's engine results copied as a `rocksdb` peer at
    // half fjall's speed.
    let data = tempfile::tempdir().unwrap();
    copy_tree(&sample_dir(), data.path());
    for group in ["engine_fill_random", "engine_read_random", "engine_scan100"] {
        let from = data.path().join(group).join("fjall/new");
        let to = data.path().join(group).join("rocksdb/new");
        copy_tree(&from, &to);
        let b = to.join("benchmark.json");
        let text = std::fs::read_to_string(&b).unwrap();
        std::fs::write(&b, text.replace("\"fjall\"", "\"rocksdb\"")).unwrap();
        let e = to.join("estimates.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&e).unwrap()).unwrap();
        let x = v["mean"]["point_estimate"].as_f64().unwrap();
        v["mean"]["point_estimate"] = serde_json::json!(x * 2.0);
        std::fs::write(&e, v.to_string()).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let opts = ReportOptions {
        criterion_dir: data.path().to_path_buf(),
        ..options(out.path())
    };
    let summary = generate(&opts).expect("generate");
    let report = std::fs::read_to_string(out.path().join("REPORT.md")).unwrap();
    assert!(report.contains("## Engine: Strata vs fjall and rocksdb"));
    assert!(report.contains(
        "| benchmark | strata | fjall | rocksdb | strata vs fjall | strata vs rocksdb |"
    ));
    let fill = |peer: &str| {
        summary
            .targets
            .iter()
            .find(|t| t.name == format!("Strata vs {peer}: random fill"))
            .and_then(|t| t.measured)
            .unwrap()
    };
    assert!((fill("rocksdb") / fill("fjall") - 2.0).abs() < 1e-9);
    let reads = mean_ns("engine_read_random/fjall") * 2.0 / mean_ns("engine_read_random/strata");
    assert!(report.contains(&fmt_ratio(reads)), "rocksdb read ratio");
}

#[test]
fn cost_against_data_size_is_tabled_and_plotted() {
    let (_out, summary, report) = sample_report();
    // The sample holds a tiny real `scale` run (2,000 and 10,000 entries).
    let v = sample_json("strata-scale.json");
    let section = section(&report, "## Engine: cost against data size");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap();
        let want = format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} |",
            r["engine"].as_str().unwrap(),
            r["entries"],
            strata_bench::report::fmt_rate(f("fill_ops_per_sec")),
            strata_bench::report::fmt_rate(f("read_ops_per_sec")),
            f("written_bytes") / f("user_bytes"),
            f("dir_bytes") / f("user_bytes"),
        );
        assert!(section.contains(&want), "missing row {want}");
    }
    for svg in ["scale_rates.svg", "scale_amplification.svg"] {
        assert!(summary.svgs.iter().any(|p| p.ends_with(svg)), "{svg}");
    }
}

#[test]
fn writes_per_sync_are_quoted_for_the_engines_that_count_syncs() {
    let (_out, _, report) = sample_report();
    // `strata-durability.json` in the sample is written by hand: 1,000
    // writes over 1,000 syncs at 1 thread, 900 over 500 at 2, 1,200 over
    // 400 at 4; fjall counts no syncs.
    let section = section(&report, "## Durability");
    let row = |engine: &str, threads: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("| {engine} | {threads} |")))
            .unwrap_or_else(|| panic!("no row {engine}/{threads}"))
            .to_string()
    };
    assert!(
        row("strata", "1").ends_with("| 1.00 |"),
        "{}",
        row("strata", "1")
    );
    assert!(row("strata", "2").ends_with("| 1.80 |"));
    assert!(row("strata", "4").ends_with("| 3.00 |"));
    assert!(row("fjall", "4").ends_with("| - |"));
}
