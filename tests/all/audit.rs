//! The audit log, checksums and the artifact store, on every backend: each
//! check is written once as a function of the backend, and the test
//! functions at the end run it on SQLite, PostgreSQL and MariaDB.

use crate::offline::snapshot;
use crate::support::{Backend, TestProject, on_every_backend};

const A: &str = "a0d100000001";
const B: &str = "a0d100000002";
const C: &str = "a0d100000003";

/// A creates a table, B inserts two rows, C fails.
fn project(backend: Backend) -> TestProject {
    let p = TestProject::on(backend);
    p.sql_revision(
        A,
        None,
        "CREATE TABLE audited (id INTEGER NOT NULL);\n",
        "DROP TABLE audited;\n",
    );
    p.sql_revision(
        B,
        Some(A),
        "INSERT INTO audited (id) VALUES (1);\nINSERT INTO audited (id) VALUES (2);\n",
        "DELETE FROM audited;\n",
    );
    p.sql_revision(
        C,
        Some(B),
        "INSERT INTO no_such_table (id) VALUES (1);\n",
        "",
    );
    p
}

const COLUMNS: &str = "revision, direction, outcome, checksum, artifact, runner, component_hash, \
    db_user, os_user, host, aludel_version, started_at, finished_at, duration_ms, statements, \
    rows_affected, error";

fn history(p: &TestProject) -> Vec<Vec<String>> {
    p.query(&format!(
        "SELECT {COLUMNS} FROM aludel_version_history ORDER BY id"
    ))
}

pub fn audit_rows_record_apply_revert_stamp_and_failure(backend: Backend) {
    let p = project(backend);
    p.ok(&["upgrade", B]);
    let err = p.fails(&["upgrade", "head"]);
    assert!(err.contains("no_such_table"), "{err}");
    // The failed script wrote nothing that commits implicitly, so even on
    // MySQL it is rolled back whole and nothing waits to be resolved.
    p.ok(&["downgrade", "-1"]);
    p.ok(&["stamp", B]);

    let rows = history(&p);
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (A, "upgrade", "applied"),
            (B, "upgrade", "applied"),
            (C, "upgrade", "failed"),
            (B, "downgrade", "reverted"),
            (B, "upgrade", "stamped"),
        ]
    );
    let os_user = std::env::var("USER").ok();
    for (i, r) in rows.iter().enumerate() {
        let ran = r[2] != "stamped";
        assert!(
            r[3].starts_with("v1:") && r[3].len() == 67,
            "checksum {r:?}"
        );
        if r[2] == "failed" {
            assert_eq!(r[4], "NULL", "a failure stores nothing: {r:?}");
        } else {
            assert_eq!(r[4].len(), 64, "artifact {r:?}");
        }
        assert_eq!(r[5], "plugin sql");
        assert_eq!(r[6].len() == 64, ran, "component hash {r:?}");
        match backend {
            Backend::Sqlite => assert_eq!(r[7], "NULL"),
            Backend::Postgres => assert_eq!(r[7], "postgres"),
            Backend::Mysql => assert!(r[7].starts_with("root@"), "db user {r:?}"),
        }
        if let Some(user) = &os_user {
            assert_eq!(&r[8], user);
        }
        assert!(r[9] != "NULL" && !r[9].is_empty(), "host {r:?}");
        assert_eq!(r[10], env!("CARGO_PKG_VERSION"));
        assert_eq!(r[11].len(), 24, "started_at {r:?}");
        assert!(r[11] <= r[12], "started before it finished: {r:?}");
        assert!(r[13].parse::<i64>().unwrap() >= 0);
        if i > 0 {
            assert!(rows[i - 1][11] <= r[11], "rows in time order");
        }
    }
    // How much each did.
    assert_eq!((rows[0][14].as_str(), rows[0][15].as_str()), ("1", "0"));
    // The sql plugin runs a file as one script: one statement.
    assert_eq!((rows[1][14].as_str(), rows[1][15].as_str()), ("1", "2"));
    assert_eq!((rows[3][14].as_str(), rows[3][15].as_str()), ("1", "2"));
    assert_eq!((rows[4][14].as_str(), rows[4][15].as_str()), ("0", "0"));
    // Only the failure has an error, and it names the cause.
    for r in &rows {
        assert_eq!(r[16] != "NULL", r[2] == "failed", "{r:?}");
    }
    assert!(rows[2][16].contains("no_such_table"), "{:?}", rows[2]);
    // The revision that ran and the one reverted are the same files.
    assert_eq!(rows[1][3], rows[3][3]);
    assert_eq!(p.versions(), vec![B.to_string()]);
}

pub fn a_failed_revision_leaves_no_applied_row(backend: Backend) {
    let p = project(backend);
    p.fails(&["upgrade", "head"]);
    let outcomes: Vec<String> = history(&p)
        .into_iter()
        .filter(|r| r[0] == C)
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(outcomes, vec!["failed"]);
}

