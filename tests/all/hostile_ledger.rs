//! Revisions that attack aludel's own tables (issue 11, properties 2 and 7),
//! on every backend: plain SQL revisions that delete the history, rewrite
//! the version table, forge rows and artifacts, shadow, rename, replace or
//! put triggers on aludel's tables, directly or through dynamic SQL. Each
//! must fail naming what it touched and leave the database, the version
//! table and the audit log exactly as before; where MySQL commits DDL
//! implicitly, every later run must refuse until the failure is resolved.
//!
//! And after the fact: a history row altered, deleted, or an artifact
//! forged with a direct SQL client is named by `aludel verify`, which exits
//! non-zero, and a forged artifact is never unpacked or run.

use crate::support::{BASE, Backend, HOSTILE, TestProject, on_every_backend};

/// Every row of aludel's history and version table, as text.
fn ledger(p: &TestProject) -> (Vec<Vec<String>>, Vec<String>) {
    let history = p.query(
        "SELECT id, revision, direction, outcome, checksum, artifact, row_hash \
         FROM aludel_version_history ORDER BY id",
    );
    (history, p.versions())
}

/// Runs `upgrade head` with HOSTILE's `upgrade` SQL and checks that it
/// failed naming `touched`, and that the database, the version table and
/// the audit log's applied rows are exactly as before (a `failed` row is
/// added after the rollback, by design). Returns the error.
fn refused(p: &TestProject, upgrade: &str, touched: &str) -> String {
    p.sql_revision(HOSTILE, Some(BASE), upgrade, "");
    let dump = p.dump();
    let (history, versions) = ledger(p);
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("revision {HOSTILE} changed aludel's own table"))
            || stderr.contains("aludel's own tables"),
        "the error says a revision touched aludel's tables:\n{stderr}"
    );
    assert!(
        stderr.contains(touched),
        "expected {touched:?} in:\n{stderr}"
    );
    assert_eq!(p.dump(), dump, "the database changed:\n{stderr}");
    let (history_after, versions_after) = ledger(p);
    assert_eq!(versions_after, versions, "the version table changed");
    assert_eq!(
        history_after[..history.len()],
        history[..],
        "the audit log's earlier rows changed"
    );
    for row in &history_after[history.len()..] {
        assert_eq!(
            (row[1].as_str(), row[3].as_str()),
            (HOSTILE, "failed"),
            "only a failed row is added"
        );
    }
    let (_, clean) = verify(p);
    assert!(clean, "verify finds the ledger intact afterwards");
    stderr
}

/// `aludel verify`: its stdout and whether it succeeded.
fn verify(p: &TestProject) -> (String, bool) {
    let run = p.aludel(&["verify"]);
    (format!("{}{}", run.stdout, run.stderr), run.success)
}

/// On MySQL, DDL commits implicitly: what a revision did to aludel's tables
/// with it cannot be rolled back. It must fail, and every later run refuse
/// until an operator resolves it.
fn refused_until_resolved(p: &TestProject, upgrade: &str, touched: &str) {
    p.sql_revision(HOSTILE, Some(BASE), upgrade, "");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(touched),
        "expected {touched:?} in:\n{stderr}"
    );
    assert!(stderr.contains("aludel resolve"), "{stderr}");
    let again = p.fails(&["upgrade", "head"]);
    assert!(
        again.contains(HOSTILE) && again.contains("resolve"),
        "{again}"
    );
}

fn a_revision_that_deletes_the_history_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(
        &p,
        "DELETE FROM aludel_version_history;\n",
        "aludel_version_history",
    );
}

fn a_revision_that_rewrites_the_version_row_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(
        &p,
        "UPDATE aludel_version SET version_num = 'zzzz00000000';\n",
        "aludel_version",
    );
}

fn a_revision_that_deletes_the_version_row_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(&p, "DELETE FROM aludel_version;\n", "aludel_version");
}

fn a_revision_that_inserts_a_fake_applied_row_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(
        &p,
        "INSERT INTO aludel_version_history (id, revision, direction, outcome, aludel_version, \
         started_at, finished_at, duration_ms, statements, rows_affected) VALUES \
         (1000, 'fake00000001', 'upgrade', 'applied', '0', 'x', 'x', 0, 0, 0);\n",
        "aludel_version_history",
    );
}

