//! Revisions that attack the database side of the sandbox (issue 11), on
//! SQLite: plain SQL revisions (the sql plugin sends the whole file through
//! `execute-script`) that try to end or restart aludel's transaction or to
//! reach files. Each must fail naming the statement and why, and leave the
//! database, the version table and the audit log as they were.

use crate::support::{BASE, Backend, HOSTILE, TestProject};

const TRANSACTION: &str = "a revision cannot end or restart the transaction aludel runs it in";
const FILES: &str = "a revision cannot attach files";

/// Adds `upgrade` as revision HOSTILE (after BASE), runs `args`, and checks
/// that it failed with every one of `expected` in its error and changed
/// nothing; returns the error.
fn refused_with(p: &TestProject, args: &[&str], expected: &[&str]) -> String {
    let dump = p.dump();
    let versions = p.versions();
    let applied_before = p.applied();
    assert_eq!(versions, vec![BASE]);

    let stderr = p.fails(args);
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
    assert_eq!(p.dump(), dump, "the database changed:\n{stderr}");
    assert_eq!(p.versions(), versions, "the version table changed");
    assert_eq!(p.applied(), applied_before, "the audit log says applied");
    assert!(!p.applied().contains(&HOSTILE.to_string()));
    stderr
}

fn hostile(p: &TestProject, upgrade: &str) -> std::path::PathBuf {
    p.sql_revision(HOSTILE, Some(BASE), upgrade, "")
}

#[test]
fn a_commit_mid_revision_then_a_failure_commits_nothing() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(
        &p,
        "INSERT INTO t (x) VALUES (2);\nCOMMIT;\nINSERT INTO t (x) VALUES (3);\n\
         SELECT * FROM nosuchtable;\n",
    );
    let stderr = refused_with(
        &p,
        &["upgrade", "head"],
        &["COMMIT was refused", TRANSACTION],
    );
    assert!(!stderr.contains("nosuchtable ("), "{stderr}");
    assert_eq!(p.query("SELECT x FROM t ORDER BY x"), vec![vec!["1"]]);
}

#[test]
fn a_rollback_then_writes_is_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(
        &p,
        "ROLLBACK;\nINSERT INTO t (x) VALUES (2);\nUPDATE t SET x = 0;\n",
    );
    refused_with(
        &p,
        &["upgrade", "head"],
        &["ROLLBACK was refused", TRANSACTION],
    );
}

#[test]
fn a_begin_is_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "INSERT INTO t (x) VALUES (2);\nBEGIN;\n");
    refused_with(
        &p,
        &["upgrade", "head"],
        &["BEGIN was refused", TRANSACTION],
    );
}

#[test]
fn an_end_is_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "INSERT INTO t (x) VALUES (2);\nEND;\nBEGIN;\n");
    // END is SQLite's COMMIT, and its authorizer says so.
    refused_with(
        &p,
        &["upgrade", "head"],
        &["COMMIT was refused", TRANSACTION],
    );
}

#[test]
fn a_savepoint_and_a_release_are_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(
        &p,
        "SAVEPOINT mine;\nINSERT INTO t (x) VALUES (2);\nRELEASE mine;\n",
    );
    refused_with(
        &p,
        &["upgrade", "head"],
        &["SAVEPOINT mine was refused", TRANSACTION],
    );

    // RELEASE alone (of a savepoint that does not exist) is refused as such.
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "INSERT INTO t (x) VALUES (2);\nRELEASE sp;\n");
    refused_with(
        &p,
        &["upgrade", "head"],
        &["RELEASE sp was refused", TRANSACTION],
    );
}

#[test]
fn a_dry_run_with_commit_and_begin_keeps_nothing() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "INSERT INTO t (x) VALUES (2);\nCOMMIT;\nBEGIN;\n");
    refused_with(
        &p,
        &["upgrade", "head", "--dry-run"],
        &["COMMIT was refused", TRANSACTION],
    );
}

