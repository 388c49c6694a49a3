//! Revisions that try to end, restart or leave aludel's transaction on
//! PostgreSQL and MariaDB (issue 11, property 1), the failed state where a
//! rollback cannot undo (MySQL DDL, property 5), and the host's byte caps
//! (property 6). Plain SQL revisions go through `execute-script`; the
//! `hostile` guest sends its statement through the import its args name.
//! Each case asserts the database, the version table and the audit log
//! before and after, and the error text.

use crate::support::{BASE, Backend, HOSTILE, TestProject, fixtures};

const TRANSACTION: &str = "a revision cannot end or restart the transaction aludel runs it in";

/// Runs `args`, checks it failed with every one of `expected` in its error
/// and changed nothing: data, version table, audit log, failed state.
fn refused_with(p: &TestProject, args: &[&str], expected: &[&str]) -> String {
    let dump = p.dump();
    assert_eq!(p.versions(), vec![BASE]);
    let applied_before = p.applied();
    let stderr = p.fails(args);
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
    assert!(
        stderr.contains(&format!(
            "the database is as it was before revision {HOSTILE}"
        )),
        "{stderr}"
    );
    assert_eq!(p.dump(), dump, "the database changed:\n{stderr}");
    assert_eq!(p.versions(), vec![BASE], "the version table changed");
    assert_eq!(p.applied(), applied_before, "the audit log says applied");
    assert_eq!(
        p.failed_revisions(),
        Vec::<String>::new(),
        "a failed state was left"
    );
    assert_eq!(p.query("SELECT x FROM t ORDER BY x"), vec![vec!["1"]]);
    stderr
}

fn sql(p: &TestProject, upgrade: &str) {
    p.sql_revision(HOSTILE, Some(BASE), upgrade, "");
}

/// A `hostile` guest revision sending `sql` through `call`.
fn guest(p: &TestProject, call: &str, sql: &str, after: Option<&str>) {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut args = format!("call = \"{call}\"\nsql = \"{}\"\n", escape(sql));
    if let Some(after) = after {
        args.push_str(&format!("after = \"{}\"\n", escape(after)));
    }
    p.component_revision(HOSTILE, Some(BASE), &fixtures().hostile, &args);
}

#[test]
fn a_commit_mid_revision_then_a_failure_commits_nothing_on_postgresql_and_mariadb() {
    for backend in [Backend::Postgres, Backend::Mysql] {
        let p = TestProject::with_base(backend);
        sql(
            &p,
            "INSERT INTO t (x) VALUES (2);\nCOMMIT;\nINSERT INTO t (x) VALUES (3);\n\
             SELECT * FROM nosuchtable;\n",
        );
        let stderr = refused_with(
            &p,
            &["upgrade", "head"],
            &["COMMIT was refused", TRANSACTION],
        );
        assert!(!stderr.contains("nosuchtable ("), "{backend:?}: {stderr}");
    }
}

#[test]
fn a_dry_run_that_commits_and_begins_again_keeps_nothing_on_postgresql() {
    let p = TestProject::with_base(Backend::Postgres);
    sql(
        &p,
        "INSERT INTO t (x) VALUES (2);\nCOMMIT;\nBEGIN;\nINSERT INTO t (x) VALUES (3);\n",
    );
    refused_with(
        &p,
        &["upgrade", "head", "--dry-run"],
        &["COMMIT was refused", TRANSACTION],
    );
}

#[test]
fn rollbacks_savepoints_and_their_kin_are_refused_on_postgresql_and_mariadb() {
    let cases: &[(Backend, &str, &str)] = &[
        (
            Backend::Postgres,
            "ROLLBACK;\nINSERT INTO t (x) VALUES (2);\n",
            "ROLLBACK was refused",
        ),
        (
            Backend::Mysql,
            "ROLLBACK;\nINSERT INTO t (x) VALUES (2);\n",
            "ROLLBACK was refused",
        ),
        (
            Backend::Postgres,
            "SAVEPOINT s;\nINSERT INTO t (x) VALUES (2);\nRELEASE SAVEPOINT s;\n",
            "SAVEPOINT was refused",
        ),
        (
            Backend::Postgres,
            "INSERT INTO t (x) VALUES (2);\nEND;\n",
            "END was refused",
        ),
        (
            Backend::Postgres,
            "INSERT INTO t (x) VALUES (2);\nPREPARE TRANSACTION 'x';\n",
            "PREPARE TRANSACTION was refused",
        ),
        (
            Backend::Mysql,
            "INSERT INTO t (x) VALUES (2);\nSET autocommit = 1;\n",
            "SET autocommit was refused",
        ),
        (
            Backend::Mysql,
            "INSERT INTO t (x) VALUES (2);\n/*!COMMIT*/;\nINSERT INTO t (x) VALUES (3);\n",
            "COMMIT was refused",
        ),
        (
            Backend::Mysql,
            "INSERT INTO t (x) VALUES (2);\nXA START 'x';\n",
            "XA was refused",
        ),
        (
            Backend::Mysql,
            "INSERT INTO t (x) VALUES (2);\nLOCK TABLES t WRITE;\n",
            "LOCK TABLES was refused",
        ),
    ];
    for (backend, upgrade, expected) in cases {
        let p = TestProject::with_base(*backend);
        sql(&p, upgrade);
        refused_with(&p, &["upgrade", "head"], &[expected, TRANSACTION]);
    }
}

