//! The MySQL/MariaDB backend against the real server: the whole flow, a
//! data transform, rollback of a failing revision's DML, contained guest
//! failures, and every mapped type through a guest. Each test has a database
//! of its own.

use crate::support::{Backend, TestProject, fixtures};

const PEOPLE: &str = "peop00000001";
const SPLIT: &str = "spli00000002";
const ROWS: usize = 1_200;

fn full_name(i: usize) -> Option<String> {
    match i % 4 {
        0 => Some(format!("First{i} Last{i}")),
        1 => Some(format!("Mononym{i}")),
        2 => None,
        _ => Some(format!("  Spaced{i}   Out {i}  ")),
    }
}

fn expected_split(name: &Option<String>) -> (String, String) {
    let Some(name) = name else {
        return ("NULL".into(), "NULL".into());
    };
    let name = name.trim();
    match name.split_once(' ') {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (name.to_string(), "NULL".into()),
    }
}

fn people_revision(p: &TestProject) {
    let mut upgrade = String::from(
        "CREATE TABLE people (id INTEGER NOT NULL PRIMARY KEY, full_name VARCHAR(200));\n\
         INSERT INTO people (id, full_name) VALUES\n",
    );
    let values: Vec<String> = (0..ROWS)
        .map(|i| match full_name(i) {
            Some(n) => format!("({i}, '{n}')"),
            None => format!("({i}, NULL)"),
        })
        .collect();
    upgrade.push_str(&values.join(",\n"));
    upgrade.push_str(";\n");
    p.sql_revision(PEOPLE, None, &upgrade, "DROP TABLE people;\n");
}

fn columns(p: &TestProject, table: &str) -> Vec<String> {
    p.query(&format!(
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY ordinal_position"
    ))
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

#[test]
fn on_mysql_sql_and_rust_revisions_upgrade_show_their_history_and_downgrade_to_base() {
    let p = TestProject::on(Backend::Mysql);
    people_revision(&p);
    p.component_revision(SPLIT, Some(PEOPLE), &fixtures().transform, "");

    // `current` never creates the version table.
    p.ok(&["current"]);
    assert!(!p.has_table("aludel_version"));

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![SPLIT]);
    let rows = p.query("SELECT id, first_name, last_name FROM people ORDER BY id");
    assert_eq!(rows.len(), ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (first, last) = expected_split(&full_name(i));
        assert_eq!(row, &vec![i.to_string(), first, last], "row {i}");
    }
    assert_eq!(p.ok(&["current"]).trim(), format!("{SPLIT} (head)"));
    assert_eq!(
        p.ok(&["history"]).lines().collect::<Vec<_>>(),
        vec![
            format!("{PEOPLE} -> {SPLIT} (head), revision {SPLIT}"),
            format!("<base> -> {PEOPLE}, revision {PEOPLE}"),
        ]
    );

    // The transform reverted row by row.
    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.versions(), vec![PEOPLE]);
    assert_eq!(columns(&p, "people"), vec!["id", "full_name"]);
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
    assert!(
        p.has_table("aludel_version"),
        "the version table stays, as Alembic's"
    );

    p.ok(&["upgrade", "+1"]);
    assert_eq!(p.versions(), vec![PEOPLE]);
    assert_eq!(columns(&p, "people"), vec!["id", "full_name"]);
}

#[test]
fn a_mariadb_url_is_accepted_as_a_mysql_url() {
    let p = TestProject::on(Backend::Mysql);
    p.sql_revision(
        "aaaa00000001",
        None,
        "CREATE TABLE a (x INT);",
        "DROP TABLE a;",
    );
    let url = p.url().replacen("mysql://", "mariadb://", 1);
    p.ok(&["upgrade", "head", "--url", &url]);
    assert_eq!(p.versions(), vec!["aaaa00000001"]);
    assert!(p.has_table("a"));
}

const BASE: &str = "base00000001";
const BAD: &str = "bad000000002";

#[test]
fn a_database_qualified_version_table_lives_in_that_database_on_mysql() {
    let p = TestProject::on(Backend::Mysql);
    let url = p.url();
    let database = url.rsplit('/').next().expect("the URL names a database");
    p.set_config("version_table", &format!("\"{database}.versions\""));
    p.sql_revision(
        "first0000001",
        None,
        "CREATE TABLE a (id INTEGER);",
        "DROP TABLE a;",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(
        p.query(&format!("SELECT version_num FROM {database}.versions")),
        vec![vec!["first0000001"]]
    );
    assert_eq!(p.ok(&["current"]).trim(), "first0000001 (head)");
    // A second run finds the table it made, rather than making it again.
    p.ok(&["downgrade", "base"]);
    assert_eq!(p.ok(&["current"]).trim(), "");
}

fn project_with_base() -> (TestProject, String) {
    let p = TestProject::on(Backend::Mysql);
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE kept (id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20));\n\
         INSERT INTO kept (note) VALUES ('one'), ('two');\n",
        "DROP TABLE kept;\n",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![BASE]);
    let dump = p.dump();
    assert!(dump.contains("one") && dump.contains("two"), "{dump}");
    (p, dump)
}