fn a_revision_that_deletes_an_artifact_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(
        &p,
        "DELETE FROM aludel_version_artifacts;\n",
        "aludel_version_artifacts",
    );
}

fn a_revision_that_records_a_fake_failure_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    refused(
        &p,
        "INSERT INTO aludel_version_failed (revision, direction, failed_at, error, statements) \
         VALUES ('fake00000001', 'upgrade', 'x', 'x', '[]');\n",
        "aludel_version_failed",
    );
}

/// Dynamic SQL: a name the lexer never sees.
fn a_revision_that_deletes_the_history_through_dynamic_sql_fails(backend: Backend) {
    let p = TestProject::with_base(backend);
    let sql = match backend {
        Backend::Postgres => {
            "DO $$ BEGIN EXECUTE 'DELETE FROM aludel_' || 'version_history'; END $$;\n"
        }
        Backend::Mysql => {
            "SET @s = CONCAT('DELETE FROM aludel_', 'version_history');\n\
             PREPARE st FROM @s;\nEXECUTE st;\nDEALLOCATE PREPARE st;\n"
        }
        // No dynamic SQL in SQLite: a trigger of the revision's own table
        // that fires into aludel's.
        Backend::Sqlite => {
            "CREATE TRIGGER t_fires AFTER INSERT ON t BEGIN \
             DELETE FROM aludel_version_history; END;\n\
             INSERT INTO t (x) VALUES (2);\n"
        }
    };
    refused(&p, sql, "aludel_version_history");
}

/// An older history row rewritten in place keeps the history's count and
/// its head: the check sees it by the row's version on PostgreSQL, by the
/// whole chain after SQL it could not read on MySQL, and SQLite's
/// authorizer refuses the write.
fn a_revision_that_rewrites_an_older_history_row_in_place_fails_and_changes_nothing(
    backend: Backend,
) {
    let p = TestProject::with_base(backend);
    let update = "UPDATE aludel_' || 'version_history SET os_user = ''nobody'' WHERE id = 1";
    let sql = match backend {
        Backend::Postgres => format!("DO $$ BEGIN EXECUTE '{update}'; END $$;\n"),
        Backend::Mysql => format!(
            "SET @s = CONCAT('{}');\nPREPARE st FROM @s;\nEXECUTE st;\nDEALLOCATE PREPARE st;\n",
            update.replace(" || ", ", ")
        ),
        Backend::Sqlite => {
            "UPDATE aludel_version_history SET os_user = 'nobody' WHERE id = 1;\n".to_string()
        }
    };
    refused(&p, &sql, "aludel_version_history");
}

/// PostgreSQL: the same from a trigger an earlier revision left on its own
/// table, whose function builds the name at run time: the later revision
/// that fires it names nothing of aludel's.
#[test]
fn a_trigger_left_by_an_earlier_revision_cannot_rewrite_the_history_later() {
    let p = TestProject::with_base(Backend::Postgres);
    p.sql_revision(
        "trap00000001",
        Some(BASE),
        "CREATE FUNCTION rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         EXECUTE 'UPDATE aludel_' || 'version_history SET os_user = ''nobody'' WHERE id = 1'; \
         RETURN NEW; END $$;\n\
         CREATE TRIGGER rewrite AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION rewrite();\n",
        "DROP TRIGGER rewrite ON t;\nDROP FUNCTION rewrite();\n",
    );
    p.ok(&["upgrade", "head"]);
    let dump = p.dump();
    let (history, versions) = ledger(&p);
    p.sql_revision(
        HOSTILE,
        Some("trap00000001"),
        "INSERT INTO t (x) VALUES (2);\n",
        "",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("revision {HOSTILE} changed aludel's own table"))
            && stderr.contains("aludel_version_history"),
        "{stderr}"
    );
    assert_eq!(p.dump(), dump);
    let (history_after, versions_after) = ledger(&p);
    assert_eq!(versions_after, versions);
    assert_eq!(history_after[..history.len()], history[..]);
    assert!(verify(&p).1);
}

