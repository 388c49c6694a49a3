//! Bad input: each failure names the revision (or the file, or the target)
//! and leaves the database exactly as it was before the failing revision.

use std::fs;

use crate::support::{TestProject, fixtures};

const BASE: &str = "base00000001";
const BAD: &str = "bad000000002";

/// A project whose first revision creates and fills a table; applies it and
/// returns the dump to compare against after the failure.
fn project_with_base() -> (TestProject, String) {
    let p = TestProject::new();
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE kept (id INTEGER PRIMARY KEY, note TEXT);\n\
         INSERT INTO kept (note) VALUES ('one'), ('two');\n",
        "DROP TABLE kept;\n",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![BASE]);
    let dump = p.dump();
    (p, dump)
}

fn assert_unchanged(p: &TestProject, before: &str) {
    assert_eq!(p.dump(), before, "the database changed");
    assert_eq!(p.versions(), vec![BASE]);
}

fn upgrade_fails_with(p: &TestProject, before: &str, expected: &[&str]) -> String {
    let stderr = p.fails(&["upgrade", "head"]);
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
    assert_unchanged(p, before);
    stderr
}

#[test]
fn a_guest_that_panics_is_rolled_back_and_its_message_shown() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "panic", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD} crashed"),
            "misbehave: deliberate panic",
            "as it was before revision",
        ],
    );
}

#[test]
fn a_guest_that_loops_forever_is_stopped_at_the_time_limit() {
    let (p, before) = project_with_base();
    p.set_limits(1, 256);
    p.misbehave(BAD, Some(BASE), "loop", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD} ran past its time limit"),
            "timeout_seconds",
        ],
    );
}

#[test]
fn a_guest_that_allocates_without_end_is_stopped_at_the_memory_limit() {
    let (p, before) = project_with_base();
    p.set_limits(60, 32);
    p.misbehave(BAD, Some(BASE), "alloc", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD} exceeded its memory limit of 32 MiB"),
            "memory_limit_mib",
        ],
    );
}

#[test]
fn a_guest_that_returns_an_error_is_rolled_back() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "err", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &[&format!(
            "revision {BAD} failed: misbehave: deliberate error"
        )],
    );
}

#[test]
fn a_failed_statement_rolls_back_even_when_the_guest_ignores_it() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "bad-sql", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD} failed"),
            "no such table",
            "INSERT INTO no_such_table",
        ],
    );
    assert!(
        !p.has_table("misbehave_partial"),
        "the statement before the failure was rolled back"
    );
}

#[test]
fn a_failed_statement_the_guest_propagates_names_the_statement() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "bad-sql-propagate", "ok");
    upgrade_fails_with(
        &p,
        &before,
        &["INSERT INTO no_such_table", "the revision returned"],
    );
}

#[test]
fn a_sql_revision_whose_second_statement_fails_leaves_nothing_of_the_first() {
    let (p, before) = project_with_base();
    p.sql_revision(
        BAD,
        Some(BASE),
        "INSERT INTO kept (note) VALUES ('three');\nINSERT INTO missing_table VALUES (1);\n",
        "",
    );
    let stderr = upgrade_fails_with(
        &p,
        &before,
        &[&format!("revision {BAD} failed"), "missing_table"],
    );
    // Said once: the error's causes add only what its message lacks.
    assert_eq!(
        stderr.matches(&format!("revision {BAD} failed")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_failing_downgrade_is_rolled_back_and_the_revision_stays_applied() {
    let p = TestProject::new();
    p.sql_revision(BASE, None, "CREATE TABLE kept (x);", "DROP TABLE kept;");
    p.misbehave(BAD, Some(BASE), "ok", "err");
    p.ok(&["upgrade", "head"]);
    let before = p.dump();
    let stderr = p.fails(&["downgrade", "base"]);
    assert!(
        stderr.contains(&format!("revision {BAD} failed")),
        "{stderr}"
    );
    assert_eq!(p.dump(), before);
    assert_eq!(p.versions(), vec![BAD]);
}

#[test]
fn a_file_that_is_not_a_component_is_refused_before_anything_runs() {
    let (p, before) = project_with_base();
    let dir = p.misbehave(BAD, Some(BASE), "ok", "ok");
    fs::write(
        dir.join("revision.wasm"),
        "this is a text file, not WebAssembly",
    )
    .unwrap();
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD}"),
            "revision.wasm is not a WebAssembly component",
            "aludel build",
        ],
    );
}

#[test]
fn a_component_of_the_wrong_world_is_refused() {
    let (p, before) = project_with_base();
    p.component_revision(BAD, Some(BASE), &fixtures().not_a_revision, "");
    upgrade_fails_with(
        &p,
        &before,
        &[
            &format!("revision {BAD}"),
            "wrong world",
            "aludel:migration/revision@0.2.0",
        ],
    );
}

#[test]
fn a_revision_toml_without_a_message_names_the_file_and_the_field() {
    let (p, before) = project_with_base();
    let dir = p.sql_revision(BAD, Some(BASE), "CREATE TABLE t (x);", "");
    fs::write(
        dir.join("revision.toml"),
        format!("id = \"{BAD}\"\nparents = [\"{BASE}\"]\nplugin = \"sql\"\n"),
    )
    .unwrap();
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("versions/{BAD}_sql/revision.toml")),
        "{stderr}"
    );
    assert!(stderr.contains("message"), "{stderr}");
    assert_unchanged(&p, &before);
}

