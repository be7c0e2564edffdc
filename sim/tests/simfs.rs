//! SimFs unit tests: durability rules, crash modes, torn writes, directory
//! operation loss, sticky fsync failure, media faults, locks, determinism.

use std::io;
use std::path::Path;

use strata::fs::{FileSystem, OpenMode};
use strata_sim::{FaultRates, Rng, SimFs};

const SEEDS: u64 = 200;

fn p(s: &str) -> &Path {
    Path::new(s)
}

/// A disk with `/d/f` created and durably named, holding `synced` durably.
fn disk_with_file(synced: &[u8]) -> SimFs {
    let fs = SimFs::new(1);
    fs.create_dir_all(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    let f = fs.open(p("/d/f"), OpenMode::CreateNew).unwrap();
    f.write_at(synced, 0).unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(p("/d")).unwrap();
    fs
}

#[test]
fn synced_data_survives_every_crash_and_unsynced_data_sometimes_does_not() {
    let (mut lost_all, mut kept_all, mut partial) = (0, 0, 0);
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"durable!");
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        // Three unsynced appends at non-overlapping places.
        f.write_at(b"AAAA", 8).unwrap();
        f.write_at(b"BBBB", 12).unwrap();
        f.write_at(b"CCCC", 16).unwrap();
        assert_eq!(f.read_all().unwrap(), b"durable!AAAABBBBCCCC");
        fs.crash(&mut Rng::new(seed));
        let after = fs.contents(p("/d/f")).expect("durably named file exists");
        assert_eq!(&after[..8], b"durable!", "seed {seed}: synced bytes lost");
        match after.len() {
            8 => lost_all += 1,
            20 if after == b"durable!AAAABBBBCCCC" => kept_all += 1,
            _ => partial += 1,
        }
        // Old handles belong to the dead process.
        assert!(f.read_all().is_err());
    }
    assert!(
        lost_all > 0 && kept_all > 0 && partial > 0,
        "{lost_all} {kept_all} {partial}"
    );
}

#[test]
fn own_unsynced_writes_visible_across_close_and_reopen() {
    let fs = disk_with_file(b"");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.append(b"hello").unwrap();
    drop(f);
    let g = fs.open(p("/d/f"), OpenMode::Read).unwrap();
    assert_eq!(g.read_all().unwrap(), b"hello");
    assert!(g.write_at(b"x", 0).is_err(), "read-only handle wrote");
    let mut buf = [0u8; 4];
    assert_eq!(
        g.read_at(&mut buf, 3).unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    // A process restart keeps the page cache.
    fs.restart_process();
    assert_eq!(fs.contents(p("/d/f")).unwrap(), b"hello");
    assert!(g.read_all().is_err(), "handle survived its process");
}

#[test]
fn directory_entries_are_volatile_until_sync_dir() {
    let (mut lost, mut kept) = (0, 0);
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"x");
        let f = fs.open(p("/d/new"), OpenMode::CreateNew).unwrap();
        f.append(b"data").unwrap();
        f.sync_all().unwrap();
        fs.rename(p("/d/f"), p("/d/renamed")).unwrap();
        fs.crash(&mut Rng::new(seed));
        let names = fs.list_dir(p("/d")).unwrap();
        // Dir ops are kept as a prefix: the rename never lands without the create.
        match names.as_slice() {
            [f] if f == "f" => lost += 1,
            [f, n] if f == "f" && n == "new" => {}
            [n, r] if n == "new" && r == "renamed" => kept += 1,
            other => panic!("seed {seed}: impossible namespace {other:?}"),
        }
        if let Some(c) = fs.contents(p("/d/new")) {
            assert_eq!(c, b"data", "synced file content");
        }
    }
    assert!(lost > 0 && kept > 0);

    // With sync_dir, always there.
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"x");
        let f = fs.open(p("/d/new"), OpenMode::CreateNew).unwrap();
        f.append(b"data").unwrap();
        f.sync_all().unwrap();
        fs.remove_file(p("/d/f")).unwrap();
        fs.sync_dir(p("/d")).unwrap();
        fs.crash(&mut Rng::new(seed));
        assert_eq!(fs.list_dir(p("/d")).unwrap(), vec!["new".to_string()]);
        assert_eq!(fs.contents(p("/d/new")).unwrap(), b"data");
    }
}

#[test]
fn unsynced_directory_is_lost_with_its_files() {
    let mut lost = 0;
    for seed in 0..SEEDS {
        let fs = SimFs::new(seed);
        fs.create_dir_all(p("/a/b")).unwrap();
        let f = fs.open(p("/a/b/f"), OpenMode::CreateNew).unwrap();
        f.append(b"1").unwrap();
        f.sync_all().unwrap();
        fs.sync_dir(p("/a/b")).unwrap();
        fs.crash(&mut Rng::new(seed));
        if !fs.exists(p("/a")).unwrap() {
            lost += 1;
            assert!(!fs.exists(p("/a/b/f")).unwrap());
        }
    }
    assert!(lost > 0);
}