/// MySQL: an updatable view onto the history, made with SQL the lexer
/// cannot read, would let a later revision write to it by another name.
/// The DDL committed, so the run is refused until resolved.
#[test]
fn a_mysql_view_onto_aludels_tables_made_by_dynamic_sql_is_found() {
    let p = TestProject::with_base(Backend::Mysql);
    refused_until_resolved(
        &p,
        "SET @s = CONCAT('CREATE VIEW hist AS SELECT * FROM aludel_', 'version_history');\n\
         PREPARE st FROM @s;\nEXECUTE st;\nDEALLOCATE PREPARE st;\n",
        "the view",
    );
}

/// PostgreSQL: an operator a revision creates is found by any unqualified
/// name of it; `=` on two `varchar`, which `pg_catalog` lacks, is an exact
/// match wherever it stands on the path. aludel's own statements name
/// `pg_catalog`'s, so this one decides nothing of theirs.
#[test]
fn a_postgres_revision_that_redefines_equality_cannot_change_what_aludel_finds() {
    let p = TestProject::with_base(Backend::Postgres);
    p.sql_revision(
        HOSTILE,
        Some(BASE),
        "CREATE FUNCTION never(a varchar, b varchar) RETURNS boolean \
         LANGUAGE sql IMMUTABLE AS 'SELECT false';\n\
         CREATE OPERATOR = (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = never);\n\
         SET search_path = public, pg_catalog;\n",
        "",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![HOSTILE]);
    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.versions(), vec![BASE]);
    assert!(verify(&p).1);
}

/// PostgreSQL: a column of aludel's tables narrowed, or an index added,
/// through SQL built at run time: the tables keep their rows and OIDs, but
/// a later failure's record would no longer fit. The definitions the run
/// began with are checked.
#[test]
fn a_postgres_revision_that_alters_a_column_of_aludels_tables_fails_and_changes_nothing() {
    for alter in [
        "ALTER TABLE aludel_' || 'version_failed ALTER COLUMN error TYPE varchar(5)",
        "CREATE UNIQUE INDEX once ON aludel_' || 'version_history (revision)",
        "ALTER TABLE aludel_' || 'version_history ALTER COLUMN error SET DEFAULT ''x''",
        "REVOKE INSERT ON aludel_' || 'version_failed FROM CURRENT_USER",
        "ALTER TABLE aludel_' || 'version_history SET UNLOGGED",
    ] {
        let p = TestProject::with_base(Backend::Postgres);
        let stderr = refused(
            &p,
            &format!("DO $$ BEGIN EXECUTE '{alter}'; END $$;\n"),
            "the columns, constraints, indexes or privileges of aludel's tables",
        );
        assert!(stderr.contains(HOSTILE), "{stderr}");
    }
}

/// MySQL: the same through a prepared statement; the DDL commits, so the
/// run is refused until resolved.
#[test]
fn a_mysql_revision_that_alters_aludels_tables_by_dynamic_sql_is_refused_until_resolved() {
    for alter in [
        "ALTER TABLE aludel_', 'version_history MODIFY error VARCHAR(5)",
        "CREATE UNIQUE INDEX once ON aludel_', 'version_history (revision)",
    ] {
        let p = TestProject::with_base(Backend::Mysql);
        refused_until_resolved(
            &p,
            &format!(
                "SET @s = CONCAT('{alter}');\nPREPARE st FROM @s;\nEXECUTE st;\n\
                 DEALLOCATE PREPARE st;\n"
            ),
            "the columns or indexes of aludel's tables",
        );
    }
}

/// MySQL: dropping the database would take aludel's tables with it, and
/// commit at once.
#[test]
fn a_mysql_revision_cannot_drop_the_database_that_holds_aludels_tables() {
    let p = TestProject::with_base(Backend::Mysql);
    let database = p.url().rsplit('/').next().expect("a database").to_string();
    let stderr = refused(&p, &format!("DROP DATABASE {database};\n"), "DROP DATABASE");
    assert!(stderr.contains("the database is as it was"), "{stderr}");
}

/// MySQL: an event runs later, outside any revision; one whose body builds
/// its SQL at run time could rewrite aludel's tables between runs, unread.
#[test]
fn a_mysql_event_that_runs_sql_built_at_run_time_is_refused_until_resolved() {
    let p = TestProject::with_base(Backend::Mysql);
    refused_until_resolved(
        &p,
        "CREATE EVENT later ON SCHEDULE EVERY 1 DAY DISABLE DO BEGIN \
         SET @s = CONCAT('DELETE FROM aludel_', 'version'); \
         PREPARE st FROM @s; EXECUTE st; END;\n",
        "the event",
    );
}

