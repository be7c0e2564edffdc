//! `strata`: inspect, check, checkpoint and repair Strata databases.
//!
//! Every command prints one document: indented text, or JSON with
//! `--json`. Keys and values print escaped (`\xNN` for bytes outside
//! printable ASCII), or as hex with `--hex` (which also makes KEY
//! arguments hex). Exit status: 0 when the command did its job and found
//! nothing wrong, 1 when it found damage (or `get` found no value), 2 when
//! it could not do its job (bad arguments, unreadable files); errors name
//! the file and the offset.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use strata_cli::out::Out;
use strata_cli::{db, dump};

#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version,
    about = "Inspect, check, checkpoint and repair Strata databases"
)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Print keys and values as hex, and read KEY arguments as hex.
    #[arg(long, global = true)]
    hex: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A WAL segment's records with offsets, kinds, sequence numbers and
    /// sync watermarks; damage with its offset and whether a sync covered
    /// it.
    DumpWal {
        /// The segment (`wal-NNNNNN.log`).
        file: PathBuf,
    },
    /// A table's entries, data blocks, filter, index and footer.
    DumpTable {
        /// The table (`table-NNNNNN.sst`).
        file: PathBuf,
        /// Check every block (every entry is read either way; this also
        /// reports what was checked).
        #[arg(long)]
        verify: bool,
        /// Print at most this many entries (all are still read).
        #[arg(long)]
        limit: Option<usize>,
        /// The table's number, if its file name does not say (checksums
        /// are bound to it).
        #[arg(long)]
        number: Option<u64>,
    },
    /// The manifest's edits, each with the version it leads to, and the
    /// final version.
    DumpManifest {
        /// A database directory (its `CURRENT` names the manifest) or a
        /// `MANIFEST-NNNNNN` file.
        path: PathBuf,
    },
    /// Opens read-only, reads every live table whole and scans the WAL;
    /// prints levels, sizes and properties. Exit 0 if healthy, 1 if not.
    Check {
        /// The database directory.
        dir: PathBuf,
    },
    /// The value of KEY (exit 1 if it has none).
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The key (escaped, or hex with `--hex`).
        key: String,
    },
    /// Keys and values in order.
    Scan {
        /// The database directory.
        dir: PathBuf,
        /// First key (inclusive).
        #[arg(long)]
        from: Option<String>,
        /// End key (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// From the last key down.
        #[arg(long)]
        reverse: bool,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Makes a damaged database open again: keeps the last state the
    /// manifest can tell, salvages what still reads of damaged tables,
    /// cuts the WAL at its first damage, moves everything else into
    /// `lost/` (nothing is deleted) and reports what was lost. Exit 0 if
    /// nothing was, 1 if something was.
    Repair {
        /// The database directory (no process may have it open).
        dir: PathBuf,
    },
    /// A consistent copy of the database in DEST (which must not exist).
    Checkpoint {
        /// The database directory (opened for writing: no other process
        /// may have it open).
        dir: PathBuf,
        /// Where the copy goes.
        dest: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out {
        json: cli.json,
        hex: cli.hex,
        fs: Arc::new(strata::fs::StdFs),
    };
    let result = match &cli.command {
        Command::DumpWal { file } => dump::wal(&out, file),
        Command::DumpTable {
            file,
            verify,
            limit,
            number,
        } => dump::table(&out, file, *verify, *limit, *number),
        Command::DumpManifest { path } => dump::manifest(&out, path),
        Command::Check { dir } => db::check(&out, dir),
        Command::Get { dir, key } => db::get(&out, dir, key),
        Command::Scan {
            dir,
            from,
            to,
            reverse,
            limit,
        } => db::scan(&out, dir, from.as_deref(), to.as_deref(), *reverse, *limit),
        Command::Checkpoint { dir, dest } => db::checkpoint(&out, dir, dest),
        Command::Repair { dir } => db::repair(&out, dir),
    };
    match result {
        Ok(done) => {
            out.emit(&done.doc);
            if done.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(f) => {
            if out.json {
                out.emit(&serde_json::json!({ "error": f.message }));
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(2)
        }
    }
}
