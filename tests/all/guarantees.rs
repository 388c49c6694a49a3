//! The guarantees of Flyway and sqlx on top of Alembic's graph: a lock that
//! makes concurrent runners apply each revision exactly once, transaction
//! modes, a failed state that is never silently skipped, dry runs.
//!
//! Each check is written once, as a function of the backend, and the list
//! below makes one test of it per backend. Where docs/operations.md says a
//! backend behaves otherwise (MySQL commits DDL implicitly), the check
//! branches on the backend and asserts what the documentation promises there.

use std::process::Command;

use crate::support::{Backend, TestProject, on_every_backend};

on_every_backend! {
    concurrent_runners_apply_each_revision_exactly_once,
    a_failure_at_any_statement_leaves_the_database_as_before,
    a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved,
    a_run_transaction_rolls_back_every_revision_of_the_run,
    a_dry_run_runs_everything_and_keeps_nothing,
    the_lock_timeout_names_the_holder,
    a_batch_reports_each_statements_rows_and_names_the_one_that_fails,
}

/// `count` SQL revisions, each logging its own id into `runs`.
fn logging_chain(p: &TestProject, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("c0ffee{i:06}")).collect();
    let create = match p.backend() {
        Backend::Mysql => "CREATE TABLE runs (id VARCHAR(32) NOT NULL)",
        _ => "CREATE TABLE runs (id VARCHAR(32) NOT NULL)",
    };
    for (i, id) in ids.iter().enumerate() {
        let parent = i.checked_sub(1).map(|j| ids[j].as_str());
        let upgrade = if i == 0 {
            format!("{create};\nINSERT INTO runs (id) VALUES ('{id}');\n")
        } else {
            format!("INSERT INTO runs (id) VALUES ('{id}');\n")
        };
        let downgrade = if i == 0 {
            "DROP TABLE runs;\n".to_string()
        } else {
            format!("DELETE FROM runs WHERE id = '{id}';\n")
        };
        p.sql_revision(id, parent, &upgrade, &downgrade);
    }
    ids
}