#[test]
fn a_commit_inside_a_postgresql_do_block_or_procedure_cannot_end_the_transaction() {
    let p = TestProject::with_base(Backend::Postgres);
    sql(
        &p,
        "INSERT INTO t (x) VALUES (2);\nDO $$ BEGIN EXECUTE 'COMM' || 'IT'; END $$;\n",
    );
    refused_with(&p, &["upgrade", "head"], &["transaction commands"]);
    let p = TestProject::with_base(Backend::Postgres);
    sql(
        &p,
        "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;\n\
         INSERT INTO t (x) VALUES (2);\nCALL p();\n",
    );
    refused_with(
        &p,
        &["upgrade", "head"],
        &["invalid transaction termination"],
    );
}

#[test]
fn a_commit_through_every_import_of_a_guest_is_refused_on_postgresql_and_mariadb() {
    for backend in [Backend::Postgres, Backend::Mysql] {
        for call in ["execute", "execute-many", "query", "cursor", "script"] {
            let p = TestProject::with_base(backend);
            guest(&p, call, "COMMIT", None);
            refused_with(
                &p,
                &["upgrade", "head"],
                &["COMMIT was refused", TRANSACTION],
            );
        }
    }
}

#[test]
fn aludels_own_tables_are_refused_through_any_import_on_every_backend() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        for (call, statement) in [
            ("script", "DELETE FROM aludel_version_history"),
            ("execute", "UPDATE \"ALUDEL_VERSION\" SET version_num = 'x'"),
            ("query", "SELECT * FROM aludel_version_artifacts"),
        ] {
            let statement = if backend == Backend::Mysql {
                statement.replace('"', "`")
            } else {
                statement.to_string()
            };
            let p = TestProject::with_base(backend);
            guest(&p, call, &statement, None);
            refused_with(
                &p,
                &["upgrade", "head"],
                &["was refused", "cannot touch aludel's own tables"],
            );
        }
    }
}

#[test]
fn a_mysql_commit_hidden_in_a_prepared_statement_leaves_a_failed_state_that_refuses_every_run() {
    let p = TestProject::with_base(Backend::Mysql);
    sql(
        &p,
        "INSERT INTO t (x) VALUES (2);\nPREPARE s FROM 'COMMIT';\nEXECUTE s;\n\
         INSERT INTO t (x) VALUES (3);\nSELECT * FROM nosuchtable;\n",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("failed part-way"), "{stderr}");
    assert!(stderr.contains("aludel resolve"), "{stderr}");
    assert_eq!(p.versions(), vec![BASE], "the version table moved");
    assert!(!p.applied().contains(&HOSTILE.to_string()));
    assert_eq!(p.failed_revisions(), vec![HOSTILE]);
    // The hidden COMMIT committed the first insert and left the rest of
    // the script in autocommit: both stand, and the run said so.
    assert_eq!(
        p.query("SELECT x FROM t ORDER BY x"),
        vec![vec!["1"], vec!["2"], vec!["3"]]
    );
    let again = p.fails(&["upgrade", "head"]);
    assert!(again.contains("aludel resolve"), "{again}");
    assert!(again.contains(HOSTILE), "{again}");
}

#[test]
fn a_mysql_revision_failing_after_ddl_leaves_a_failed_state_and_a_successful_one_none() {
    let p = TestProject::with_base(Backend::Mysql);
    let dir = p.sql_revision(
        HOSTILE,
        Some(BASE),
        "INSERT INTO t (x) VALUES (2);\nCREATE TABLE u (y INTEGER);\n\
         INSERT INTO t (x) VALUES (3);\nSELECT * FROM nosuchtable;\n",
        "",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("failed part-way"), "{stderr}");
    assert_eq!(p.failed_revisions(), vec![HOSTILE]);
    assert_eq!(p.versions(), vec![BASE]);
    assert!(p.has_table("u"));
    let again = p.fails(&["upgrade", "head"]);
    assert!(again.contains("aludel resolve"), "{again}");

    // The same revision without the failure, on a fresh database.
    let p = TestProject::with_base(Backend::Mysql);
    p.sql_revision(
        HOSTILE,
        Some(BASE),
        "INSERT INTO t (x) VALUES (2);\nCREATE TABLE u (y INTEGER);\nINSERT INTO t (x) VALUES (3);\n",
        "",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![HOSTILE]);
    assert_eq!(p.failed_revisions(), Vec::<String>::new());
    let _ = dir;
}

#[test]
fn a_failed_mysql_revision_of_dml_only_is_rolled_back_and_leaves_no_failed_state() {
    let p = TestProject::with_base(Backend::Mysql);
    sql(
        &p,
        "INSERT INTO t (x) VALUES (2);\nSELECT * FROM nosuchtable;\n",
    );
    refused_with(&p, &["upgrade", "head"], &["nosuchtable"]);
}

#[test]
fn a_query_returning_more_than_its_cap_fails_naming_the_cap_on_every_backend() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let p = TestProject::with_base(backend);
        // 16 MiB of guest memory: each call may return 8 MiB.
        p.set_limits(60, 16);
        let rows = match backend {
            Backend::Postgres => "SELECT repeat('x', 1000000) FROM generate_series(1, 20)",
            Backend::Mysql => {
                "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
                 SELECT REPEAT('x', 1000000) FROM n"
            }
            Backend::Sqlite => {
                "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
                 SELECT printf('%.*c', 1000000, 'x') FROM n"
            }
        };
        for call in ["query", "cursor"] {
            guest(&p, call, rows, None);
            let stderr = refused_with(&p, &["upgrade", "head"], &["more than 8 MiB", "cursor"]);
            assert!(stderr.contains("memory limit"), "{stderr}");
        }
    }
}