#[test]
fn set_len_is_volatile_until_synced() {
    let mut restored = 0;
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"0123456789");
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        f.set_len(4).unwrap();
        assert_eq!(f.len().unwrap(), 4);
        fs.crash(&mut Rng::new(seed));
        let c = fs.contents(p("/d/f")).unwrap();
        assert!(c == b"0123" || c == b"0123456789", "{c:?}");
        restored += usize::from(c.len() == 10);
    }
    assert!(restored > 0);
    let fs = disk_with_file(b"0123456789");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.set_len(4).unwrap();
    f.sync_all().unwrap();
    fs.crash(&mut Rng::new(0));
    assert_eq!(fs.contents(p("/d/f")).unwrap(), b"0123");
}

#[test]
fn crash_at_io_kills_that_call_and_all_later_ones_and_tears_the_write_in_flight() {
    let mut torn = 0;
    for seed in 0..SEEDS {
        let fs = disk_with_file(&[b'o'; 8192]);
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        let n = fs.io_calls();
        fs.crash_at_io(Some(n + 1));
        let new = vec![b'n'; 8192];
        assert!(f.write_at(&new, 0).is_err());
        assert!(fs.is_dead());
        let site = fs.crash_site().unwrap();
        assert_eq!((site.io_call, site.call), (n + 1, "write_at"));
        assert!(f.len().is_err(), "dead process made a call");
        assert!(fs.open(p("/d/f"), OpenMode::Read).is_err());
        assert_eq!(fs.io_calls(), n + 1, "calls after death are not counted");
        let rep = fs.crash(&mut Rng::new(seed));
        let c = fs.contents(p("/d/f")).unwrap();
        assert_eq!(c.len(), 8192);
        if rep.torn_writes == 1 {
            torn += 1;
            // Every 512-byte sector is uniform: all new, all old, zero or garbage;
            // and not every sector is new.
            assert!(c.iter().any(|&b| b != b'n'));
        } else {
            assert_eq!(rep.writes_lost, 1);
            assert!(c.iter().all(|&b| b == b'o'));
        }
        assert!(!fs.is_dead());
    }
    assert!(torn > 0);
}

#[test]
fn torn_writes_produce_old_zero_and_garbage_sectors() {
    let mut total = strata_sim::SimStats::default();
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"");
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        f.write_at(&vec![7u8; 16384], 0).unwrap();
        fs.crash(&mut Rng::new(seed));
        total.add(&fs.stats());
    }
    assert!(total.torn_writes > 0);
    assert!(total.torn_sectors_old > 0);
    assert!(total.torn_sectors_zero > 0);
    assert!(total.torn_sectors_garbage > 0);
    assert!(total.writes_lost > 0 && total.writes_kept > 0);
}

#[test]
fn sticky_fsync_failure_drops_the_unsynced_data_for_good() {
    let fs = disk_with_file(b"base");
    fs.set_faults(FaultRates {
        sync_failure_per_million: 1_000_000,
        ..FaultRates::default()
    });
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.append(b"-lost").unwrap();
    assert!(f.sync_data().is_err());
    // Still visible (the page cache keeps it) ...
    assert_eq!(f.read_all().unwrap(), b"base-lost");
    fs.set_faults_enabled(false);
    // ... and a retried sync "succeeds" without making it durable.
    f.sync_data().unwrap();
    assert_eq!(fs.durable_contents(p("/d/f")).unwrap(), b"base");
    f.append(b"-kept").unwrap();
    f.sync_data().unwrap();
    fs.crash(&mut Rng::new(3));
    assert_eq!(fs.contents(p("/d/f")).unwrap(), b"base\0\0\0\0\0-kept");
    assert_eq!(fs.stats().sync_failures, 1);
}

#[test]
fn media_faults_bit_flips_and_read_errors() {
    let fs = disk_with_file(&[0u8; 64]);
    let f = fs.open(p("/d/f"), OpenMode::Read).unwrap();
    fs.set_faults(FaultRates {
        bit_flip_per_million: 1_000_000,
        ..FaultRates::default()
    });
    for _ in 0..20 {
        let got = f.read_all().unwrap();
        let ones: u32 = got.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 1, "exactly one bit flipped");
    }
    fs.set_faults(FaultRates {
        read_error_per_million: 1_000_000,
        ..FaultRates::default()
    });
    assert!(f.read_all().is_err());
    fs.set_faults(FaultRates {
        transient_per_million: 1_000_000,
        ..FaultRates::default()
    });
    assert!(fs.list_dir(p("/d")).is_err());
    assert!(fs.open(p("/d/g"), OpenMode::CreateNew).is_err());
    fs.set_faults_enabled(false);
    assert!(!fs.exists(p("/d/g")).unwrap(), "failed call had an effect");
    let s = fs.stats();
    assert_eq!((s.bit_flips, s.read_errors, s.transient_errors), (20, 1, 2));
    // Faults never reach the disk.
    assert_eq!(fs.contents(p("/d/f")).unwrap(), vec![0u8; 64]);
}

