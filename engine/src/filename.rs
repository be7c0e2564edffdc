//! Names of the files in a database directory.
//!
//! WAL segments, tables and manifests share one file-number counter, so a
//! number identifies a file regardless of its kind.

/// What a file in the database directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `wal-NNNNNN.log`
    Wal(u64),
    /// `table-NNNNNN.sst`
    Table(u64),
    /// `MANIFEST-NNNNNN`
    Manifest(u64),
    /// `CURRENT`
    Current,
    /// `CURRENT.tmp`, left behind by a crash while replacing `CURRENT`
    CurrentTemp,
    /// `LOCK`
    Lock,
}

impl FileKind {
    /// The number of a WAL segment, table or manifest; `None` for the
    /// other files.
    pub fn number(&self) -> Option<u64> {
        match self {
            FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => Some(*n),
            FileKind::Current | FileKind::CurrentTemp | FileKind::Lock => None,
        }
    }
}

/// The lock file's name.
pub const LOCK_FILE: &str = "LOCK";
/// The name of the file naming the live manifest.
pub const CURRENT_FILE: &str = "CURRENT";
/// The temporary file `CURRENT` is written to before the rename.
pub const CURRENT_TEMP_FILE: &str = "CURRENT.tmp";

/// Name of WAL segment `number`.
pub fn wal_file_name(number: u64) -> String {
    format!("wal-{number:06}.log")
}

/// Name of table `number`.
pub fn table_file_name(number: u64) -> String {
    format!("table-{number:06}.sst")
}

/// Name of manifest `number`.
pub fn manifest_file_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

fn number_between(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    // Only the canonical spelling (at least six digits, no extra leading
    // zeros), so one number has one name.
    (digits.len() == format!("{n:06}").len()).then_some(n)
}

/// Classifies a directory entry; `None` for files Strata does not own.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        LOCK_FILE => return Some(FileKind::Lock),
        CURRENT_FILE => return Some(FileKind::Current),
        CURRENT_TEMP_FILE => return Some(FileKind::CurrentTemp),
        _ => {}
    }
    if let Some(n) = number_between(name, "wal-", ".log") {
        return Some(FileKind::Wal(n));
    }
    if let Some(n) = number_between(name, "table-", ".sst") {
        return Some(FileKind::Table(n));
    }
    number_between(name, "MANIFEST-", "").map(FileKind::Manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [0, 1, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(parse_file_name(&wal_file_name(n)), Some(FileKind::Wal(n)));
            assert_eq!(
                parse_file_name(&table_file_name(n)),
                Some(FileKind::Table(n))
            );
            assert_eq!(
                parse_file_name(&manifest_file_name(n)),
                Some(FileKind::Manifest(n))
            );
        }
        assert_eq!(parse_file_name("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse_file_name("LOCK"), Some(FileKind::Lock));
        assert_eq!(parse_file_name("wal-.log"), None);
        assert_eq!(parse_file_name("wal-12x.log"), None);
        // One number, one name: other spellings are not ours.
        assert_eq!(parse_file_name("wal-1.log"), None);
        assert_eq!(parse_file_name("MANIFEST-0000001"), None);
        assert_eq!(parse_file_name("table-00000012.sst"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
    }
}