/// The dump without the failed-state table, which records the failure on
/// MySQL (DDL is not transactional there).
fn dump_without_failed_state(p: &TestProject) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in p.dump().lines() {
        if line.starts_with("table ") {
            skipping = line.starts_with("table aludel_version_failed:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn assert_unchanged(p: &TestProject, before: &str) {
    assert_eq!(dump_without_failed_state(p), before, "the database changed");
    assert_eq!(p.versions(), vec![BASE]);
}

#[test]
fn on_mysql_a_failing_statement_rolls_back_the_inserts_before_it() {
    let (p, before) = project_with_base();
    p.sql_revision(
        BAD,
        Some(BASE),
        "INSERT INTO kept (note) VALUES ('three');\n\
         UPDATE kept SET note = 'changed' WHERE note = 'one';\n\
         INSERT INTO no_such_table VALUES (1);\n",
        "",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains(BAD), "names the revision: {stderr}");
    assert!(
        stderr.contains("no_such_table"),
        "shows the error: {stderr}"
    );
    assert!(
        stderr.contains("1146"),
        "carries MySQL's error number: {stderr}"
    );
    assert_unchanged(&p, &before);
}

#[test]
fn on_mysql_a_guest_that_panics_leaves_the_database_as_it_was() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "panic", "ok");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("misbehave: deliberate panic"), "{stderr}");
    assert_unchanged(&p, &before);
}

#[test]
fn on_mysql_a_guest_that_returns_an_error_leaves_the_database_as_it_was() {
    let (p, before) = project_with_base();
    p.misbehave(BAD, Some(BASE), "err", "ok");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("misbehave: deliberate error"), "{stderr}");
    assert_unchanged(&p, &before);
}

#[test]
fn on_mysql_a_script_runs_every_statement_and_a_failure_says_how_many_ran() {
    let p = TestProject::on(Backend::Mysql);
    p.sql_revision(
        "scri00000001",
        None,
        "CREATE TABLE s (x INT);\nINSERT INTO s VALUES (1), (2);\nUPDATE s SET x = x * 10;\n",
        "DROP TABLE s;\n",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(
        p.query("SELECT x FROM s ORDER BY x"),
        vec![vec!["10"], vec!["20"]]
    );

    p.sql_revision(
        "scri00000002",
        Some("scri00000001"),
        "CREATE TABLE t (x INT);\nINSERT INTO nowhere VALUES (1);\n",
        "DROP TABLE t;\n",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("statement 2 of the script; the 1 before it ran"),
        "{stderr}"
    );
    // MySQL commits DDL implicitly: the CREATE TABLE stays.
    assert!(p.has_table("t"));
    assert_eq!(p.versions(), vec!["scri00000001"]);
}

#[test]
fn on_mysql_every_mapped_type_round_trips_through_a_guest_by_query_and_by_cursor() {
    let p = TestProject::on(Backend::Mysql);
    p.types_revision("type00000001", None, "roundtrip");
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["type00000001"]);
    assert!(p.has_table("typed_values"));
    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("typed_values"));
    assert_eq!(p.versions(), Vec::<String>::new());
}

#[test]
fn on_mysql_an_unmapped_column_type_is_an_error_naming_the_column_and_a_conversion() {
    let p = TestProject::on(Backend::Mysql);
    p.types_revision("type00000001", None, "unmapped");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("column `location`"), "{stderr}");
    assert!(stderr.contains("GEOMETRY"), "{stderr}");
    assert!(stderr.contains("ST_AsText(location)"), "{stderr}");
    assert_eq!(p.versions(), Vec::<String>::new());
}

#[test]
fn on_mysql_an_unsigned_integer_above_the_s64_range_is_an_error_naming_the_column() {
    let p = TestProject::on(Backend::Mysql);
    p.types_revision("type00000001", None, "too-big");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("column `huge` holds 18446744073709551615"),
        "{stderr}"
    );
    assert!(stderr.contains("CAST(huge AS CHAR)"), "{stderr}");
}

#[test]
fn on_mysql_a_malformed_date_parameter_is_an_error_naming_its_position() {
    let p = TestProject::on(Backend::Mysql);
    p.types_revision("type00000001", None, "malformed");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("parameter 1"), "{stderr}");
    assert!(stderr.contains("29/02/2024"), "{stderr}");
    assert!(stderr.contains("YYYY-MM-DD"), "{stderr}");
}

#[test]
fn on_mysql_a_held_lock_times_out_naming_the_connection_that_holds_it() {
    use sqlx::Connection;
    let p = TestProject::on(Backend::Mysql);
    p.sql_revision(
        "aaaa00000001",
        None,
        "CREATE TABLE a (x INT);",
        "DROP TABLE a;",
    );
    let url = p.url();
    let db = url.rsplit('/').next().unwrap().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Another "runner" holds the lock aludel derives from its name and the database's.
    let mut holder = runtime.block_on(async {
        let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
        let got: i64 = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(format!("aludel-aludel_version@{db}"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(got, 1);
        c
    });
    let started = std::time::Instant::now();
    let stderr = p.fails(&["upgrade", "head", "--lock-timeout", "1"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        stderr.contains("another run holds the migration lock"),
        "{stderr}"
    );
    assert!(stderr.contains("held by connection"), "{stderr}");
    assert!(stderr.contains(&format!("database {db}")), "{stderr}");
    assert!(!p.has_table("a"));

    runtime.block_on(async {
        let _: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)")
            .bind(format!("aludel-aludel_version@{db}"))
            .fetch_one(&mut holder)
            .await
            .unwrap();
    });
    p.ok(&["upgrade", "head", "--lock-timeout", "1"]);
    assert_eq!(p.versions(), vec!["aaaa00000001"]);
}