/// PostgreSQL outside a transaction: each statement commits on its own, so
/// the window is every transaction since the revision began; what it
/// rewrote cannot be rolled back, so every later run refuses until resolved.
#[test]
fn a_postgres_revision_outside_a_transaction_that_rewrites_the_history_is_refused_until_resolved() {
    let p = TestProject::with_base(Backend::Postgres);
    let dir = p.sql_revision(
        HOSTILE,
        Some(BASE),
        "DO $$ BEGIN EXECUTE 'UPDATE aludel_' || 'version_history \
         SET os_user = ''nobody'' WHERE id = 1'; END $$;\n",
        "",
    );
    TestProject::outside_a_transaction(&dir);
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("aludel_version_history") && stderr.contains("aludel resolve"),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec![BASE]);
    // The rewrite is committed: the chain refuses the next run, and once
    // the log is accepted, the revision's failed state still does.
    let again = p.fails(&["upgrade", "head"]);
    assert!(again.contains("aludel accept --audit-log"), "{again}");
    p.ok(&["accept", "--audit-log"]);
    let again = p.fails(&["upgrade", "head"]);
    assert!(
        again.contains(HOSTILE) && again.contains("resolve"),
        "{again}"
    );
}

/// An artifact's content rewritten in place under its hash: the store's
/// count is unchanged.
fn a_revision_that_rewrites_an_artifact_in_place_fails_and_changes_nothing(backend: Backend) {
    let p = TestProject::with_base(backend);
    let update = "UPDATE aludel_' || 'version_artifacts SET content = content || content";
    let sql = match backend {
        Backend::Postgres => format!("DO $$ BEGIN EXECUTE '{update}'; END $$;\n"),
        Backend::Mysql => format!(
            "SET @s = CONCAT('{}');\nPREPARE st FROM @s;\nEXECUTE st;\nDEALLOCATE PREPARE st;\n",
            update
                .replace("content || content", "CONCAT(content, content)")
                .replace(" || ", ", ")
        ),
        Backend::Sqlite => {
            "UPDATE aludel_version_artifacts SET content = content || content;\n".to_string()
        }
    };
    refused(&p, &sql, "aludel_version_artifacts");
}

/// Every break of the chain found when a run reads the log refuses the
/// run, naming the row and what to do, until an operator accepts the log
/// as it reads; the acceptance is itself a row of the log.
fn a_history_row_altered_outside_aludel_refuses_every_run_until_accepted(backend: Backend) {
    let p = TestProject::with_base(backend);
    p.query("UPDATE aludel_version_history SET os_user = 'someone else' WHERE id = 1");
    p.sql_revision(HOSTILE, Some(BASE), "INSERT INTO t (x) VALUES (2);\n", "");
    let dump = p.dump();
    // `stamp` is how an operator sets things right by hand: not refused.
    for args in [&["upgrade", "head"][..], &["downgrade", "base"]] {
        let stderr = p.fails(args);
        assert!(
            stderr.contains(&format!(
                "audit log row 1 (revision {BASE}) does not match its hash"
            )) && stderr.contains("aludel accept --audit-log"),
            "{args:?}: {stderr}"
        );
        assert_eq!(p.dump(), dump, "{args:?} changed the database");
    }
    let accepted = p.aludel(&["accept", "--audit-log"]);
    assert!(accepted.success, "{}", accepted.stderr);
    assert!(
        accepted.stderr.contains("accepted: audit log row 1"),
        "{}",
        accepted.stderr
    );
    let rows =
        p.query("SELECT outcome, revision, error FROM aludel_version_history ORDER BY id DESC");
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        ("resealed", "(audit log)")
    );
    assert!(rows[0][2].contains("audit log row 1"), "{:?}", rows[0]);
    let (out, clean) = verify(&p);
    assert!(clean, "{out}");
    // Accepting a whole chain writes nothing.
    let rows_before = p.query("SELECT id FROM aludel_version_history").len();
    let again = p.aludel(&["accept", "--audit-log"]);
    assert!(
        again.success && again.stderr.contains("nothing to accept"),
        "{}",
        again.stderr
    );
    assert_eq!(
        p.query("SELECT id FROM aludel_version_history").len(),
        rows_before
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![HOSTILE]);
    // Accepted once, not for good: a later change refuses again.
    p.query("UPDATE aludel_version_history SET host = 'elsewhere' WHERE id = 1");
    let stderr = p.fails(&["downgrade", "-1"]);
    assert!(stderr.contains("accepted as it read at row"), "{stderr}");
}

