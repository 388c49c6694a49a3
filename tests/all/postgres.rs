//! The PostgreSQL backend against the real server: the whole flow, rollback
//! of failing revisions, every mapped value type through a guest, the run
//! lock, `CREATE INDEX CONCURRENTLY` outside a transaction, and the guard
//! against committing an aborted transaction. Each test runs on a database
//! of its own.

use std::time::Duration;

use aludel::db::{self, LockError, Value};

use crate::support::{Backend, TestProject, block_on, fixtures};

const ROWS: usize = 1_200;

fn project() -> TestProject {
    TestProject::on(Backend::Postgres)
}

fn full_name(i: usize) -> Option<String> {
    match i % 4 {
        0 => Some(format!("First{i} Last{i}")),
        1 => Some(format!("Mononym{i}")),
        2 => None,
        _ => Some(format!("  Spaced{i}   Out {i} ")),
    }
}

fn expected_split(name: &Option<String>) -> (String, String) {
    let Some(name) = name else {
        return ("NULL".into(), "NULL".into());
    };
    match name.trim().split_once(' ') {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (name.trim().to_string(), "NULL".into()),
    }
}

fn people_sql() -> String {
    let values: Vec<String> = (0..ROWS)
        .map(|i| match full_name(i) {
            Some(n) => format!("({i}, '{n}')"),
            None => format!("({i}, NULL)"),
        })
        .collect();
    format!(
        "CREATE TABLE people (id integer PRIMARY KEY, full_name text);\n\
         CREATE INDEX people_full_name ON people (full_name);\n\
         INSERT INTO people (id, full_name) VALUES\n{};\n",
        values.join(",\n")
    )
}

#[test]
fn sql_and_rust_revisions_upgrade_report_and_downgrade_on_postgresql() {
    let p = project();
    p.sql_revision("people000001", None, &people_sql(), "DROP TABLE people;\n");
    p.component_revision(
        "split0000002",
        Some("people000001"),
        &fixtures().transform,
        "",
    );

    // `current` reads only: no version table appears.
    p.ok(&["current"]);
    assert!(!p.has_table("aludel_version"));

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["split0000002"]);
    let rows = p.query("SELECT id, first_name, last_name FROM people ORDER BY id");
    assert_eq!(rows.len(), ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (first, last) = expected_split(&full_name(i));
        assert_eq!(row, &vec![i.to_string(), first, last], "row {i}");
    }
    assert_eq!(p.ok(&["current"]).trim(), "split0000002 (head)");
    assert_eq!(
        p.ok(&["history"]).lines().collect::<Vec<_>>(),
        vec![
            "people000001 -> split0000002 (head), revision split0000002",
            "<base> -> people000001, revision people000001",
        ]
    );

    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.versions(), vec!["people000001"]);
    assert_eq!(
        p.query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'people' ORDER BY ordinal_position"
        ),
        vec![vec!["id"], vec!["full_name"]]
    );
    let rows = p.query("SELECT id, full_name FROM people ORDER BY id");
    for (i, row) in rows.iter().enumerate() {
        let expected = match expected_split(&full_name(i)) {
            (first, _) if first == "NULL" => "NULL".to_string(),
            (first, last) if last == "NULL" => first,
            (first, last) => format!("{first} {last}"),
        };
        assert_eq!(row[1], expected, "row {i}");
    }

    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("people"));
    assert_eq!(p.versions(), Vec::<String>::new());

    p.ok(&["upgrade", "+1"]);
    assert_eq!(p.versions(), vec!["people000001"]);
}

#[test]
fn a_schema_qualified_version_table_lives_in_its_schema_on_postgresql() {
    let p = project();
    p.sql_revision(
        "schema000001",
        None,
        "CREATE SCHEMA meta;",
        "DROP SCHEMA meta;",
    );
    // The schema must exist before the version table is written into it:
    // the first revision makes it with the default table, the second
    // project configuration moves on to `meta.versions`.
    p.ok(&["upgrade", "head"]);
    p.set_config("version_table", "\"meta.versions\"");
    p.ok(&["stamp", "schema000001"]);
    assert_eq!(
        p.query("SELECT version_num::text FROM meta.versions"),
        vec![vec!["schema000001"]]
    );
    assert_eq!(p.ok(&["current"]).trim(), "schema000001 (head)");
}

const BASE: &str = "base00000001";
const BAD: &str = "bad000000002";