fn concurrent_runners_apply_each_revision_exactly_once(backend: Backend) {
    let p = TestProject::on(backend);
    let ids = logging_chain(&p, 12);
    // Compile the plugin once, so that the race is about the database.
    p.ok(&["current"]);
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd: Command = p.command();
            cmd.args(["upgrade", "head", "--lock-timeout", "120"]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("aludel starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("aludel finishes");
        assert!(
            out.status.success(),
            "a runner failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut runs: Vec<String> = p
        .query("SELECT id FROM runs")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    runs.sort();
    assert_eq!(runs, ids, "every revision ran exactly once");
    assert_eq!(p.versions(), vec![ids.last().unwrap().clone()]);
}

/// A revision of `statements` statements whose `k`-th (from 1) fails; every
/// k on a fresh copy of the base state.
fn a_failure_at_any_statement_leaves_the_database_as_before(backend: Backend) {
    let statements = [
        "CREATE TABLE fi_new (id INTEGER NOT NULL)",
        "INSERT INTO fi_base (note) VALUES ('added')",
        "CREATE INDEX fi_base_note ON fi_base (note)",
        "INSERT INTO fi_new (id) VALUES (1)",
        "UPDATE fi_base SET note = 'changed' WHERE note = 'one'",
    ];
    let p = TestProject::on(backend);
    p.sql_revision(
        "fb0000000001",
        None,
        "CREATE TABLE fi_base (note VARCHAR(20) NOT NULL);\nINSERT INTO fi_base (note) VALUES ('one');\n",
        "DROP TABLE fi_base;\n",
    );
    p.ok(&["upgrade", "head"]);
    let before = p.dump();
    for k in 1..=statements.len() + 1 {
        let mut script: Vec<&str> = statements.to_vec();
        script.insert(k - 1, "INSERT INTO no_such_table (x) VALUES (1)");
        let id = format!("fb00000001{k:02}");
        let dir = p.sql_revision(&id, Some("fb0000000001"), &(script.join(";\n") + ";\n"), "");
        let stderr = p.fails(&["upgrade", "head"]);
        assert!(
            stderr.contains(&format!("revision {id}")),
            "k={k}: {stderr}"
        );
        assert!(stderr.contains("no_such_table"), "k={k}: {stderr}");
        assert_eq!(p.versions(), vec!["fb0000000001"], "k={k}");
        if backend == Backend::Mysql && k > 1 {
            // DDL before the failure committed itself: the revision is
            // recorded as failed and runs refuse until it is resolved.
            assert!(stderr.contains("recorded as failed"), "k={k}: {stderr}");
            let refused = p.fails(&["upgrade", "head"]);
            assert!(refused.contains("failed part-way"), "k={k}: {refused}");
            assert!(refused.contains("aludel resolve"), "k={k}: {refused}");
            // The operator undoes what stands, then resolves. In a script,
            // MySQL commits each statement after a DDL one as it runs, so
            // data changes may stand too.
            p.query("DELETE FROM fi_base WHERE note = 'added'");
            p.query("UPDATE fi_base SET note = 'one' WHERE note = 'changed'");
            if p.has_table("fi_new") {
                p.query("DROP TABLE fi_new");
            }
            for index in p.query(
                "SELECT index_name FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND index_name = 'fi_base_note'",
            ) {
                p.query(&format!("DROP INDEX {} ON fi_base", index[0]));
            }
            p.ok(&["resolve", &id, "--rolled-back"]);
        }
        assert_eq!(p.dump(), before, "k={k}: the database changed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

fn a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved(backend: Backend) {
    let p = TestProject::on(backend);
    p.sql_revision(
        "0a0000000001",
        None,
        "CREATE TABLE kept (x INTEGER);",
        "DROP TABLE kept;",
    );
    let dir = p.misbehave("0a0000000002", Some("0a0000000001"), "bad-sql", "ok");
    TestProject::outside_a_transaction(&dir);

    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("recorded as failed"), "{stderr}");
    assert_eq!(p.versions(), vec!["0a0000000001"]);
    assert!(
        p.has_table("misbehave_partial"),
        "outside a transaction, the first statement stands"
    );

    let refused = p.fails(&["upgrade", "head"]);
    assert!(
        refused.contains("revision 0a0000000002 failed part-way during upgrade"),
        "{refused}"
    );
    assert!(
        refused.contains("1. CREATE TABLE misbehave_partial"),
        "{refused}"
    );
    assert!(refused.contains("--rolled-back"), "{refused}");
    let refused = p.fails(&["downgrade", "base"]);
    assert!(
        refused.contains("unresolved"),
        "downgrade refuses too: {refused}"
    );

    // The operator undoes the partial work and says so.
    p.query("DROP TABLE misbehave_partial");
    p.ok(&["resolve", "0a0000000002", "--rolled-back"]);
    assert_eq!(p.versions(), vec!["0a0000000001"]);
    let err = p.fails(&["resolve", "0a0000000002", "--rolled-back"]);
    assert!(err.contains("no unresolved failure"), "{err}");

    // Failing again, then completed by hand: resolve --applied records it.
    p.fails(&["upgrade", "head"]);
    p.ok(&["resolve", "0a00", "--applied"]);
    assert_eq!(p.versions(), vec!["0a0000000002"]);
    p.ok(&["upgrade", "head"]);

    // The audit log tells the whole story, resolutions included.
    let story: Vec<String> = p
        .query(
            "SELECT outcome FROM aludel_version_history \
             WHERE revision = '0a0000000002' ORDER BY id",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(story, vec!["failed", "resolved", "failed", "resolved"]);
    let how = p.query(
        "SELECT error FROM aludel_version_history \
         WHERE revision = '0a0000000002' AND outcome = 'resolved' ORDER BY id",
    );
    assert!(
        how[0][0].contains("--rolled-back") && how[1][0].contains("--applied"),
        "{how:?}"
    );
}

fn a_run_transaction_rolls_back_every_revision_of_the_run(backend: Backend) {
    let p = TestProject::on(backend);
    let config = p.root().join("aludel.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("transaction = \"revision\"", "transaction = \"run\""),
    )
    .unwrap();
    p.sql_revision(
        "0b0000000001",
        None,
        "CREATE TABLE one (x INTEGER);",
        "DROP TABLE one;",
    );
    p.sql_revision(
        "0b0000000002",
        Some("0b0000000001"),
        "CREATE TABLE two (x INTEGER);",
        "DROP TABLE two;",
    );
    p.misbehave("0b0000000003", Some("0b0000000002"), "err", "ok");
    let stderr = p.fails(&["upgrade", "head"]);
    if backend == Backend::Mysql {
        // `run` behaves as `revision` there: a transaction could not take
        // back the DDL of the revisions before the failing one.
        assert!(
            stderr.contains("committed earlier in this run: 0b0000000001, 0b0000000002"),
            "{stderr}"
        );
        assert!(!stderr.contains("rolled back with it"), "{stderr}");
        assert!(
            stderr.contains("the database is as it was before revision 0b0000000003"),
            "{stderr}"
        );
        assert_eq!(p.versions(), vec!["0b0000000002"]);
        assert!(p.has_table("one") && p.has_table("two"));
    } else {
        assert!(
            stderr.contains("rolled back with it (same transaction): 0b0000000001, 0b0000000002"),
            "{stderr}"
        );
        assert_eq!(p.versions(), Vec::<String>::new());
        assert!(!p.has_table("one") && !p.has_table("two"));
    }
}

fn a_dry_run_runs_everything_and_keeps_nothing(backend: Backend) {
    let p = TestProject::on(backend);
    logging_chain(&p, 3);
    let run = p.aludel(&["upgrade", "head", "--dry-run"]);
    if backend == Backend::Mysql {
        assert!(!run.success);
        assert!(run.stderr.contains("dry run refused"), "{}", run.stderr);
        assert!(
            run.stderr.contains("commits DDL implicitly"),
            "{}",
            run.stderr
        );
    } else {
        assert!(run.success, "{}", run.stderr);
        assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
        assert!(
            run.stdout
                .contains("applied c0ffee000002 (1 statements, 1 rows)"),
            "{}",
            run.stdout
        );
    }
    assert!(!p.has_table("runs"));
    assert_eq!(p.versions(), Vec::<String>::new());
}

/// A runner stuck in a revision holds the lock; a second one gives up after
/// --lock-timeout and says who holds it.
fn the_lock_timeout_names_the_holder(backend: Backend) {
    let p = TestProject::on(backend);
    p.set_limits(6, 256);
    p.misbehave("0c0000000001", None, "loop", "ok");
    let holder = p
        .command()
        .args(["upgrade", "head"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aludel starts");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let stderr = p.fails(&["upgrade", "head", "--lock-timeout", "1"]);
    assert!(
        stderr.contains("another run holds the migration lock"),
        "{stderr}"
    );
    assert!(stderr.contains("held by"), "{stderr}");
    assert!(stderr.contains("--lock-timeout"), "{stderr}");
    let out = holder.wait_with_output().expect("the holder finishes");
    assert!(
        !out.status.success(),
        "the looping revision hit its time limit"
    );
}

/// The host's bookkeeping goes to the database as one batch: each
/// statement's row count comes back in order, and a statement that fails is
/// named by its position, with nothing after it run.
fn a_batch_reports_each_statements_rows_and_names_the_one_that_fails(backend: Backend) {
    use aludel::db::{self, Dialect, Statement, Value};

    let p = TestProject::on(backend);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            let mut conn = db::connect(&p.url()).await.expect("connects");
            let q = match conn.dialect() {
                Dialect::Postgresql => ["$1", "$2"],
                _ => ["?", "?"],
            };
            conn.execute_script("CREATE TABLE batch (id INTEGER PRIMARY KEY, note VARCHAR(40))")
                .await
                .expect("creates the table");
            conn.begin().await.expect("begins");
            let insert = |id: i64, note: &str| {
                Statement::new(
                    format!("INSERT INTO batch (id, note) VALUES ({}, {})", q[0], q[1]),
                    vec![Value::Integer(id), Value::Text(note.to_string())],
                )
            };
            let counts = conn
                .execute_batch(vec![
                    insert(1, "it's; one"),
                    insert(2, "two"),
                    Statement::new("UPDATE batch SET note = 'x' WHERE id > 0", Vec::new()),
                    Statement::new("DELETE FROM batch WHERE id = 7", Vec::new()),
                ])
                .await
                .expect("the batch runs");
            assert_eq!(counts, vec![1, 1, 2, 0]);
            let failed = conn
                .execute_batch(vec![
                    insert(3, "three"),
                    insert(1, "a duplicate key"),
                    insert(4, "never runs"),
                ])
                .await
                .expect_err("a duplicate key fails the batch");
            assert_eq!(failed.at, db::BatchStage::Statement(1), "{failed}");
            conn.rollback().await.expect("rolls back");
            if conn.transactional_ddl() {
                let rows = conn
                    .query("SELECT count(*) FROM batch", Vec::new())
                    .await
                    .expect("counts");
                assert_eq!(rows.rows, vec![vec![Value::Integer(0)]]);
            }
        });
}