#[test]
fn locks_exclude_and_release_on_drop_and_on_crash() {
    let fs = disk_with_file(b"");
    let l = fs.lock(p("/d/LOCK")).unwrap();
    assert_eq!(
        fs.lock(p("/d/LOCK")).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    drop(l);
    let l2 = fs.lock(p("/d/LOCK")).unwrap();
    fs.kill();
    fs.crash(&mut Rng::new(0));
    let l3 = fs.lock(p("/d/LOCK")).unwrap();
    drop(l2); // the dead process's guard must not release the new lock
    assert!(fs.lock(p("/d/LOCK")).is_err());
    drop(l3);
    fs.restart_process();
    fs.lock(p("/d/LOCK")).unwrap();
}

#[test]
fn open_modes() {
    let fs = disk_with_file(b"abc");
    assert_eq!(
        fs.open(p("/d/f"), OpenMode::CreateNew).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        fs.open(p("/d/nope"), OpenMode::Read).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(fs.open(p("/nodir/f"), OpenMode::CreateOrOpen).is_err());
    let f = fs.open(p("/d/f"), OpenMode::CreateOrOpen).unwrap();
    assert_eq!(f.read_all().unwrap(), b"abc");
    let f = fs.open(p("/d/f"), OpenMode::CreateTruncate).unwrap();
    assert!(f.is_empty().unwrap());
}

fn scenario(seed: u64) -> (Vec<Vec<u8>>, strata_sim::SimStats) {
    let fs = SimFs::new(seed);
    fs.set_faults(FaultRates {
        transient_per_million: 50_000,
        sync_failure_per_million: 50_000,
        bit_flip_per_million: 50_000,
        read_error_per_million: 50_000,
    });
    let mut rng = Rng::new(seed);
    let _ = fs.create_dir_all(p("/d"));
    for i in 0..300u64 {
        let name = format!("/d/f{}", rng.below(4));
        if let Ok(f) = fs.open(Path::new(&name), OpenMode::CreateOrOpen) {
            let mut buf = vec![0u8; rng.below(9000) as usize];
            rng.fill(&mut buf);
            let _ = f.write_at(&buf, rng.below(4096));
            if rng.coin() {
                let _ = f.sync_data();
            }
            let _ = f.read_all();
        }
        if rng.below(10) == 0 {
            let _ = fs.sync_dir(p("/d"));
        }
        if i % 50 == 49 {
            fs.crash_after(rng.below(3) + 1);
            let _ = fs.open(p("/d/f0"), OpenMode::CreateOrOpen);
            let _ = fs.sync_dir(p("/d"));
            fs.crash(&mut rng);
        }
    }
    let contents = fs.paths().iter().filter_map(|q| fs.contents(q)).collect();
    (contents, fs.stats())
}

#[test]
fn same_seed_same_disk() {
    let a = scenario(42);
    assert_eq!(a, scenario(42));
    assert_ne!(a, scenario(43));
    assert!(a.1.power_losses == 6 && a.1.transient_errors > 0);
}

#[test]
fn without_reordering_only_a_prefix_of_unsynced_writes_survives() {
    let mut seen_partial = false;
    for seed in 0..SEEDS {
        let fs = disk_with_file(b"");
        fs.set_reordering(false);
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        for (i, b) in [b'A', b'B', b'C', b'D'].iter().enumerate() {
            f.write_at(&[*b; 4], i as u64 * 4).unwrap();
        }
        fs.crash(&mut Rng::new(seed));
        let c = fs.contents(p("/d/f")).unwrap();
        // The surviving writes form a prefix (the last one possibly torn,
        // which with 4-byte writes in one sector means: not landed).
        let landed: Vec<bool> = c
            .chunks(4)
            .map(|ch| ch.iter().all(|&x| x != 0 && x == ch[0]))
            .collect();
        let first_gap = landed.iter().position(|l| !l).unwrap_or(landed.len());
        assert!(
            landed[first_gap..].iter().all(|l| !l),
            "seed {seed}: a write survived after a lost one: {c:?}"
        );
        seen_partial |= first_gap > 0 && first_gap < 4;
    }
    assert!(seen_partial);
}

#[test]
fn reseeding_the_fault_stream_repeats_the_faults() {
    let fs = disk_with_file(&[0u8; 8]);
    fs.set_faults(FaultRates {
        transient_per_million: 300_000,
        ..FaultRates::default()
    });
    let pattern = |fs: &SimFs| -> Vec<bool> {
        fs.reseed_faults(99);
        (0..64).map(|_| fs.exists(p("/d/f")).is_ok()).collect()
    };
    let a = pattern(&fs);
    assert_eq!(a, pattern(&fs));
    assert!(a.contains(&true) && a.contains(&false));
}

#[test]
fn damage_at_rest_changes_exactly_the_reported_synced_bytes() {
    use std::path::Path;
    use strata::fs::{FileSystem, OpenMode};
    use strata_sim::{Rng, SimFs};
    for seed in 0..64 {
        let fs = SimFs::new(seed);
        let path = Path::new("/t.sst");
        let f = fs.open(path, OpenMode::CreateNew).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        f.write_at(&data, 0).unwrap();
        f.sync_all().unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        let d = fs
            .damage_at_rest(&mut Rng::new(seed), &|p| p == path)
            .expect("the file qualifies");
        let after = fs.durable_contents(path).unwrap();
        assert_eq!(after.len(), data.len());
        assert_eq!(fs.contents(path).unwrap(), after, "both images change");
        let (lo, hi) = (d.offset as usize, (d.offset + d.len) as usize);
        assert_eq!(&after[..lo], &data[..lo], "{d:?}");
        assert_eq!(&after[hi..], &data[hi..], "{d:?}");
        if d.kind == strata_sim::AtRestKind::BitFlip {
            assert_eq!((after[lo] ^ data[lo]).count_ones(), 1, "{d:?}");
        }
        assert_eq!(fs.stats().at_rest_damage, 1);
    }
}

#[test]
fn a_misdirected_write_moves_one_write_onto_another_and_zeroes_its_own_place() {
    use std::path::Path;
    use strata::fs::{FileSystem, OpenMode};
    use strata_sim::{AtRestKind, Rng, SimFs};
    let mut seen = 0;
    for seed in 0..200 {
        let fs = SimFs::new(seed);
        let paths = [Path::new("/a.log"), Path::new("/b.log")];
        let mut before = Vec::new();
        for (n, path) in paths.iter().enumerate() {
            let f = fs.open(path, OpenMode::CreateNew).unwrap();
            let mut all = Vec::new();
            for w in 0..4u8 {
                // Writes of 100 and 300 bytes, so same-length targets exist.
                let len = if w % 2 == 0 { 100 } else { 300 };
                let chunk = vec![n as u8 * 16 + w + 1; len];
                f.write_at(&chunk, all.len() as u64).unwrap();
                all.extend_from_slice(&chunk);
            }
            f.sync_all().unwrap();
            before.push(all);
        }
        fs.sync_dir(Path::new("/")).unwrap();
        let d = fs
            .damage_at_rest(&mut Rng::new(seed), &|p| paths.contains(&p))
            .expect("the files qualify");
        if d.kind != AtRestKind::Misdirected {
            continue;
        }
        seen += 1;
        let (from, from_at, from_len) =
            d.from.clone().expect("a misdirected write says where from");
        let index = |p: &Path| paths.iter().position(|q| *q == p).unwrap();
        let (src, dst) = (index(&from), index(&d.path));
        let moved = &before[src][from_at as usize..(from_at + from_len) as usize];
        let after_dst = fs.durable_contents(&d.path).unwrap();
        let (lo, hi) = (d.offset as usize, (d.offset + d.len) as usize);
        assert_eq!(&after_dst[lo..hi], &moved[..d.len as usize], "{d:?}");
        assert!(d.len <= from_len && d.offset.is_multiple_of(100), "{d:?}");
        let after_src = fs.durable_contents(&from).unwrap();
        let own = &after_src[from_at as usize..(from_at + from_len) as usize];
        if src != dst || hi <= from_at as usize || lo >= (from_at + from_len) as usize {
            assert!(own.iter().all(|&b| b == 0), "{d:?}");
        }
        // Nothing else changed.
        for (i, path) in paths.iter().enumerate() {
            let now = fs.durable_contents(path).unwrap();
            for (at, (a, b)) in before[i].iter().zip(&now).enumerate() {
                let in_target = i == dst && (lo..hi).contains(&at);
                let in_source =
                    i == src && (from_at as usize..(from_at + from_len) as usize).contains(&at);
                if !in_target && !in_source {
                    assert_eq!(a, b, "{d:?} changed byte {at} of {}", path.display());
                }
            }
        }
    }
    assert!(seen > 10, "{seen} misdirected writes in 200 seeds");
}
