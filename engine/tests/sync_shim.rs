//! The engine synchronises and reads the clock only through `src/sync.rs`
//! (so that a scheduler can replace those primitives in one place): no
//! other engine source file, its unit tests included, names the `std`
//! originals.

use std::path::{Path, PathBuf};

/// What only `src/sync.rs` may name.
const FORBIDDEN: &[&str] = &["std::sync", "std::thread", "std::time::Instant"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The forbidden names `text` uses, outside line comments.
fn violations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for name in FORBIDDEN {
            if code.contains(name) {
                found.push(format!("line {}: {name}", n + 1));
            }
        }
    }
    found
}

#[test]
fn only_the_shim_names_std_synchronisation_or_the_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut bad = Vec::new();
    for f in files {
        if f.ends_with("src/sync.rs") {
            continue;
        }
        for v in violations(&std::fs::read_to_string(&f).unwrap()) {
            bad.push(format!("{}: {v}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "use crate::sync instead:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_plain_and_grouped_imports_but_not_comments() {
    assert_eq!(violations("use std::sync::Mutex;").len(), 1);
    assert_eq!(violations("use std::sync::{Arc, RwLock};").len(), 1);
    assert_eq!(violations("    std::thread::sleep(d);").len(), 1);
    assert!(violations("use crate::sync::{Arc, Weak};").is_empty());
    assert!(violations("// std::thread in a comment").is_empty());
}
