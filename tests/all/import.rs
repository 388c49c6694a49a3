//! `aludel import alembic` against Alembic itself: the Alembic project in
//! tests/fixtures/alembic_project (16 revisions: two merges, two branch
//! labels, a depends_on, create_table, add_column, create_index,
//! alter_column, execute, bulk_insert, batch_alter_table, a dialect check
//! through `op.get_bind().engine.url`, and a data migration reading rows
//! through `get_bind()`) is run by Alembic on one database and imported and
//! run by aludel on another, and the two catalogues are compared.
//!
//! Alembic comes from target/differential-venv, which ./scripts/test makes
//! (with its pins) before `cargo test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Backend, POSTGRES_ADMIN_URL, TestProject};

const REVISIONS: usize = 16;
/// The data migration: it reads rows, so it is not frozen into SQL.
const READS_ROWS: &str = "c0ffee000012";

fn rev(n: usize) -> String {
    format!("c0ffee0000{n:02}")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf()
}

/// The Python with the pinned Alembic that ./scripts/test installs.
fn python() -> PathBuf {
    let python = workspace_root().join("target/differential-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: ./scripts/test makes it before `cargo test` (python3 -m venv \
         target/differential-venv, then pip install the pins listed in scripts/test)",
        python.display()
    );
    python
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("make a directory");
    for entry in std::fs::read_dir(from).expect("read the fixture") {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&path, &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy a fixture file");
        }
    }
}

/// The Alembic project, copied into `p`'s directory.
fn alembic_project(p: &TestProject) -> PathBuf {
    let dir = p.root().join("alembic_src");
    copy_dir(
        &workspace_root().join("tests/fixtures/alembic_project"),
        &dir,
    );
    dir
}

/// `p`'s database as SQLAlchemy names it.
fn sqlalchemy_url(p: &TestProject) -> String {
    match p.backend() {
        Backend::Sqlite => format!("sqlite:///{}", p.db_path().display()),
        _ => p.url().replacen("postgres://", "postgresql+pg8000://", 1),
    }
}

/// Runs Alembic itself on `p`'s database.
fn alembic(p: &TestProject, project: &Path, args: &[&str]) {
    let out = Command::new(python())
        .args(["-m", "alembic", "-c"])
        .arg(project.join("alembic.ini"))
        .args(args)
        .env("DATABASE_URL", sqlalchemy_url(p))
        .output()
        .expect("alembic runs");
    assert!(
        out.status.success(),
        "alembic {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_bookkeeping(table: &str) -> bool {
    table.starts_with("alembic_version") || table.starts_with("aludel_version")
}

/// The catalogue of the project's own objects (version tables aside) and
/// the rows of its tables, normalised so that two databases that ran the
/// same statements read the same.
fn schema_dump(p: &TestProject) -> String {
    let mut out = String::new();
    let tables: Vec<String> = p
        .tables()
        .into_iter()
        .filter(|t| !is_bookkeeping(t))
        .collect();
    match p.backend() {
        Backend::Sqlite => {
            for row in p.query(
                "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            ) {
                if !is_bookkeeping(&row[2]) {
                    out.push_str(&format!(
                        "{} {} on {}: {}\n",
                        row[0], row[1], row[2], row[3]
                    ));
                }
            }
        }
        _ => {
            for table in &tables {
                let columns = p.query(&format!(
                    "SELECT column_name::text, data_type::text, is_nullable::text, \
                     COALESCE(column_default::text, ''), \
                     COALESCE(character_maximum_length::text, '') \
                     FROM information_schema.columns WHERE table_schema = current_schema() \
                     AND table_name = '{table}' ORDER BY ordinal_position"
                ));
                out.push_str(&format!("table {table}: {columns:?}\n"));
                let constraints = p.query(&format!(
                    "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                     WHERE conrelid = '{table}'::regclass ORDER BY conname"
                ));
                out.push_str(&format!("  constraints: {constraints:?}\n"));
                let indexes = p.query(&format!(
                    "SELECT indexname::text, indexdef FROM pg_indexes \
                     WHERE schemaname = current_schema() AND tablename = '{table}' \
                     ORDER BY indexname"
                ));
                out.push_str(&format!("  indexes: {indexes:?}\n"));
            }
            let views = p.query(
                "SELECT table_name::text, view_definition::text FROM information_schema.views \
                 WHERE table_schema = current_schema() ORDER BY table_name",
            );
            out.push_str(&format!("views: {views:?}\n"));
        }
    }
    for table in &tables {
        let mut rows = p.query(&format!("SELECT * FROM \"{table}\""));
        rows.sort();
        out.push_str(&format!("rows of {table}: {rows:?}\n"));
    }
    out
}

/// Ports the data migration by hand, as its user would: the SQL of what
/// it did row by row, in one statement.
fn port_by_hand(p: &TestProject) {
    let dir = std::fs::read_dir(p.root().join("versions"))
        .expect("versions/")
        .map(|e| e.expect("an entry").path())
        .find(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(READS_ROWS))
        })
        .expect("the data migration was imported");
    // The skeleton: the upgrade refuses with the reason, the downgrade
    // (pure DDL) is frozen, and the Alembic source is kept to port from.
    let skeleton = std::fs::read_to_string(dir.join("migration.py")).expect("migration.py");
    assert!(
        skeleton.contains("NEEDS PORTING")
            && skeleton.contains("raise NotImplementedError(")
            && skeleton.contains("DOWNGRADE_STATEMENTS = [")
            && skeleton.contains("DROP INDEX ix_users_name")
            && skeleton.contains("# def upgrade():"),
        "{skeleton}"
    );
    let manifest = dir.join("revision.toml");
    let text = std::fs::read_to_string(&manifest).expect("revision.toml");
    assert!(text.contains("plugin = \"python\""), "{text}");
    std::fs::write(
        &manifest,
        text.replace("plugin = \"python\"", "plugin = \"sql\""),
    )
    .expect("write revision.toml");
    std::fs::remove_file(dir.join("migration.py")).expect("remove the skeleton");
    std::fs::write(
        dir.join("upgrade.sql"),
        "UPDATE users SET email = lower(email);\n\
         CREATE INDEX ix_users_name ON users (name);\n\
         INSERT INTO markers (rev) VALUES ('c0ffee000012');\n",
    )
    .expect("write upgrade.sql");
    std::fs::write(
        dir.join("downgrade.sql"),
        "DELETE FROM markers WHERE rev = 'c0ffee000012';\nDROP INDEX ix_users_name;\n",
    )
    .expect("write downgrade.sql");
}

