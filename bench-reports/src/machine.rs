//! What a report was measured on: cores, memory and disk from `/proc` and
//! `/sys`, the commit from `git rev-parse`. Every probe degrades to
//! "unknown" rather than failing: a report is still worth writing.

use std::path::Path;
use std::process::Command;

/// The machine a report describes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MachineInfo {
    /// Logical CPUs listed in /proc/cpuinfo.
    pub cores: usize,
    /// The first `model name` in /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` from /proc/meminfo, in bytes.
    pub memory_bytes: u64,
    /// The kernel release, from /proc/sys/kernel/osrelease.
    pub kernel: String,
    /// The disk holding `disk_probe_path`: device, file system, rotational
    /// flag and size as the kernel reports them.
    pub disk: String,
}

impl MachineInfo {
    /// Reads /proc and /sys; `disk_path` selects which mount to describe.
    pub fn probe(disk_path: &Path) -> MachineInfo {
        let cpuinfo = read("/proc/cpuinfo");
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_string(), |(_, v)| v.trim().to_string());
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        MachineInfo {
            cores,
            cpu_model,
            memory_bytes,
            kernel,
            disk: describe_disk(disk_path),
        }
    }

    /// A short name for report directories, e.g. `2c-24g`.
    pub fn slug(&self) -> String {
        let gib = (self.memory_bytes as f64 / (1u64 << 30) as f64).round() as u64;
        format!("{}c-{}g", self.cores, gib)
    }

    /// One Markdown line.
    pub fn describe(&self) -> String {
        format!(
            "{} logical cores ({}), {:.1} GiB memory, disk: {}, Linux {}",
            self.cores,
            self.cpu_model,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.disk,
            if self.kernel.is_empty() {
                "unknown"
            } else {
                &self.kernel
            }
        )
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Finds the longest mount point containing `path` in /proc/mounts and
/// describes its device from /sys/block.
fn describe_disk(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = read("/proc/mounts");
    let best = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?, f.next()?))
        })
        .filter(|(_, mnt, _)| path.starts_with(mnt))
        .max_by_key(|(_, mnt, _)| mnt.len());
    let Some((device, mount, fstype)) = best else {
        return "unknown".to_string();
    };
    let mut out = format!("{device} ({fstype} on {mount})");
    if let Some(name) = device.strip_prefix("/dev/") {
        // A partition such as vda1 belongs to the block device vda.
        let block = (1..=name.len())
            .rev()
            .map(|n| &name[..n])
            .find(|b| Path::new(&format!("/sys/block/{b}")).exists());
        if let Some(block) = block {
            let sys = format!("/sys/block/{block}");
            let rotational = read(&format!("{sys}/queue/rotational"));
            let sectors: u64 = read(&format!("{sys}/size")).trim().parse().unwrap_or(0);
            let model = read(&format!("{sys}/device/model")).trim().to_string();
            out.push_str(&format!(
                ", {:.0} GiB, rotational={}",
                (sectors * 512) as f64 / (1u64 << 30) as f64,
                rotational.trim()
            ));
            if !model.is_empty() {
                out.push_str(&format!(", model {model}"));
            }
            if block.starts_with("vd") {
                out.push_str(" (virtio virtual disk)");
            }
        }
    }
    out
}

/// `git rev-parse HEAD` in `repo`, with `-dirty` when tracked files differ.
pub fn git_commit(repo: &Path) -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(sha) if !sha.is_empty() => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{sha}-dirty")
            } else {
                sha
            }
        }
        _ => "unknown (not a git checkout)".to_string(),
    }
}

/// Today's UTC date as `YYYY-MM-DD` (civil-from-days on the Unix day count).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date((secs / 86_400) as i64)
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01.
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(19_782), "2024-02-29");
        assert_eq!(civil_date(-1), "1969-12-31");
    }

    #[test]
    fn probe_reads_this_machine() {
        let m = MachineInfo::probe(Path::new("/"));
        assert!(m.cores >= 1, "{m:?}");
        assert!(m.memory_bytes > 0, "{m:?}");
        assert_ne!(m.disk, "unknown", "{m:?}");
        assert!(m.slug().contains('c'));
        assert!(m.describe().contains("logical cores"));
    }
}