/// A temporary table of the same name would take aludel's own statements
/// where they name the table bare.
fn a_revision_that_shadows_the_version_table_cannot_redirect_aludel(backend: Backend) {
    let p = TestProject::with_base(backend);
    let sql = "CREATE TEMPORARY TABLE aludel_version (version_num VARCHAR(32));\n\
               INSERT INTO aludel_version (version_num) VALUES ('zzzz00000000');\n";
    match backend {
        // Refused by the authorizer on SQLite, found by the check on
        // PostgreSQL.
        Backend::Sqlite | Backend::Postgres => {
            refused(&p, sql, "aludel_version");
        }
        // The statement check refuses the name as written; built at run
        // time it reaches the database, and the whole check that follows
        // SQL the lexer could not read finds it (`SHOW CREATE TABLE` shows
        // the temporary table a name resolves to).
        Backend::Mysql => {
            let sql = "SET @s = CONCAT('CREATE TEMPORARY TABLE aludel_', \
                       'version (version_num VARCHAR(32))');\n\
                       PREPARE s FROM @s;\nEXECUTE s;\nDEALLOCATE PREPARE s;\n\
                       SET @s = CONCAT('INSERT INTO aludel_', \
                       'version (version_num) VALUES (''zzzz00000000'')');\n\
                       PREPARE s FROM @s;\nEXECUTE s;\nDEALLOCATE PREPARE s;\n";
            let stderr = refused(&p, sql, "a temporary table of its name hides it");
            assert!(stderr.contains("the database is as it was"), "{stderr}");
        }
    }
}

fn a_revision_that_replaces_the_version_table_by_a_view_fails(backend: Backend) {
    let p = TestProject::with_base(backend);
    let sql = match backend {
        Backend::Mysql => {
            "RENAME TABLE aludel_version TO old_version;\n\
             CREATE VIEW aludel_version AS SELECT * FROM old_version;\n"
        }
        _ => {
            "ALTER TABLE aludel_version RENAME TO old_version;\n\
             CREATE VIEW aludel_version AS SELECT * FROM old_version;\n"
        }
    };
    match backend {
        Backend::Mysql => refused_until_resolved(&p, sql, "aludel"),
        _ => {
            refused(&p, sql, "aludel_version");
        }
    }
}

fn a_revision_that_puts_a_trigger_on_the_history_fails(backend: Backend) {
    let p = TestProject::with_base(backend);
    let sql = match backend {
        Backend::Postgres => {
            "CREATE FUNCTION keep_out() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RETURN NULL; END $$;\n\
             CREATE TRIGGER keep_out BEFORE INSERT ON aludel_version_history \
             FOR EACH ROW EXECUTE FUNCTION keep_out();\n"
        }
        Backend::Mysql => {
            "CREATE TRIGGER keep_out BEFORE INSERT ON aludel_version_history \
             FOR EACH ROW SET NEW.outcome = 'stamped';\n"
        }
        Backend::Sqlite => {
            "CREATE TRIGGER keep_out BEFORE INSERT ON aludel_version_history \
             BEGIN SELECT RAISE(IGNORE); END;\n"
        }
    };
    match backend {
        Backend::Mysql => refused_until_resolved(&p, sql, "aludel"),
        _ => {
            refused(&p, sql, "aludel");
        }
    }
}

