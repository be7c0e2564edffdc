//! The commands of the `strata` tool, as a library: the binary
//! (`src/main.rs`) parses arguments and prints; the fuzz harness runs the
//! same readers on damaged databases in memory.

pub mod db;
pub mod dump;
pub mod out;

use serde_json::Value;

/// A command's result: its document, and whether it found nothing wrong.
#[derive(Debug)]
pub struct Done {
    /// What the command prints.
    pub doc: Value,
    /// Nothing wrong was found (exit status 0).
    pub healthy: bool,
}

/// A command that could not do its job (exit status 2).
#[derive(Debug)]
pub struct Failed {
    /// What went wrong, naming the file and offset where there are some.
    pub message: String,
}

impl Failed {
    fn usage(message: String) -> Failed {
        Failed { message }
    }
}

impl From<strata::Error> for Failed {
    fn from(e: strata::Error) -> Failed {
        Failed {
            message: e.to_string(),
        }
    }
}
