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

use crate::support::{Backend, TestProject, on_every_backend};

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

on_every_backend!(
    every_schema_pair_round_trips,
    a_model_change_without_a_revision_fails_check_and_a_hand_made_column_is_drift,
);

fn a_model_change_without_a_revision_fails_check_and_a_hand_made_column_is_drift(backend: Backend) {
    let project = TestProject::on(backend);
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
    // Each server spells the type its own way (TEXT, text).
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim().to_lowercase(),
        "add column users.name text"
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
    let found = String::from_utf8_lossy(&drift.stdout).trim().to_lowercase();
    assert!(found.starts_with("add column users.hotfix int"), "{found}");
    assert_eq!(found.lines().count(), 1, "{found}");
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

/// The virtualenv ./scripts/test makes (SQLAlchemy and Alembic pinned), or
/// the one ALUDEL_TEST_VENV names.
fn sqlalchemy_venv_bin() -> PathBuf {
    let venv = std::env::var_os("ALUDEL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/differential-venv")
        });
    let bin = venv.join("bin");
    assert!(
        bin.join("python3").exists(),
        "{} has no python3: run ./scripts/test once, which makes the virtualenv with SQLAlchemy, \
         or point ALUDEL_TEST_VENV at one",
        venv.display()
    );
    bin
}