pub fn an_edited_revision_is_refused_but_line_endings_and_a_bom_are_not_a_change(backend: Backend) {
    let p = project(backend);
    p.ok(&["upgrade", B]);
    let dir = p.root().join(format!("versions/{B}_sql"));

    // What git's autocrlf or an editor does is no change.
    std::fs::write(
        dir.join("upgrade.sql"),
        "\u{feff}INSERT INTO audited (id) VALUES (1);\r\nINSERT INTO audited (id) VALUES (2);\r\n",
    )
    .unwrap();
    p.ok(&["verify"]);
    p.ok(&["upgrade", B]);

    // A real edit is refused, naming the revision, the file and the way out.
    std::fs::write(
        dir.join("upgrade.sql"),
        "INSERT INTO audited (id) VALUES (3);\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "new\n").unwrap();
    for args in [&["upgrade", "head"][..], &["downgrade", "base"][..]] {
        let err = p.fails(args);
        assert!(
            err.contains(&format!(
                "revision {B} (versions/{B}_sql) changed after it was applied"
            )) && err.contains("notes.txt (added), upgrade.sql (edited)")
                && err.contains(&format!("aludel accept {B}")),
            "{err}"
        );
    }
    let run = p.aludel(&["verify"]);
    assert!(!run.success);
    assert!(
        run.stdout.contains("upgrade.sql (edited)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(A), "A did not change: {}", run.stdout);

    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    p.ok(&["accept", B]);
    p.ok(&["verify"]);
    let last = history(&p).pop().unwrap();
    assert_eq!((last[0].as_str(), last[2].as_str()), (B, "accepted"));
    // What is stored now is the accepted content.
    let shown = p.ok(&["show", B, "--stored"]);
    assert!(shown.contains("VALUES (3)"), "{shown}");
    p.ok(&["downgrade", "base"]);
}

pub fn a_downgrade_works_from_the_stored_artifact_when_the_directory_is_gone(backend: Backend) {
    let p = project(backend);
    p.ok(&["upgrade", B]);
    // As after switching to a git branch without B.
    std::fs::remove_dir_all(p.root().join(format!("versions/{B}_sql"))).unwrap();
    std::fs::remove_dir_all(p.root().join(format!("versions/{C}_sql"))).unwrap();
    let shown = p.ok(&["show", B, "--stored"]);
    assert!(
        shown.contains("--- upgrade.sql\nINSERT INTO audited (id) VALUES (1);"),
        "{shown}"
    );
    assert!(shown.contains("--- revision.toml"), "{shown}");
    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.versions(), vec![A.to_string()]);
    assert!(p.query("SELECT id FROM audited").is_empty());
    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("audited"));
}

pub fn one_plugin_serving_100_revisions_is_stored_once(backend: Backend) {
    let p = TestProject::on(backend);
    let ids: Vec<String> = (0..100).map(|i| format!("a0d2{i:08}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let parent = i.checked_sub(1).map(|j| ids[j].as_str());
        p.sql_revision(id, parent, "SELECT 1;\n", "SELECT 1;\n");
    }
    p.ok(&["upgrade", "head"]);
    let count = |kind: &str| {
        p.query(&format!(
            "SELECT COUNT(*) FROM aludel_version_artifacts WHERE kind = '{kind}'"
        ))[0][0]
            .clone()
    };
    assert_eq!(count("plugin"), "1");
    assert_eq!(count("revision"), "100");
    p.ok(&["downgrade", "base"]);
    p.ok(&["upgrade", "head"]);
    assert_eq!(count("plugin"), "1", "the store does not grow");
    assert_eq!(count("revision"), "100", "the store does not grow");
}

pub fn log_json_has_every_field(backend: Backend) {
    let p = project(backend);
    p.ok(&["upgrade", B]);
    p.ok(&["downgrade", "-1"]);
    p.ok(&["stamp", B]);
    let json = p.ok(&["log", "--format", "json"]);
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = value.as_array_mut().expect("an array");
    assert_eq!(rows.len(), 4);
    for row in rows.iter_mut() {
        let obj = row.as_object_mut().expect("objects");
        // What differs from run to run and machine to machine.
        for key in ["started_at", "finished_at"] {
            assert!(obj[key].as_str().is_some_and(|t| t.ends_with('Z')));
            obj.insert(key.into(), "<time>".into());
        }
        obj.insert("duration_ms".into(), "<ms>".into());
        // USER may be unset where the tests run: the OS user and host are
        // replaced whatever they are.
        for key in ["os_user", "host"] {
            obj.insert(key.into(), format!("<{key}>").into());
        }
        for key in ["db_user", "component_hash"] {
            if !obj[key].is_null() {
                obj.insert(key.into(), format!("<{key}>").into());
            }
        }
    }
    let normalised = serde_json::to_string_pretty(&value).unwrap() + "\n";
    let name = match backend {
        Backend::Sqlite => "log_json_sqlite.json",
        Backend::Postgres => "log_json_postgres.json",
        Backend::Mysql => "log_json_mysql.json",
    };
    snapshot(name, &normalised);

    // Filters.
    let only_a: serde_json::Value =
        serde_json::from_str(&p.ok(&["log", "--format", "json", "--revision", A])).unwrap();
    assert_eq!(only_a.as_array().unwrap().len(), 1);
    let future: serde_json::Value = serde_json::from_str(&p.ok(&[
        "log",
        "--format",
        "json",
        "--since",
        "2999-01-01T00:00:00Z",
    ]))
    .unwrap();
    assert_eq!(future, serde_json::json!([]));
    let past: serde_json::Value = serde_json::from_str(&p.ok(&[
        "log",
        "--format",
        "json",
        "--until",
        "2000-01-01T00:00:00+02:00",
    ]))
    .unwrap();
    assert_eq!(past, serde_json::json!([]));
    let err = p.fails(&["log", "--since", "yesterday"]);
    assert!(err.contains("RFC 3339"), "{err}");
    let table = p.ok(&["log"]);
    assert!(table.starts_with("started"), "{table}");
    assert!(
        table.contains(&format!("{B}  downgrade  reverted")),
        "{table}"
    );
}

on_every_backend!(
    audit_rows_record_apply_revert_stamp_and_failure,
    a_failed_revision_leaves_no_applied_row,
    an_edited_revision_is_refused_but_line_endings_and_a_bom_are_not_a_change,
    a_downgrade_works_from_the_stored_artifact_when_the_directory_is_gone,
    one_plugin_serving_100_revisions_is_stored_once,
    log_json_has_every_field,
);