fn project_with_base() -> (TestProject, String) {
    let p = project();
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE kept (id serial PRIMARY KEY, note text NOT NULL);\n\
         INSERT INTO kept (note) VALUES ('one'), ('two');\n",
        "DROP TABLE kept;\n",
    );
    p.ok(&["upgrade", "head"]);
    let dump = p.dump();
    assert!(dump.contains("one"), "{dump}");
    (p, dump)
}

fn upgrade_fails_unchanged(p: &TestProject, before: &str, expected: &[&str]) -> String {
    let stderr = p.fails(&["upgrade", "head"]);
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
    assert_eq!(p.dump(), before, "the database changed");
    assert_eq!(p.versions(), vec![BASE]);
    stderr
}

#[test]
fn a_panicking_guest_leaves_postgresql_as_it_was() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "panic", "ok");
    upgrade_fails_unchanged(&p, &before, &["misbehave: deliberate panic"]);
}

#[test]
fn a_guest_error_leaves_postgresql_as_it_was() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "err", "ok");
    upgrade_fails_unchanged(&p, &before, &["misbehave: deliberate error"]);
}

#[test]
fn a_failed_statement_the_guest_ignores_rolls_back_its_earlier_create_table_on_postgresql() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "bad-sql", "ok");
    upgrade_fails_unchanged(
        &p,
        &before,
        &[
            "no_such_table",
            "does not exist",
            "INSERT INTO no_such_table",
        ],
    );
    assert!(!p.has_table("misbehave_partial"));
}

#[test]
fn a_failing_sql_revision_is_rolled_back_whole_on_postgresql() {
    let (p, before) = project_with_base();
    p.sql_revision(
        BAD,
        Some(BASE),
        "CREATE TABLE t (x integer);\nINSERT INTO kept (note) VALUES ('three');\n\
         INSERT INTO kept (note) VALUES (NULL);\n",
        "DROP TABLE t;\n",
    );
    upgrade_fails_unchanged(&p, &before, &["null value"]);
    assert!(!p.has_table("t"));
}

#[test]
fn a_good_misbehave_revision_applies_and_reverts_on_postgresql() {
    let (p, _) = project_with_base();
    p.misbehave(BAD, Some(BASE), "ok", "ok");
    p.ok(&["upgrade", "head"]);
    assert!(p.has_table("misbehave_ok"));
    p.ok(&["downgrade", "-1"]);
    assert!(!p.has_table("misbehave_ok"));
}

#[test]
fn every_mapped_type_round_trips_through_a_guest_on_postgresql() {
    let p = project();
    p.types_revision("types0000001", None, "roundtrip");
    p.ok(&["upgrade", "head"]);
    assert_eq!(
        p.query("SELECT count(*)::int8, count(c_uuid)::int8 FROM typed_values"),
        vec![vec!["5", "3"]]
    );
    assert_eq!(
        p.query(
            "SELECT c_timestamptz = '2024-02-29 12:45:30.123456+00'::timestamptz, \
             c_jsonb = '{\"c\": {\"d\": true}, \"a\": \"x\", \"b\": [1, 2.5, null]}'::jsonb, \
             c_numeric::text FROM typed_values WHERE id = 1"
        ),
        vec![vec!["true", "true", "-123.4500"]]
    );
    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("typed_values"));
}

#[test]
fn a_column_of_an_unmapped_type_is_an_error_that_names_it_and_suggests_a_cast() {
    let p = project();
    p.types_revision("types0000001", None, "unmapped");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("\"location\""), "{stderr}");
    assert!(stderr.contains("point"), "{stderr}");
    assert!(stderr.contains("location::text"), "{stderr}");
}

#[test]
fn a_malformed_date_parameter_names_its_position_and_the_expected_form() {
    let p = project();
    p.types_revision("types0000001", None, "malformed");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("parameter $1"), "{stderr}");
    assert!(stderr.contains("YYYY-MM-DD"), "{stderr}");
}

