//! `revision --autogenerate`, `check` and `drift`, through the binary, on
//! real databases.
//!
//! The corpus: every directory of `tests/fixtures/schemas/<backend>/` is a
//! schema pair, `start.sql` and `target.sql`, with optional `rows.sql`
//! (rows put in after the start, which a non-destructive change must
//! keep), `flags` (one autogenerate argument a line, such as `--rename
//! users.name=full_name`) and `destructive` (a file whose presence says
//! the change may lose rows). Each pair goes through: the start applied
//! by a revision; `check` against the start itself finds nothing; the
//! target as models; autogenerate; upgrade; `check` finds nothing; no
//! row lost; downgrade; `check` against the start finds nothing.

use std::path::{Path, PathBuf};

use crate::support::{Backend, TestProject};

fn corpus_dir(backend: Backend) -> PathBuf {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::Mysql => "mysql",
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/schemas")
        .join(name)
}

fn pairs(backend: Backend) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(corpus_dir(backend))
        .expect("the corpus directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.join("target.sql").is_file())
        .collect();
    out.sort();
    out
}

/// Points `[models]` at one file of the project.
fn use_models(project: &TestProject, ddl: &str) {
    std::fs::create_dir_all(project.root().join("models")).expect("models/");
    std::fs::write(project.root().join("models/schema.sql"), ddl).expect("write models");
    let config = project.root().join("aludel.toml");
    let text = std::fs::read_to_string(&config).expect("aludel.toml");
    if !text.contains("[models]") {
        std::fs::write(
            &config,
            format!("{text}\n[models]\nsql = [\"models/*.sql\"]\n"),
        )
        .expect("write aludel.toml");
    }
}

fn row_counts(project: &TestProject) -> Vec<(String, String)> {
    project
        .tables()
        .into_iter()
        .filter(|t| !t.starts_with("aludel_"))
        .map(|t| {
            let q = match project.backend() {
                Backend::Mysql => format!("SELECT COUNT(*) FROM `{t}`"),
                _ => format!("SELECT COUNT(*) FROM \"{t}\""),
            };
            let n = project.query(&q)[0][0].clone();
            (t, n)
        })
        .collect()
}

fn revision_dirs(project: &TestProject) -> usize {
    std::fs::read_dir(project.root().join("versions"))
        .expect("versions/")
        .count()
}

/// One pair, or what went wrong with it.
fn round_trip(backend: Backend, pair: &Path) -> Result<(), String> {
    let read = |f: &str| std::fs::read_to_string(pair.join(f)).ok();
    let start = read("start.sql").unwrap_or_default();
    let target = read("target.sql").expect("target.sql");
    let project = TestProject::on(backend);
    let run = |args: &[&str]| {
        let r = project.aludel(args);
        if r.success {
            Ok(r.stdout)
        } else {
            Err(format!("aludel {} failed:\n{}", args.join(" "), r.stderr))
        }
    };
    project.sql_revision("start0000001", None, &start, "");
    if let Some(rows) = read("rows.sql") {
        project.sql_revision("rows00000001", Some("start0000001"), &rows, "");
    }
    run(&["upgrade", "head"])?;
    use_models(&project, &start);
    run(&["check"]).map_err(|e| format!("the start compared with itself differs: {e}"))?;
    let before = row_counts(&project);

    use_models(&project, &target);
    let mut args = vec!["revision", "--autogenerate", "-m", "change"];
    let flags = read("flags").unwrap_or_default();
    args.extend(flags.lines().map(str::trim).filter(|l| !l.is_empty()));
    let generated = run(&args)?;
    run(&["upgrade", "head"])?;
    run(&["check"]).map_err(|e| format!("after the upgrade: {e}"))?;
    if !pair.join("destructive").exists() {
        let after = row_counts(&project);
        for (table, n) in &before {
            if let Some((_, m)) = after.iter().find(|(t, _)| t == table)
                && m != n
            {
                return Err(format!("table {table} had {n} rows and has {m}"));
            }
        }
    }
    run(&["downgrade", "-1"])?;
    // Without the generated revision, the database is at its heads again
    // and `check` compares it with the start.
    std::fs::remove_dir_all(generated.trim()).expect("remove the generated revision");
    use_models(&project, &start);
    run(&["check"]).map_err(|e| format!("after the downgrade: {e}"))?;
    if !pair.join("destructive").exists() {
        let back = row_counts(&project);
        if back != before {
            return Err(format!(
                "rows before {before:?}, after the downgrade {back:?}"
            ));
        }
    }
    Ok(())
}

