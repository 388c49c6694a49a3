//! The compiled-component cache: a second run compiles nothing, and a
//! corrupt or foreign cache file is recompiled rather than trusted.

use std::fs;

use crate::support::TestProject;

fn project() -> TestProject {
    let p = TestProject::new();
    p.sql_revision("cache0000001", None, "CREATE TABLE a (x);", "DROP TABLE a;");
    p.misbehave("cache0000002", Some("cache0000001"), "ok", "ok");
    p
}

fn verbose(p: &TestProject, args: &[&str]) -> String {
    let run = p.command().arg("-v").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stderr}");
    stderr
}

fn cache_files(p: &TestProject) -> Vec<std::path::PathBuf> {
    fs::read_dir(p.cache_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn a_second_upgrade_compiles_nothing() {
    let p = project();
    let first = verbose(&p, &["upgrade", "head"]);
    assert_eq!(first.matches("compiled component").count(), 2, "{first}");
    assert_eq!(cache_files(&p).len(), 2);

    verbose(&p, &["downgrade", "base"]);
    let second = verbose(&p, &["upgrade", "head"]);
    assert!(!second.contains("compiled component"), "{second}");
    assert_eq!(second.matches("loaded from cache").count(), 2, "{second}");
}

#[test]
fn a_corrupted_cache_file_is_recompiled_not_trusted() {
    let p = project();
    verbose(&p, &["upgrade", "head"]);
    verbose(&p, &["downgrade", "base"]);
    for file in cache_files(&p) {
        let mut bytes = fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        fs::write(&file, bytes).unwrap();
    }
    let run = verbose(&p, &["upgrade", "head"]);
    assert_eq!(run.matches("is corrupt").count(), 2, "{run}");
    assert_eq!(run.matches("compiled component").count(), 2, "{run}");
    assert_eq!(p.versions(), vec!["cache0000002"]);

    // The rewritten files are good again.
    verbose(&p, &["downgrade", "base"]);
    let again = verbose(&p, &["upgrade", "head"]);
    assert!(!again.contains("compiled component"), "{again}");
}

#[test]
fn a_cache_file_aludel_did_not_write_is_recompiled() {
    let p = project();
    verbose(&p, &["upgrade", "head"]);
    verbose(&p, &["downgrade", "base"]);
    for file in cache_files(&p) {
        fs::write(&file, b"\x7fELF pretending to be native code").unwrap();
    }
    let run = verbose(&p, &["upgrade", "head"]);
    assert_eq!(run.matches("was not written by aludel").count(), 2, "{run}");
    assert_eq!(p.versions(), vec!["cache0000002"]);
}