#[test]
fn an_attach_creates_no_file() {
    let p = TestProject::with_base(Backend::Sqlite);
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let file = elsewhere.path().join("outside.db");
    hostile(
        &p,
        &format!(
            "ATTACH DATABASE '{}' AS x;\nCREATE TABLE x.stolen (y INTEGER);\n",
            file.display()
        ),
    );
    refused_with(&p, &["upgrade", "head"], &["ATTACH of '", FILES]);
    assert!(!file.exists(), "ATTACH created {}", file.display());
}

#[test]
fn a_detach_is_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "DETACH DATABASE temp;\n");
    refused_with(
        &p,
        &["upgrade", "head"],
        &["DETACH temp was refused", FILES],
    );
}

/// Inside aludel's transaction SQLite refuses VACUUM of its own; outside
/// one (`transaction = "none"`) only the guard stands in its way.
#[test]
fn a_vacuum_into_outside_a_transaction_creates_no_file() {
    let p = TestProject::with_base(Backend::Sqlite);
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let copy = elsewhere.path().join("copy.db");
    let dir = hostile(&p, &format!("VACUUM INTO '{}';\n", copy.display()));
    TestProject::outside_a_transaction(&dir);
    refused_with(&p, &["upgrade", "head"], &["ATTACH of '", FILES]);
    assert!(!copy.exists(), "VACUUM INTO created {}", copy.display());

    // In a transaction it is refused all the same, and writes no file.
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, &format!("VACUUM INTO '{}';\n", copy.display()));
    p.fails(&["upgrade", "head"]);
    assert!(!copy.exists(), "VACUUM INTO created {}", copy.display());
}

#[test]
fn a_plain_vacuum_outside_a_transaction_is_refused() {
    let p = TestProject::with_base(Backend::Sqlite);
    let dir = hostile(&p, "VACUUM;\n");
    TestProject::outside_a_transaction(&dir);
    refused_with(&p, &["upgrade", "head"], &["(VACUUM) was refused", FILES]);
}

#[test]
fn load_extension_is_unavailable() {
    let p = TestProject::with_base(Backend::Sqlite);
    hostile(&p, "SELECT load_extension('/nonexistent/libevil.so');\n");
    refused_with(&p, &["upgrade", "head"], &["not authorized"]);
}

/// What the guard must not stop: DDL, DML, a trigger whose body is a
/// `BEGIN ... END` block, a dry run, and a revision outside a transaction.
#[test]
fn ordinary_revisions_still_run_under_the_guard() {
    let p = TestProject::with_base(Backend::Sqlite);
    p.sql_revision(
        "ordinary0001",
        Some(BASE),
        "CREATE TABLE audit (x INTEGER);\n\
         CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN\n\
           INSERT INTO audit (x) VALUES (NEW.x);\n\
         END;\n\
         INSERT INTO t (x) VALUES (2);\n\
         CREATE TEMP TABLE scratch (y INTEGER);\n",
        "DROP TRIGGER t_audit;\nDROP TABLE audit;\nDELETE FROM t WHERE x = 2;\n",
    );
    let dry = p.ok(&["upgrade", "head", "--dry-run"]);
    assert!(dry.contains("ordinary0001"), "{dry}");
    assert_eq!(p.versions(), vec![BASE]);
    assert!(!p.has_table("audit"));

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["ordinary0001"]);
    assert_eq!(p.query("SELECT x FROM audit"), vec![vec!["2"]]);

    let dir = p.sql_revision(
        "outside00001",
        Some("ordinary0001"),
        "CREATE TABLE outside (z INTEGER);\nINSERT INTO t (x) VALUES (3);\n",
        "DROP TABLE outside;\n",
    );
    TestProject::outside_a_transaction(&dir);
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["outside00001"]);
    assert_eq!(
        p.query("SELECT x FROM audit ORDER BY x"),
        vec![vec!["2"], vec!["3"]]
    );

    p.ok(&["downgrade", BASE]);
    assert_eq!(p.versions(), vec![BASE]);
    assert!(!p.has_table("audit"));
    assert_eq!(
        p.applied(),
        vec![BASE, "ordinary0001", "outside00001"],
        "the log records each apply"
    );
}