/// The heads `aludel current` shows, without its annotations.
fn current(p: &TestProject) -> Vec<String> {
    p.ok(&["current"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn import_args(p: &TestProject, src: &Path) -> Vec<String> {
    let mut args = vec![
        "import".to_string(),
        "alembic".to_string(),
        src.display().to_string(),
        "--python".to_string(),
        python().display().to_string(),
    ];
    if p.backend() == Backend::Postgres {
        args.push("--dev-url".into());
        args.push(POSTGRES_ADMIN_URL.into());
    }
    args
}

fn import(p: &TestProject) -> String {
    let src = alembic_project(p);
    let args = import_args(p, &src);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    p.ok(&args)
}

fn round_trip(backend: Backend) {
    // Alembic's own run, on a database of its own.
    let reference = TestProject::on(backend);
    let src = alembic_project(&reference);
    alembic(&reference, &src, &["upgrade", "heads"]);
    let expected = schema_dump(&reference);
    assert!(expected.contains("ix_users_email"), "{expected}");

    let p = TestProject::on(backend);
    let out = import(&p);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), REVISIONS, "{out}");
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line[0], rev(n + 1), "parents first, by id: {out}");
        if line[0] == READS_ROWS {
            assert_eq!(line[1], "needs-porting", "{out}");
            assert!(
                line[2].contains("reads data") && line[2].contains("SELECT id, email FROM users"),
                "{out}"
            );
        } else {
            assert_eq!(&line[1..], &["sql", ""], "{out}");
        }
    }

    // The graph came over whole: `aludel history` reads it back.
    let show = |id: &str| p.ok(&["show", id]);
    let merge = show(&rev(9));
    assert!(
        merge.contains(&rev(6)) && merge.contains(&rev(8)),
        "{merge}"
    );
    let reports = show(&rev(10));
    assert!(
        reports.contains("reports") && reports.contains(&rev(3)),
        "{reports}"
    );
    let manifests: String = std::fs::read_dir(p.root().join("versions"))
        .expect("versions/")
        .map(|e| {
            std::fs::read_to_string(e.expect("an entry").path().join("revision.toml"))
                .expect("revision.toml")
        })
        .collect();
    assert!(
        manifests.contains("branch_labels = [\"audit\"]")
            && manifests.contains("depends_on = [\"c0ffee000003\"]")
            && manifests.contains("created = \"2026-11-07T10:07:00Z\"")
            && manifests.contains("message = \"start the audit branch\""),
        "{manifests}"
    );
    // The skeleton refuses to run rather than doing nothing: it raises
    // (or, where no python plugin is built yet, cannot start at all).
    let refused = p.fails(&["upgrade", "head"]);
    assert!(
        refused.contains(READS_ROWS)
            && (refused.contains("must be ported by hand") || refused.contains("no such plugin")),
        "{refused}"
    );
    assert!(!current(&p).contains(&READS_ROWS.to_string()), "{refused}");

    port_by_hand(&p);
    // Importing again would overwrite: refused, nothing written.
    let again = import_args(&p, &p.root().join("alembic_src"));
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let clash = p.fails(&again);
    assert!(
        clash.contains("already exists") && clash.contains("never overwrites"),
        "{clash}"
    );

    p.ok(&["upgrade", "head"]);
    assert_eq!(schema_dump(&p), expected);
    assert_eq!(current(&p), [rev(16)]);

    p.ok(&["downgrade", "base"]);
    let left: Vec<String> = p
        .tables()
        .into_iter()
        .filter(|t| !is_bookkeeping(t))
        .collect();
    assert!(left.is_empty(), "downgrade base left {left:?}");
    if backend == Backend::Sqlite {
        let objects = p.query(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
             AND tbl_name NOT LIKE 'aludel_version%'",
        );
        assert!(objects.is_empty(), "{objects:?}");
    }

    // Half-way by Alembic, finished by aludel.
    let half = TestProject::on(backend);
    let half_src = alembic_project(&half);
    alembic(&half, &half_src, &["upgrade", &rev(6)]);
    alembic(&half, &half_src, &["upgrade", &rev(8)]);
    half.query("INSERT INTO users (id, email) VALUES (1, 'Ann@Example.COM')");
    copy_dir(&p.root().join("versions"), &half.root().join("versions"));
    // Not adopted yet: upgrading would start again from base. Refused,
    // before aludel writes anything.
    let tables_before = half.tables();
    let refused = half.fails(&["upgrade", "head"]);
    assert!(
        refused.contains("managed by Alembic") && refused.contains("import alembic-version"),
        "{refused}"
    );
    assert_eq!(half.tables(), tables_before, "the refusal wrote nothing");
    let adopted = half.ok(&["import", "alembic-version"]);
    assert_eq!(adopted, format!("{}\n{}\n", rev(6), rev(8)));
    assert_eq!(current(&half), [rev(6), rev(8)]);
    let twice = half.fails(&["import", "alembic-version"]);
    assert!(twice.contains("already managed by aludel"), "{twice}");

    half.ok(&["upgrade", "head"]);
    assert_eq!(current(&half), [rev(16)]);
    // Each revision ran once: by Alembic up to the two heads, by aludel after.
    let mut markers: Vec<String> = half
        .query("SELECT rev FROM markers")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    markers.sort();
    let all: Vec<String> = (1..=REVISIONS).map(rev).collect();
    assert_eq!(markers, all);
    let applied = half.applied();
    assert_eq!(applied.len(), 8, "{applied:?}");
    let mut applied_sorted = applied.clone();
    applied_sorted.sort();
    assert_eq!(applied_sorted, (9..=REVISIONS).map(rev).collect::<Vec<_>>());
    // The ported data migration ran on the row Alembic's half left.
    assert_eq!(
        half.query("SELECT email FROM users"),
        vec![vec!["ann@example.com".to_string()]]
    );
    half.query("DELETE FROM users");
    assert_eq!(schema_dump(&half), expected);
}