#[test]
fn the_sqlalchemy_models_example_drives_autogenerate_and_check() {
    let bin = sqlalchemy_venv_bin();
    let project = TestProject::on(Backend::Sqlite);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sqlalchemy-models");
    for file in ["aludel.toml", "models.py"] {
        std::fs::copy(example.join(file), project.root().join(file)).expect("copy the example");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let aludel = |args: &[&str]| {
        let out = project
            .command()
            .env("PATH", &path)
            .args(args)
            .output()
            .expect("aludel runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = aludel(&["check"]);
    assert_eq!(
        code,
        Some(1),
        "an empty database differs from the models: {err}"
    );
    let (code, dir, err) = aludel(&["revision", "--autogenerate", "-m", "initial"]);
    assert_eq!(code, Some(0), "{err}");
    let upgrade = std::fs::read_to_string(Path::new(dir.trim()).join("upgrade.sql")).unwrap();
    assert!(upgrade.contains("CREATE TABLE posts"), "{upgrade}");
    assert!(upgrade.contains("ON DELETE CASCADE"), "{upgrade}");
    let (code, _, err) = aludel(&["upgrade", "head"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = aludel(&["check"]);
    assert_eq!(code, Some(0), "in sync after the upgrade: {err}");

    // A model change, as a developer makes it.
    let models = project.root().join("models.py");
    let text = std::fs::read_to_string(&models).unwrap();
    let text = text.replace(
        "    body: Mapped[str | None] = mapped_column(Text)\n",
        "    body: Mapped[str | None] = mapped_column(Text)\n    \
         published: Mapped[bool] = mapped_column(server_default=\"0\")\n",
    );
    std::fs::write(&models, text).unwrap();
    let (code, out, _) = aludel(&["check"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("add column posts.published"), "{out}");
    let (code, _, err) = aludel(&["revision", "--autogenerate", "-m", "publish posts"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = aludel(&["upgrade", "head"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = aludel(&["check"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_revision_that_fails_its_proof_is_not_written_and_the_error_names_the_statement() {
    let project = TestProject::on(Backend::Sqlite);
    // A trigger reads the column the models drop: SQLite refuses the
    // drop, and aludel does not compare triggers, so only the proof can
    // find out.
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);\n\
         CREATE TABLE audit (what TEXT);\n\
         CREATE TRIGGER users_audit AFTER UPDATE ON users BEGIN \
         INSERT INTO audit VALUES (NEW.name); END;",
        "",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\nCREATE TABLE audit (what TEXT);",
    );
    let err = project.fails(&[
        "revision",
        "--autogenerate",
        "-m",
        "drop name",
        "--no-rename",
        "users.name",
    ]);
    assert!(err.contains("was not written"), "{err}");
    assert!(err.contains("DROP COLUMN"), "{err}");
    assert_eq!(revision_dirs(&project), 1, "nothing written");
}

#[test]
fn destructive_statements_are_marked_in_the_file_and_warned_about() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)",
        "",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
    );
    let run = project.aludel(&[
        "revision",
        "--autogenerate",
        "-m",
        "tighten",
        "--no-rename",
        "users.name",
    ]);
    assert!(run.success, "{}", run.stderr);
    let dir = PathBuf::from(run.stdout.trim());
    let upgrade = std::fs::read_to_string(dir.join("upgrade.sql")).unwrap();
    let marked: Vec<&str> = upgrade
        .lines()
        .filter(|l| l.starts_with("-- DESTRUCTIVE: "))
        .collect();
    assert_eq!(marked.len(), 1, "{upgrade}");
    assert!(marked[0].contains("drops column users.name"), "{upgrade}");
    assert!(
        marked[0].contains("makes users.email NOT NULL, which fails if a row holds NULL"),
        "{upgrade}"
    );
    assert!(
        run.stderr.contains("destructive upgrade: ")
            && run
                .stderr
                .contains("drops column users.name and its values"),
        "{}",
        run.stderr
    );
    // The rebuild's revision runs with foreign keys off, and says so.
    let manifest = std::fs::read_to_string(dir.join("revision.toml")).unwrap();
    assert!(manifest.contains("foreign_keys = false"), "{manifest}");
}

/// The scratch databases a run of `args` made on the project's server that
/// are still there after it (named `aludel_dev_<pid>_*`).
fn scratch_left_behind(project: &TestProject, args: &[&str]) -> Vec<String> {
    let child = project
        .command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aludel runs");
    let pid = child.id();
    child.wait_with_output().expect("aludel ends");
    let sql = match project.backend() {
        Backend::Postgres => format!(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'aludel\\_dev\\_{pid}\\_%'"
        ),
        _ => format!(
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
             WHERE schema_name LIKE 'aludel\\_dev\\_{pid}\\_%'"
        ),
    };
    project
        .query(&sql)
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

fn no_scratch_database_is_left_behind(backend: Backend) {
    let project = TestProject::on(backend);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        "DROP TABLE t",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)",
    );
    assert_eq!(
        scratch_left_behind(&project, &["check"]),
        Vec::<String>::new()
    );
    assert_eq!(
        scratch_left_behind(&project, &["drift"]),
        Vec::<String>::new()
    );
    // Models that do not apply fail, and still leave nothing.
    use_models(
        &project,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x NOSUCHTYPE(",
    );
    assert_eq!(
        scratch_left_behind(&project, &["revision", "--autogenerate", "-m", "x"]),
        Vec::<String>::new()
    );
}

mod servers {
    use crate::support::Backend;

    #[test]
    fn no_scratch_database_is_left_behind_on_postgres() {
        super::no_scratch_database_is_left_behind(Backend::Postgres);
    }

    #[test]
    fn no_scratch_database_is_left_behind_on_mysql() {
        super::no_scratch_database_is_left_behind(Backend::Mysql);
    }
}

#[test]
fn on_a_terminal_autogenerate_asks_whether_a_look_alike_is_a_rename() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        "",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, full_name TEXT)",
    );
    // util-linux's `script` gives the command a pseudo-terminal and
    // forwards our stdin to it: the answer arrives once the question has.
    let mut child = project
        .command()
        .args([
            "-qec",
            &format!(
                "{} revision --autogenerate -m ask",
                env!("CARGO_BIN_EXE_aludel")
            ),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn_script();
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        use std::io::Write;
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = stdin.write_all(b"y\n");
    });
    let out = child.wait_with_output().expect("script ends");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("Is users.name renamed to full_name?"),
        "{shown}"
    );
    let dir = std::fs::read_dir(project.root().join("versions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_ask"))
        .expect("the revision was written");
    let upgrade = std::fs::read_to_string(dir.join("upgrade.sql")).unwrap();
    assert!(
        upgrade.contains("ALTER TABLE \"users\" RENAME COLUMN \"name\" TO \"full_name\";"),
        "{upgrade}"
    );
}

/// `Command::spawn` of `script` in place of the binary, keeping the
/// project's environment.
trait SpawnScript {
    fn spawn_script(&mut self) -> std::process::Child;
}

impl SpawnScript for std::process::Command {
    fn spawn_script(&mut self) -> std::process::Child {
        let mut script = std::process::Command::new("script");
        script
            .args(self.get_args())
            .current_dir(self.get_current_dir().expect("the project's directory"));
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        script
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux `script` runs (apt install bsdutils)")
    }
}

#[test]
fn autogenerate_over_several_heads_says_to_merge_them_first() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision("a00000000001", None, "CREATE TABLE a (id INTEGER)", "");
    project.sql_revision("b00000000001", None, "CREATE TABLE b (id INTEGER)", "");
    project.ok(&["upgrade", "heads"]);
    use_models(
        &project,
        "CREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);",
    );
    let err = project.fails(&["revision", "--autogenerate", "-m", "x"]);
    assert!(err.contains("aludel merge heads"), "{err}");
}

#[test]
fn a_revision_with_foreign_keys_off_is_refused_offline_rather_than_written_unchecked() {
    let project = TestProject::on(Backend::Sqlite);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        "",
    );
    project.ok(&["upgrade", "head"]);
    use_models(
        &project,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '')",
    );
    project.ok(&["revision", "--autogenerate", "-m", "rebuild"]);
    let err = project.fails(&["upgrade", "--sql", "head"]);
    assert!(err.contains("foreign_keys = false"), "{err}");
    assert!(err.contains("without --sql"), "{err}");
    project.ok(&["upgrade", "head"]);
    project.ok(&["check"]);
}

#[test]
fn models_that_cannot_be_read_are_named_with_what_to_do() {
    let project = TestProject::on(Backend::Sqlite);
    let config = project.root().join("aludel.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    let check = |models: &str| {
        std::fs::write(&config, format!("{base}\n[models]\n{models}\n")).unwrap();
        let run = project.command().arg("check").output().expect("runs");
        assert_eq!(run.status.code(), Some(2), "{models}");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let err = check("sql = [\"models/*.sql\"]");
    assert!(
        err.contains("\"models/*.sql\"") && err.contains("no file matches"),
        "{err}"
    );
    let err = check("sql = [\"*/x.sql\"]");
    assert!(err.contains("only the file name may hold"), "{err}");
    let err = check("command = \"echo broken >&2; exit 3\"");
    assert!(
        err.contains("`echo broken >&2; exit 3`") && err.contains("broken"),
        "{err}"
    );
    std::fs::write(project.root().join("bad.sql"), "CREATE TABLE (").unwrap();
    let err = check("sql = [\"bad.sql\"]");
    assert!(
        err.contains("bad.sql") && err.contains("applying its DDL"),
        "{err}"
    );
    std::fs::write(project.root().join("ok.sql"), "CREATE TABLE t (id INTEGER)").unwrap();
    let err = check("sql = [\"ok.sql\"]\ndev_url = \"sqlite://dev.db\"");
    assert!(err.contains("remove the key"), "{err}");
}

#[test]
fn a_postgres_role_that_cannot_create_databases_is_told_to_set_dev_url() {
    let project = TestProject::on(Backend::Postgres);
    project.sql_revision(
        "start0000001",
        None,
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        "DROP TABLE t",
    );
    project.ok(&["upgrade", "head"]);
    use_models(&project, "CREATE TABLE t (id INTEGER PRIMARY KEY)");
    let role = format!("aludel_nocreatedb_{}", std::process::id());
    project.query(&format!("DROP ROLE IF EXISTS {role}"));
    project.query(&format!("CREATE ROLE {role} LOGIN NOCREATEDB"));
    project.query(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    ));
    let url = project.url().replace("postgres@", &format!("{role}@"));
    let run = project
        .command()
        .args(["--url", &url, "check"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    project.query(&format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"
    ));
    project.query(&format!("DROP ROLE {role}"));
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot create the scratch database"), "{err}");
    assert!(err.contains("`[models] dev_url`"), "{err}");
}