#[test]
fn a_malformed_revision_toml_names_the_file_and_the_line() {
    let (p, before) = project_with_base();
    let dir = p.sql_revision(BAD, Some(BASE), "CREATE TABLE t (x);", "");
    fs::write(
        dir.join("revision.toml"),
        format!("id = \"{BAD}\"\nparents = \"{BASE}\"\nmessage = \"m\"\nplugin = \"sql\"\n"),
    )
    .unwrap();
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("versions/{BAD}_sql/revision.toml:2")),
        "{stderr}"
    );
    assert!(stderr.contains("parents"), "{stderr}");
    assert_unchanged(&p, &before);
}

#[test]
fn an_unknown_target_is_named_and_nothing_runs() {
    let (p, before) = project_with_base();
    p.sql_revision(BAD, Some(BASE), "CREATE TABLE t (x);", "DROP TABLE t;");
    let stderr = p.fails(&["upgrade", "feedface0000"]);
    assert!(stderr.contains("feedface0000"), "{stderr}");
    assert_unchanged(&p, &before);
}

#[test]
fn a_database_url_that_cannot_connect_says_where_the_url_came_from() {
    let p = TestProject::new();
    p.sql_revision(BASE, None, "CREATE TABLE t (x);", "");
    let stderr = p.fails(&[
        "upgrade",
        "head",
        "--url",
        "sqlite:///nonexistent-dir/sub/x.db",
    ]);
    assert!(
        stderr.contains("cannot connect to sqlite:///nonexistent-dir/sub/x.db"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--url, DATABASE_URL or [database] url"),
        "{stderr}"
    );
    let stderr = p.fails(&["upgrade", "head", "--url", "oracle://db.example/x"]);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

#[test]
fn a_password_in_the_url_is_never_printed_whatever_its_form() {
    let p = TestProject::new();
    // Port 1 refuses at once; the error and the -v log name the URL.
    for url in [
        "postgres://postgres:hunter2@127.0.0.1:1/x",
        "postgres://postgres@127.0.0.1:1/x?password=hunter2",
        "mysql://root:hun/ter2@127.0.0.1:1/x",
    ] {
        let stderr = p.fails(&["-v", "current", "--url", url]);
        assert!(stderr.contains("cannot connect to"), "{stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("ter2"),
            "{url}: {stderr}"
        );
    }
}

#[test]
fn the_steps_before_a_failure_stay_committed_and_are_reported() {
    let p = TestProject::new();
    p.sql_revision(BASE, None, "CREATE TABLE kept (x);", "DROP TABLE kept;");
    p.misbehave(BAD, Some(BASE), "err", "ok");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("committed earlier in this run: {BASE}")),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec![BASE]);
    assert!(p.has_table("kept"));
}

#[test]
fn a_fifo_in_a_revision_directory_is_refused_by_name_instead_of_hanging_the_run() {
    let p = TestProject::new();
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE kept (x INTEGER);",
        "DROP TABLE kept;",
    );
    p.ok(&["upgrade", "head"]);
    let dir = p.sql_revision(
        "fa0000000002",
        Some(BASE),
        "CREATE TABLE never (x INTEGER);",
        "DROP TABLE never;",
    );
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo made the FIFO");
    let before = p.dump();
    // A regression would block on opening the FIFO: the timeout turns it
    // into a failure instead of a hung test run.
    let out = assert_cmd::Command::from_std(p.command())
        .args(["upgrade", "head"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("aludel runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the upgrade must fail: {stderr}");
    assert!(
        stderr.contains("pipe"),
        "the error names the file: {stderr}"
    );
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert_unchanged(&p, &before);
    assert_eq!(p.versions(), vec![BASE]);
}

#[test]
fn aludel_build_hands_cargo_no_database_url_or_secret() {
    use std::os::unix::fs::PermissionsExt;

    let p = TestProject::new();
    p.ok(&["revision", "-m", "built natively", "--kind", "rust"]);
    // A stand-in for cargo that records the environment it was given: what
    // a revision's build.rs would see.
    let bin = p.root().join("fake-bin");
    fs::create_dir_all(&bin).unwrap();
    let dump = p.root().join("build-env.txt");
    let cargo = bin.join("cargo");
    fs::write(
        &cargo,
        format!("#!/bin/sh\nenv > '{}'\nexit 3\n", dump.display()),
    )
    .unwrap();
    fs::set_permissions(&cargo, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = p
        .command()
        .args(["build"])
        .env("PATH", path)
        .env("DATABASE_URL", "postgres://app:hunter2@db.example/app")
        .env("PGPASSWORD", "hunter2")
        .env("DEPLOY_TOKEN", "hunter2")
        .output()
        .expect("aludel runs");
    assert!(!out.status.success(), "the stand-in cargo fails the build");
    let env = fs::read_to_string(&dump).expect("the stand-in cargo ran");
    assert!(env.contains("PATH="), "{env}");
    assert!(
        !env.contains("hunter2"),
        "a secret reached the build:\n{env}"
    );
    assert!(
        !env.lines().any(|l| l.starts_with("ALUDEL_")),
        "aludel's settings reached the build:\n{env}"
    );
}