#[test]
fn an_imported_alembic_history_gives_alembics_schema_on_sqlite() {
    round_trip(Backend::Sqlite);
}

#[test]
fn an_imported_alembic_history_gives_alembics_schema_on_postgres() {
    round_trip(Backend::Postgres);
}

#[test]
fn import_refuses_a_directory_that_is_not_an_alembic_project() {
    let p = TestProject::new();
    std::fs::create_dir_all(p.root().join("empty")).expect("mkdir");
    let python = python();
    let err = p.fails(&[
        "import",
        "alembic",
        "empty",
        "--python",
        &python.display().to_string(),
    ]);
    assert!(
        err.contains("neither alembic.ini nor an Alembic script directory"),
        "{err}"
    );
    assert!(
        !p.root()
            .join("versions")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
}

#[test]
fn adoption_refuses_a_database_alembic_does_not_manage() {
    let p = TestProject::new();
    p.sql_revision(
        "a0000000001",
        None,
        "CREATE TABLE t (x INTEGER);\n",
        "DROP TABLE t;\n",
    );
    let err = p.fails(&["import", "alembic-version"]);
    assert!(err.contains("has no alembic_version table"), "{err}");
    // Alembic's table with a head this project does not have.
    p.query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)");
    p.query("INSERT INTO alembic_version VALUES ('feedfacecafe')");
    let err = p.fails(&["import", "alembic-version"]);
    assert!(
        err.contains("feedfacecafe") && err.contains("not a revision of this project"),
        "{err}"
    );
    assert!(!p.has_table("aludel_version"), "nothing was stamped");
}
