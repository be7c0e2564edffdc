//! Writes `REPORT.md` and SVG plots from criterion's output.
//!
//! ```text
//! cargo run -p strata-bench --bin report -- [--criterion-dir DIR] [--out DIR]
//!     [--memory FILE] [--notes FILE] [--date YYYY-MM-DD] [--bench-command CMD]
//!     [--baseline DIR]
//! ```
//! Defaults: `--criterion-dir target/criterion` (relative to the workspace
//! root, or `$CARGO_TARGET_DIR/criterion`), `--out bench-reports/<date>-<machine>`,
//! `--memory <criterion-dir>/strata-memory.json`. Run conditions recorded by
//! `run.sh` in `<criterion-dir>/strata-run.txt` are quoted when present.
//! `--baseline DIR` (an earlier report directory or its `criterion/`)
//! compares every ratio with that run and flags the ones that moved by
//! more than their noise (printed, and a section of the report); `--noise
//! FILE` widens each ratio's band to its spread between runs of one commit,
//! which `report noise --out FILE DIR DIR...` measures from such runs.

use std::path::{Path, PathBuf};

use strata_bench::machine::{git_commit, today_utc, MachineInfo};
use strata_bench::report::{
    bands_to_json, baseline_criterion_dir, fmt_ratio, generate, load_criterion, run_to_run_bands,
    Direction, ReportOptions, Results,
};

fn usage() -> ! {
    eprintln!(
        "usage: report [--criterion-dir DIR] [--out DIR] [--memory FILE] [--notes FILE] \
         [--date YYYY-MM-DD] [--bench-command CMD] [--baseline DIR [--noise FILE]]\n\
         or: report noise --out FILE DIR DIR..."
    );
    std::process::exit(2)
}

/// `report noise --out FILE DIR DIR...`: the run-to-run band of every
/// ratio, from two or more runs of one commit on one machine.
fn noise_main(args: &[String]) {
    let mut out = None;
    let mut dirs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().cloned(),
            d => dirs.push(d.to_string()),
        }
    }
    let Some(out) = out else { usage() };
    if dirs.len() < 2 {
        eprintln!("report noise: needs two or more runs of one commit");
        std::process::exit(2);
    }
    let mut runs = Vec::new();
    for d in &dirs {
        let dir = baseline_criterion_dir(Path::new(d));
        match load_criterion(&dir) {
            Ok(b) if !b.is_empty() => runs.push(Results::new(b)),
            Ok(_) => {
                eprintln!("report noise: no benchmark results under {}", dir.display());
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("report noise: {e}");
                std::process::exit(1);
            }
        }
    }
    let bands = run_to_run_bands(&runs);
    if let Err(e) = std::fs::write(&out, bands_to_json(&dirs, &bands).to_string()) {
        eprintln!("report noise: writing {out}: {e}");
        std::process::exit(1);
    }
    for (name, band) in &bands {
        println!("{name:<70} ±{:.1}%", band * 100.0);
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("noise") {
        return noise_main(&all[1..]);
    }
    // The workspace root: this crate lives in <root>/bench-reports.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let default_criterion = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("criterion");
    let (mut criterion, mut out, mut memory, mut notes, mut date) = (None, None, None, None, None);
    let (mut baseline, mut noise) = (None, None);
    let mut bench_command = "bash bench-reports/run.sh".to_string();
    let argv = all;
    let mut args = argv.iter();
    while let Some(a) = args.next() {
        let mut val = || args.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--criterion-dir" => criterion = Some(PathBuf::from(val())),
            "--out" => out = Some(PathBuf::from(val())),
            "--memory" => memory = Some(PathBuf::from(val())),
            "--notes" => notes = Some(PathBuf::from(val())),
            "--baseline" => baseline = Some(PathBuf::from(val())),
            "--noise" => noise = Some(PathBuf::from(val())),
            "--date" => date = Some(val()),
            "--bench-command" => bench_command = val(),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let criterion_dir = criterion.unwrap_or(default_criterion);
    let date = date.unwrap_or_else(today_utc);
    let machine = MachineInfo::probe(&std::env::temp_dir());
    let out_dir = out.unwrap_or_else(|| {
        root.join("bench-reports")
            .join(format!("{date}-{}", machine.slug()))
    });
    let memory_json = Some(memory.unwrap_or_else(|| criterion_dir.join("strata-memory.json")));
    let run_info = Some(criterion_dir.join("strata-run.txt"));
    let mut report_command = "cargo run -p strata-bench --bin report --".to_string();
    for a in &argv {
        if a.contains(' ') {
            report_command.push_str(&format!(" '{a}'"));
        } else {
            report_command.push_str(&format!(" {a}"));
        }
    }
    let opts = ReportOptions {
        criterion_dir,
        out_dir,
        memory_json,
        baseline,
        noise,
        notes,
        run_info,
        machine,
        commit: git_commit(&root),
        date,
        bench_command,
        report_command,
    };
    match generate(&opts) {
        Ok(summary) => {
            println!("wrote {}", summary.report.display());
            for s in &summary.svgs {
                println!("wrote {}", s.display());
            }
            for t in &summary.targets {
                println!(
                    "{:<70} {:>8}  {}",
                    t.name,
                    t.measured.map_or("-".into(), fmt_ratio),
                    t.verdict().trim_matches('*')
                );
            }
            for m in &summary.movements {
                let way = match m.direction() {
                    Direction::Up => "moved up",
                    Direction::Down => "MOVED DOWN",
                    Direction::Within => continue,
                };
                println!(
                    "{:<70} {} -> {} ({:+.1}%, noise ±{:.1}%) {way}",
                    m.name,
                    fmt_ratio(m.baseline),
                    fmt_ratio(m.now),
                    (m.change() - 1.0) * 100.0,
                    m.noise * 100.0
                );
            }
        }
        Err(e) => {
            eprintln!("report: {e}");
            std::process::exit(1);
        }
    }
}