fn a_history_row_altered_outside_aludel_is_named_by_verify(backend: Backend) {
    let p = TestProject::with_base(backend);
    p.sql_revision(HOSTILE, Some(BASE), "INSERT INTO t (x) VALUES (2);\n", "");
    p.ok(&["upgrade", "head"]);
    let (out, clean) = verify(&p);
    assert!(clean, "{out}");
    let id = &p.query(&format!(
        "SELECT id FROM aludel_version_history WHERE revision = '{BASE}'"
    ))[0][0];
    p.query(&format!(
        "UPDATE aludel_version_history SET os_user = 'someone else' WHERE id = {id}"
    ));
    let (out, clean) = verify(&p);
    assert!(!clean, "verify exits non-zero:\n{out}");
    assert!(
        out.contains(&format!(
            "audit log row {id} (revision {BASE}) does not match its hash"
        )),
        "{out}"
    );
}

fn a_history_row_deleted_outside_aludel_is_named_by_verify(backend: Backend) {
    let p = TestProject::with_base(backend);
    p.sql_revision(HOSTILE, Some(BASE), "INSERT INTO t (x) VALUES (2);\n", "");
    p.ok(&["upgrade", "head"]);
    let id = &p.query(&format!(
        "SELECT id FROM aludel_version_history WHERE revision = '{BASE}'"
    ))[0][0];
    p.query(&format!(
        "DELETE FROM aludel_version_history WHERE id = {id}"
    ));
    let (out, clean) = verify(&p);
    assert!(!clean, "verify exits non-zero:\n{out}");
    // The first row gone: the second no longer follows the chain's start.
    assert!(
        out.contains(&format!("revision {HOSTILE}")) && out.contains("does not match its hash"),
        "{out}"
    );
}

fn an_artifact_forged_outside_aludel_is_named_and_never_run(backend: Backend) {
    let p = TestProject::with_base(backend);
    p.sql_revision(
        HOSTILE,
        Some(BASE),
        "INSERT INTO t (x) VALUES (2);\n",
        "DELETE FROM t WHERE x = 2;\n",
    );
    p.ok(&["upgrade", "head"]);
    let hash = p.query(&format!(
        "SELECT artifact FROM aludel_version_history WHERE revision = '{HOSTILE}'"
    ))[0][0]
        .clone();
    // The archive is replaced by another revision's, a valid archive.
    p.query(&format!(
        "UPDATE aludel_version_artifacts SET content = \
         (SELECT content FROM (SELECT content FROM aludel_version_artifacts \
         WHERE hash <> '{hash}' AND kind = 'revision') other) WHERE hash = '{hash}'"
    ));
    let (out, clean) = verify(&p);
    assert!(!clean, "verify exits non-zero:\n{out}");
    assert!(
        out.contains(&format!(
            "stored artifact {hash} (revision of revision {HOSTILE})"
        )),
        "{out}"
    );
    let shown = p.fails(&["show", HOSTILE, "--stored"]);
    assert!(
        shown.contains(&format!(
            "the stored artifact {hash} of revision {HOSTILE} was altered"
        )),
        "{shown}"
    );
    // The directory gone, a downgrade would run the stored archive.
    std::fs::remove_dir_all(p.root().join("versions").join(format!("{HOSTILE}_sql")))
        .expect("remove the revision directory");
    let down = p.fails(&["downgrade", BASE]);
    assert!(
        down.contains(&format!(
            "the stored artifact {hash} of revision {HOSTILE} was altered"
        )),
        "{down}"
    );
    assert_eq!(p.versions(), vec![HOSTILE]);
    assert_eq!(
        p.query("SELECT x FROM t ORDER BY x"),
        vec![vec!["1"], vec!["2"]]
    );
}

fn a_failure_with_an_error_over_64_kib_keeps_its_failed_state(backend: Backend) {
    let p = TestProject::with_base(backend);
    p.misbehave(HOSTILE, Some(BASE), "long-error", "ok");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("misbehave: START"), "{stderr}");
    let failed = p.query(&format!(
        "SELECT error FROM aludel_version_history WHERE revision = '{HOSTILE}' AND outcome = 'failed'"
    ));
    assert_eq!(failed.len(), 1, "the failure is in the audit log");
    let error = &failed[0][0];
    assert!(error.len() <= 16 * 1024, "{}", error.len());
    assert!(
        error.contains("START") && error.contains("END"),
        "both ends kept"
    );
    assert!(error.contains("bytes cut by aludel"), "it says it was cut");
    if backend == Backend::Mysql {
        // The CREATE TABLE committed: the failed state must be kept, and
        // every later run refuse.
        let kept = p.query("SELECT revision, error FROM aludel_version_failed");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0][0], HOSTILE);
        assert!(kept[0][1].contains("bytes cut by aludel"));
        let again = p.fails(&["upgrade", "head"]);
        assert!(
            again.contains(HOSTILE) && again.contains("resolve"),
            "{again}"
        );
    } else {
        assert!(
            p.query("SELECT revision FROM aludel_version_failed")
                .is_empty()
        );
    }
    let (out, clean) = verify(&p);
    assert!(clean, "{out}");
}

