//! The library as a program embedding aludel uses it, and the promise that
//! only the verbs that run revisions start a WebAssembly engine.

use std::path::PathBuf;
use std::process::Command;

use crate::support::TestProject;

/// The debug line `Runtime::new` writes.
const ENGINE_STARTS: &str = "starting the WebAssembly engine";

/// `host/examples/embed.rs`, built by `cargo test` beside the test binary.
fn embed_example() -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let profile = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("the test binary sits in <target>/<profile>/deps");
    let exe = profile
        .join("examples")
        .join(format!("embed{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.exists(),
        "{} is missing: `cargo test` builds the examples; run it without `--test`",
        exe.display()
    );
    exe
}

#[test]
fn a_program_embedding_aludel_upgrades_to_head_under_the_lock_and_says_what_it_applied() {
    let p = TestProject::new();
    p.sql_revision(
        "e0000000000a",
        None,
        "CREATE TABLE embedded (id INTEGER PRIMARY KEY);\n",
        "DROP TABLE embedded;\n",
    );
    p.sql_revision(
        "e0000000000b",
        Some("e0000000000a"),
        "INSERT INTO embedded (id) VALUES (1);\n",
        "DELETE FROM embedded;\n",
    );
    let run = |url: &str| {
        let out = Command::new(embed_example())
            .arg(p.root().join("aludel.toml"))
            .arg(url)
            .env("ALUDEL_CACHE_DIR", p.cache_dir())
            .output()
            .expect("the example runs");
        assert!(
            out.status.success(),
            "the example failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run(&p.url());
    assert_eq!(
        first,
        "upgrade e0000000000a\nupgrade e0000000000b\nheads: e0000000000b\n"
    );
    assert_eq!(
        p.query("SELECT id FROM embedded"),
        vec![vec!["1".to_string()]]
    );
    assert_eq!(p.versions(), vec!["e0000000000b"]);
    // The same audit log as the binary writes.
    let outcomes = p.query("SELECT outcome FROM aludel_version_history ORDER BY id");
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    // A second run applies nothing.
    assert_eq!(run(&p.url()), "heads: e0000000000b\n");
    // The lock file the binary's runs use lies beside the database.
    p.ok(&["upgrade", "head"]);
}

#[test]
fn only_the_verbs_that_run_revisions_start_a_webassembly_engine() {
    let p = TestProject::new();
    let (up, down) = ("CREATE TABLE probe (id INTEGER);", "DROP TABLE probe;");
    let dir = p.sql_revision("f0000000000a", None, up, down);
    // A revision that fails part-way outside a transaction, so that
    // `resolve` has a failed state to end.
    TestProject::outside_a_transaction(&p.misbehave(
        "f0000000000b",
        Some("f0000000000a"),
        "bad-sql",
        "ok",
    ));
    let upgrade = p.aludel(&["-v", "upgrade", "head"]);
    assert!(!upgrade.success, "the second revision fails part-way");
    assert!(
        upgrade.stderr.contains(ENGINE_STARTS),
        "upgrade runs revisions, so it starts the engine (and the probe works):\n{}",
        upgrade.stderr
    );
    assert_eq!(p.versions(), vec!["f0000000000a"]);
    p.query("DROP TABLE misbehave_partial");
    let no_engine = |args: &[&str]| {
        let mut argv = vec!["-v"];
        argv.extend_from_slice(args);
        let run = p.aludel(&argv);
        assert!(run.success, "aludel {}: {}", args.join(" "), run.stderr);
        assert!(
            !run.stderr.contains(ENGINE_STARTS),
            "aludel {} started a WebAssembly engine:\n{}",
            args.join(" "),
            run.stderr
        );
    };
    no_engine(&["resolve", "f0000000000b", "--rolled-back"]);
    no_engine(&["verify"]);
    // Change the applied revision so that `accept` has something to record.
    std::fs::write(dir.join("downgrade.sql"), "DROP TABLE IF EXISTS probe;\n")
        .expect("edit downgrade.sql");
    for args in [
        &["accept", "f0000000000a"][..],
        &["verify"],
        &["show", "f0000000000a", "--stored"],
        &["current"],
        &["history", "--indicate-current"],
        &["log"],
        &["stamp", "base"],
        &["stamp", "head"],
    ] {
        no_engine(args);
    }
}
