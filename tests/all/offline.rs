//! Offline mode (`--sql`): the SQL of a project mixing SQL and Rust
//! revisions, per dialect, compared with a reviewed snapshot; and that SQL,
//! run with the database's own command-line client, makes the same database
//! as an online upgrade.
//!
//! `ALUDEL_UPDATE_SNAPSHOTS=1 cargo test --test all offline` rewrites the
//! snapshots in tests/snapshots/ after a deliberate change: review the diff.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::{Backend, TestProject, fixtures};

fn mixed_project(backend: Backend) -> TestProject {
    let p = TestProject::on(backend);
    p.sql_revision(
        "0ff100000001",
        None,
        "CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL);\n\
         INSERT INTO items (id, name) VALUES (1, 'first'), (2, 'it''s second');\n",
        "DROP TABLE items;\n",
    );
    p.component_revision("0ff100000002", Some("0ff100000001"), &fixtures().seed, "");
    p.sql_revision(
        "0ff100000003",
        Some("0ff100000002"),
        "CREATE INDEX items_name ON items (name);\n",
        if backend == Backend::Mysql {
            "DROP INDEX items_name ON items;\n"
        } else {
            "DROP INDEX items_name;\n"
        },
    );
    p
}

pub fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/snapshots")
        .join(name);
    if std::env::var_os("ALUDEL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with ALUDEL_UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "the output differs from {} (ALUDEL_UPDATE_SNAPSHOTS=1 rewrites it)",
        path.display()
    );
}

/// Runs a SQL file with the database's own client, as a DBA would.
fn run_with_client(p: &TestProject, sql: &str) {
    let url = p.url();
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut cmd = match p.backend() {
        Backend::Sqlite => {
            let mut c = Command::new("sqlite3");
            c.args(["-bail", &p.db_path().display().to_string()]);
            c
        }
        Backend::Postgres => {
            let mut c = Command::new("psql");
            c.args([
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                &db,
            ]);
            c
        }
        Backend::Mysql => {
            let mut c = Command::new("mariadb");
            c.args(["-h", "127.0.0.1", "-u", "root", &db]);
            c
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the database's command-line client runs (see README, Databases)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the client refused the SQL: {}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn offline_matches_online(backend: Backend, name: &str) {
    let offline = mixed_project(backend);
    let sql = offline.ok(&["upgrade", "--sql", "head"]);
    snapshot(&format!("upgrade_sql_{name}.sql"), &sql);
    assert!(!offline.has_table("items"), "--sql ran nothing");
    run_with_client(&offline, &sql);

    let online = mixed_project(backend);
    online.ok(&["upgrade", "head"]);
    assert_eq!(
        offline.dump(),
        online.dump(),
        "offline SQL and online upgrade differ"
    );

    // And back down, offline from head to base.
    let down = offline.ok(&["downgrade", "--sql", "head:base"]);
    snapshot(&format!("downgrade_sql_{name}.sql"), &down);
    run_with_client(&offline, &down);
    online.ok(&["downgrade", "base"]);
    assert_eq!(offline.dump(), online.dump());
}

#[test]
fn offline_sql_for_sqlite_matches_its_snapshot_and_an_online_upgrade() {
    offline_matches_online(Backend::Sqlite, "sqlite");
}

#[test]
fn offline_sql_for_postgres_matches_its_snapshot_and_an_online_upgrade() {
    offline_matches_online(Backend::Postgres, "postgres");
}

#[test]
fn offline_sql_for_mysql_matches_its_snapshot_and_an_online_upgrade() {
    offline_matches_online(Backend::Mysql, "mysql");
}

#[test]
fn a_revision_that_reads_cannot_run_offline_and_says_why() {
    let p = TestProject::new();
    p.sql_revision(
        "0ff200000001",
        None,
        "CREATE TABLE people (id INTEGER, full_name TEXT);",
        "",
    );
    p.component_revision(
        "0ff200000002",
        Some("0ff200000001"),
        &fixtures().transform,
        "",
    );
    let stderr = p.fails(&["upgrade", "--sql", "head"]);
    assert!(stderr.contains("revision 0ff200000002"), "{stderr}");
    assert!(stderr.contains("offline mode (--sql)"), "{stderr}");
    assert!(
        stderr.contains("needs an answer from the database"),
        "{stderr}"
    );
}

#[test]
fn an_offline_downgrade_needs_a_starting_point() {
    let p = mixed_project(Backend::Sqlite);
    let stderr = p.fails(&["downgrade", "--sql", "base"]);
    assert!(stderr.contains("FROM:TO"), "{stderr}");
}
