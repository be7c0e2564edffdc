//! Merges cargo-mutants output directories (shards, or a run and a rerun)
//! into a per-module mutation score: `MUTANTS.md` and `mutants.svg`.
//!
//! ```text
//! cargo run -p strata-bench --bin mutants -- [--out DIR] [--triaged FILE]
//!     [--renamed FILE] [--title TEXT] [--fail-on-missed] DIR... [--rerun DIR]... [--judge DIR]...
//! ```
//! Each `DIR` holds `outcomes.json`, or a `mutants.out` that does: shards
//! and runs, which add up (a mutant named in several takes the last
//! result). A `--rerun DIR` reran mutants of the directories before it
//! (`bash sim/mutants.sh rerun-missed`), perhaps after edits moved lines:
//! its mutants also replace earlier ones of the same file and description,
//! in line order. A `--judge DIR` judged mutants of the directories before
//! it with other tests (the scheduler pass, `bash sim/mutants.sh
//! shuttle`): its catches correct earlier misses, matched like a rerun's,
//! and its misses change nothing. `--triaged` names
//! a file listing the mutants the triage list excluded, one name per line
//! (`bash sim/mutants.sh triaged`); a missed mutant it names (lines may
//! have moved) counts as triaged. `--renamed` names a file of `OLD => NEW`
//! lines (`file: description`, or `file:line:col: description` on the
//! left for one mutant) for functions renamed or split since the runs that
//! are not reruns or judges; `-` on the right for code since deleted, whose
//! mutants are left out and listed. Without `--out` the table is printed.
//! `--fail-on-missed` exits 1 when any mutant was missed.
//!
//! `mutants --record DEST DIR` writes the record of the run in `DIR` into
//! `DEST` (outcome lists, each catch's stage, version and wall time; see
//! `strata_bench::mutation::save_lists`): what is committed, since
//! `mutants.out` and its logs are too large to keep. A record loads as
//! `DIR` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plotters::style::RGBColor;
use strata_bench::machine::git_commit;
use strata_bench::mutation::{
    load_run, merge, missed_list, parse_renames, plot_rows, rename, save_lists, score, table, Run,
    PLOT_PARTS,
};
use strata_bench::report::stacked_shares;

fn usage() -> ExitCode {
    eprintln!(
        "usage: mutants [--out DIR] [--triaged FILE] [--renamed FILE] [--title TEXT] [--fail-on-missed] DIR... \
         [--rerun DIR]... [--judge DIR]...\n       mutants --record DEST DIR"
    );
    ExitCode::from(2)
}