/// Not a guarantee of guarantees.rs: `CREATE INDEX CONCURRENTLY` is
/// PostgreSQL's alone.
#[test]
fn create_index_concurrently_runs_outside_a_transaction_under_the_runs_lock() {
    let p = TestProject::on(Backend::Postgres);
    p.sql_revision(
        "1dc000000001",
        None,
        "CREATE TABLE big (id INTEGER NOT NULL, note TEXT);\n\
         INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) AS g;\n",
        "DROP TABLE big;\n",
    );
    let dir = p.sql_revision(
        "1dc000000002",
        Some("1dc000000001"),
        "CREATE INDEX CONCURRENTLY big_note ON big (note);\n",
        "DROP INDEX CONCURRENTLY big_note;\n",
    );
    // In a transaction, PostgreSQL refuses it: the mode is what makes it work.
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("cannot run inside a transaction block"),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec!["1dc000000001"]);

    TestProject::outside_a_transaction(&dir);
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["1dc000000002"]);
    let valid = p.query(
        "SELECT i.indisvalid::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = 'big_note'",
    );
    assert_eq!(
        valid,
        vec![vec!["true"]],
        "the index was built and is valid"
    );
    p.ok(&["downgrade", "-1"]);
    assert!(
        p.query("SELECT 1 FROM pg_class WHERE relname = 'big_note'")
            .is_empty()
    );
}

#[test]
fn commit_refuses_a_transaction_that_postgresql_aborted() {
    let p = project();
    let url = p.url();
    block_on(async {
        let mut conn = db::connect(&url).await.expect("connects");
        conn.execute_script("CREATE TABLE t (x integer)")
            .await
            .unwrap();
        conn.begin().await.unwrap();
        conn.execute("INSERT INTO t VALUES ($1)", vec![Value::Integer(1)])
            .await
            .unwrap();
        let failed = conn
            .execute("INSERT INTO no_such_table VALUES (1)", vec![])
            .await
            .expect_err("a missing table");
        assert_eq!(
            failed.code.as_deref(),
            Some("42P01"),
            "SQLSTATE in the code"
        );
        let err = conn.commit().await.expect_err("the commit is refused");
        assert!(err.message.contains("rolled back"), "{}", err.message);
        // The connection is usable again, and nothing was committed.
        let rows = conn.query("SELECT count(*) FROM t", vec![]).await.unwrap();
        assert_eq!(rows.rows, vec![vec![Value::Integer(0)]]);
    });
}

#[test]
fn a_cursor_streams_while_the_revision_writes_and_sees_the_rows_of_its_opening() {
    let p = project();
    let url = p.url();
    block_on(async {
        let mut conn = db::connect(&url).await.expect("connects");
        conn.execute_script(
            "CREATE TABLE n (i int8 PRIMARY KEY); INSERT INTO n SELECT generate_series(1, 25)",
        )
        .await
        .unwrap();
        conn.begin().await.unwrap();
        let mut cursor = conn
            .open_cursor(
                "SELECT i, i * 2 AS twice FROM n WHERE i > $1 ORDER BY i;",
                vec![Value::Integer(5)],
            )
            .await
            .unwrap();
        assert_eq!(cursor.columns(), ["i", "twice"]);
        let mut seen = Vec::new();
        loop {
            let batch = conn.cursor_next(&mut cursor, 7).await.unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 7);
            for row in &batch {
                if let Value::Integer(i) = row[0] {
                    seen.push(i);
                    conn.execute("INSERT INTO n VALUES ($1)", vec![Value::Integer(i + 100)])
                        .await
                        .unwrap();
                }
            }
        }
        conn.close_cursor(cursor).await.unwrap();
        assert_eq!(seen, (6..=25).collect::<Vec<i64>>());
        conn.commit().await.unwrap();
        let rows = conn.query("SELECT count(*) FROM n", vec![]).await.unwrap();
        assert_eq!(rows.rows, vec![vec![Value::Integer(45)]]);
    });
}

#[test]
fn the_run_lock_excludes_a_second_runner_and_names_the_holder() {
    let p = project();
    let url = p.url();
    block_on(async {
        let held = db::lock(&url, "aludel_version", Duration::from_secs(1))
            .await
            .expect("the first lock");
        let err = db::lock(&url, "aludel_version", Duration::from_millis(200))
            .await
            .err()
            .expect("the second runner times out");
        match &err {
            LockError::Timeout { holder, .. } => {
                let holder = holder.as_deref().unwrap_or_default();
                assert!(holder.contains("pid"), "{holder}");
                assert!(holder.contains("aludel (run lock)"), "{holder}");
            }
            other => panic!("expected a timeout, got {other}"),
        }
        assert!(err.to_string().contains("--lock-timeout"), "{err}");
        // Another lock name is another lock.
        let other = db::lock(&url, "other_table", Duration::from_millis(200))
            .await
            .expect("an unrelated lock");
        other.release().await.unwrap();
        held.release().await.unwrap();
        let again = db::lock(&url, "aludel_version", Duration::from_millis(200))
            .await
            .expect("free again after release");
        again.release().await.unwrap();
    });
}