fn every_schema_pair_round_trips(backend: Backend) {
    let pairs = pairs(backend);
    assert!(
        pairs.len() >= 10,
        "the {backend:?} corpus has {} pairs",
        pairs.len()
    );
    let failures: Vec<String> = pairs
        .iter()
        .filter_map(|p| {
            round_trip(backend, p).err().map(|e| {
                format!(
                    "{}: {e}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} pairs failed:\n\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n\n")
    );
}

mod sqlite {
    use crate::support::Backend;

    #[test]
    fn every_schema_pair_round_trips() {
        super::every_schema_pair_round_trips(Backend::Sqlite);
    }
}

mod postgres {
    use crate::support::Backend;

    #[test]
    fn every_schema_pair_round_trips() {
        super::every_schema_pair_round_trips(Backend::Postgres);
    }
}

#[test]
fn a_model_change_without_a_revision_fails_check_and_a_hand_made_column_is_drift() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
        "DROP TABLE users",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
    );
    project.ok(&["check"]);
    project.ok(&["drift"]);

    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT)",
    );
    let run = project.command().arg("check").output().expect("runs");
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "add column users.name TEXT"
    );
    let json = project
        .command()
        .args(["check", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["in_sync"], false);
    assert_eq!(v["changes"][0]["detail"]["op"], "add_column");

    // A hot-fix in the live database: drift finds it, check (which
    // compares with the models) does too, from the other side.
    project.query("ALTER TABLE users ADD COLUMN hotfix INTEGER");
    let drift = project.command().arg("drift").output().expect("runs");
    assert_eq!(drift.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&drift.stdout).trim(),
        "add column users.hotfix INTEGER"
    );
}

#[test]
fn check_exits_2_when_it_cannot_compare_and_autogenerate_refuses_a_database_behind_its_heads() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        "DROP TABLE t",
    );
    // No [models]: cannot compare.
    let run = project.command().arg("check").output().expect("runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("[models]"));

    use_models(&project, "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
    let err = project.fails(&["revision", "--autogenerate", "-m", "x"]);
    assert!(err.contains("aludel upgrade head"), "{err}");
    let run = project.command().arg("check").output().expect("runs");
    assert_eq!(run.status.code(), Some(2));
    // --dev replays the history instead, with no live database needed.
    let out = project.ok(&["revision", "--autogenerate", "-m", "add x", "--dev"]);
    assert!(out.trim().ends_with("_add_x"), "{out}");
    let upgrade = std::fs::read_to_string(Path::new(out.trim()).join("upgrade.sql")).unwrap();
    assert!(
        upgrade.contains("ALTER TABLE \"t\" ADD COLUMN x TEXT;"),
        "{upgrade}"
    );
}

#[test]
fn nothing_differing_writes_nothing_and_an_ambiguous_rename_is_refused_with_the_flags() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        "DROP TABLE users",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
    );
    let run = project.aludel(&["revision", "--autogenerate", "-m", "nothing"]);
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("no changes detected"), "{}", run.stderr);
    assert_eq!(revision_dirs(&project), 1);

    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, full_name TEXT)",
    );
    let err = project.fails(&["revision", "--autogenerate", "-m", "rename"]);
    assert!(err.contains("--rename users.name=full_name"), "{err}");
    assert!(err.contains("--no-rename users.name"), "{err}");
    assert_eq!(revision_dirs(&project), 1, "nothing written");
    let err = project.fails(&[
        "revision",
        "--autogenerate",
        "-m",
        "rename",
        "--rename",
        "users.nmae=full_name",
    ]);
    assert!(err.contains("no column nmae"), "{err}");
}

#[test]
fn a_template_that_leaves_out_a_generated_statement_is_refused_by_name() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        "DROP TABLE t",
    );
    project.ok(&["upgrade", "head"]);
    use_models(&project, "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
    std::fs::write(
        project.root().join("templates/sql/upgrade.sql.j2"),
        "-- {{ message }}\n",
    )
    .unwrap();
    let err = project.fails(&["revision", "--autogenerate", "-m", "x"]);
    assert!(err.contains("upgrade.sql.j2"), "{err}");
    assert_eq!(revision_dirs(&project), 1, "nothing written");
}