/// Greens for the stages that caught (teal where not recorded), amber for timeouts, red for misses,
/// grey for triaged.
const PART_COLORS: [RGBColor; 8] = [
    RGBColor(0, 109, 44),
    RGBColor(49, 163, 84),
    RGBColor(116, 196, 118),
    RGBColor(186, 228, 179),
    RGBColor(102, 194, 164),
    RGBColor(253, 174, 97),
    RGBColor(215, 25, 28),
    RGBColor(170, 170, 170),
];

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let (mut out, mut triaged_file, mut fail_on_missed) = (None, None, false);
    let mut renamed_file: Option<PathBuf> = None;
    let mut title = "Mutation score".to_string();
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("--record") {
        let (Some(dest), Some(dir), None) = (args.nth(1), args.next(), args.next()) else {
            return usage();
        };
        return match load_run(Path::new(&dir)).and_then(|r| save_lists(&r, Path::new(&dest))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mutants: {e}");
                ExitCode::FAILURE
            }
        };
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--triaged" => triaged_file = args.next().map(PathBuf::from),
            "--renamed" => renamed_file = args.next().map(PathBuf::from),
            "--title" => title = args.next().unwrap_or_default(),
            "--fail-on-missed" => fail_on_missed = true,
            "--rerun" => match args.next() {
                Some(d) => dirs.push((PathBuf::from(d), true, false)),
                None => return usage(),
            },
            "--judge" => match args.next() {
                Some(d) => dirs.push((PathBuf::from(d), false, true)),
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            s if s.starts_with("--") => return usage(),
            _ => dirs.push((PathBuf::from(a), false, false)),
        }
    }
    if dirs.is_empty() {
        return usage();
    }
    let renames = match &renamed_file {
        Some(f) => match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_renames(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("mutants: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        },
        None => Vec::new(),
    };
    let mut runs = Vec::new();
    let mut removed = Vec::new();
    for (d, rerun, second_judge) in &dirs {
        match load_run(d) {
            Ok(mut r) => {
                if !rerun && !second_judge {
                    removed.extend(rename(&mut r, &renames));
                }
                runs.push(Run {
                    rerun: *rerun,
                    second_judge: *second_judge,
                    ..r
                });
            }
            Err(e) => {
                eprintln!("mutants: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let triaged: Vec<String> = match &triaged_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => t
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect(),
            Err(e) => {
                eprintln!("mutants: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        },
        None => Vec::new(),
    };
    let engine_tests: Vec<String> = std::fs::read_dir(root.join("engine/tests"))
        .map(|rd| {
            rd.filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_string))?
            })
            .collect()
        })
        .unwrap_or_default();
    let mutants = merge(&runs);
    let (modules, total) = score(&mutants, &triaged, &engine_tests);
    let table = table(&modules, &total);
    let missed = total.missed;

    match &out {
        None => print!("{table}"),
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("mutants: creating {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            let svg = dir.join("mutants.svg");
            if let Err(e) = stacked_shares(
                &svg,
                &title,
                &plot_rows(&modules),
                &PLOT_PARTS,
                &PART_COLORS,
            ) {
                eprintln!("mutants: {e}");
                return ExitCode::FAILURE;
            }
            let mut md = format!("# {title}\n\n");
            md.push_str(&format!(
                "Generated at commit `{}` from {} cargo-mutants output director{}:\n\n",
                git_commit(&root),
                runs.len(),
                if runs.len() == 1 { "y" } else { "ies" }
            ));
            md.push_str(
                "| directory | cargo-mutants | mutants | wall time |\n|---|---|---:|---:|\n",
            );
            for r in &runs {
                md.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    r.dir.display(),
                    r.version,
                    r.mutants.len(),
                    r.wall_seconds
                        .map_or_else(|| "-".into(), |s| format!("{:.0} min", s / 60.0)),
                ));
            }
            md.push_str(
                "\nA mutant is caught when a test fails, by the first test binary that \
                 failed (the stage); a timeout (a hang) counts as caught. The score is \
                 caught over viable mutants tested; a miss the triage list names (each with \
                 its reason in `.cargo/mutants.toml`) counts as triaged, left out of the score \
                 and counted as missed in the last column.\n\n",
            );
            md.push_str(&table);
            if !removed.is_empty() {
                removed.sort();
                md.push_str(&format!(
                    "\nLeft out: {} mutants of code deleted or moved out of scope since \
                     their run (`--renamed`):\n\n",
                    removed.len()
                ));
                for r in &removed {
                    md.push_str(&format!("- `{r}`\n"));
                }
            }
            md.push_str("\n![per-module outcomes](mutants.svg)\n\n## Missed\n\n");
            md.push_str(&missed_list(&mutants, &triaged));
            let path = dir.join("MUTANTS.md");
            if let Err(e) = std::fs::write(&path, md) {
                eprintln!("mutants: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", path.display());
            println!("wrote {}", svg.display());
        }
    }
    println!(
        "{} mutants, {} viable, {} caught ({} timeouts), {} missed, {} triaged",
        total.tested,
        total.viable(),
        total.caught(),
        total.timeout,
        total.missed,
        total.triaged
    );
    if fail_on_missed && missed > 0 {
        eprintln!(
            "{missed} mutants missed:\n{}",
            missed_list(&mutants, &triaged)
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