on_every_backend!(
    a_revision_that_deletes_the_history_fails_and_changes_nothing,
    a_revision_that_rewrites_the_version_row_fails_and_changes_nothing,
    a_revision_that_deletes_the_version_row_fails_and_changes_nothing,
    a_revision_that_inserts_a_fake_applied_row_fails_and_changes_nothing,
    a_revision_that_deletes_an_artifact_fails_and_changes_nothing,
    a_revision_that_records_a_fake_failure_fails_and_changes_nothing,
    a_revision_that_deletes_the_history_through_dynamic_sql_fails,
    a_revision_that_rewrites_an_older_history_row_in_place_fails_and_changes_nothing,
    a_revision_that_rewrites_an_artifact_in_place_fails_and_changes_nothing,
    a_history_row_altered_outside_aludel_refuses_every_run_until_accepted,
    a_revision_that_shadows_the_version_table_cannot_redirect_aludel,
    a_revision_that_replaces_the_version_table_by_a_view_fails,
    a_revision_that_puts_a_trigger_on_the_history_fails,
    a_history_row_altered_outside_aludel_is_named_by_verify,
    a_history_row_deleted_outside_aludel_is_named_by_verify,
    an_artifact_forged_outside_aludel_is_named_and_never_run,
    a_failure_with_an_error_over_64_kib_keeps_its_failed_state,
);

#[test]
fn a_revision_id_longer_than_the_version_table_holds_is_refused_at_load() {
    let p = TestProject::new();
    let long = "a".repeat(40);
    p.sql_revision(&long, None, "CREATE TABLE t (x INTEGER);\n", "");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains(&long), "names the revision: {stderr}");
    assert!(
        stderr.contains("at most 32 characters"),
        "names the limit: {stderr}"
    );
    assert!(!p.has_table("t"));
}

/// A history table made before the hash chain is upgraded in place; its
/// rows are reported as not covered, and rows after it are chained.
#[test]
fn a_history_table_older_than_the_chain_is_upgraded_and_its_rows_marked_unchained() {
    let p = TestProject::with_base(Backend::Sqlite);
    // As an older aludel left it: no row_hash column.
    p.query("ALTER TABLE aludel_version_history DROP COLUMN row_hash");
    p.sql_revision(HOSTILE, Some(BASE), "INSERT INTO t (x) VALUES (2);\n", "");
    p.ok(&["upgrade", "head"]);
    let rows = p.query("SELECT revision, row_hash FROM aludel_version_history ORDER BY id");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], vec![BASE.to_string(), String::new()]);
    assert_eq!(rows[1][1].len(), 64);
    let (out, clean) = verify(&p);
    assert!(clean, "{out}");
    assert!(
        out.contains("the first 1 rows of the audit log were written before"),
        "{out}"
    );
}

/// MySQL commits the DDL before a statement that outlives the revision's
/// time limit: the failure must be kept, and the next run refuse.
#[test]
fn a_mysql_revision_timed_out_after_ddl_keeps_its_failed_state() {
    let p = TestProject::with_base(Backend::Mysql);
    p.set_limits(2, 64);
    p.sql_revision(
        HOSTILE,
        Some(BASE),
        "CREATE TABLE slow (x INTEGER);\nSELECT SLEEP(8);\n",
        "",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains(HOSTILE), "{stderr}");
    let kept = p.query("SELECT revision FROM aludel_version_failed");
    assert_eq!(kept, vec![vec![HOSTILE.to_string()]], "{stderr}");
    let again = p.fails(&["upgrade", "head"]);
    assert!(
        again.contains(HOSTILE) && again.contains("resolve"),
        "{again}"
    );
}
