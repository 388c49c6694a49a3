//! Database URLs as Alembic projects write them (SQLAlchemy's forms) and
//! `.env` files, through the real binary against the real servers
//! (docs/connecting.md, "URLs" and ".env").

use crate::support::{Backend, TestProject};

const REV: &str = "url000000001";

fn project_with_a_revision(backend: Backend) -> TestProject {
    let p = TestProject::on(backend);
    p.sql_revision(
        REV,
        None,
        "CREATE TABLE via_url (x INTEGER);",
        "DROP TABLE via_url;",
    );
    p
}

/// `upgrade head` then `current` through `url`: the revision is applied
/// where the URL says.
fn upgrade_and_current(p: &TestProject, url: &str) -> String {
    let run = p.aludel(&["--url", url, "upgrade", "head"]);
    assert!(run.success, "upgrade through {url}:\n{}", run.stderr);
    let current = p.ok(&["--url", url, "current"]);
    assert_eq!(
        current.trim(),
        format!("{REV} (head)"),
        "current through {url}"
    );
    run.stderr
}

#[test]
fn sqlalchemy_s_sqlite_urls_open_the_file_sqlalchemy_would_open() {
    let p = project_with_a_revision(Backend::Sqlite);
    // Relative to the working directory, as SQLAlchemy reads it.
    upgrade_and_current(&p, "sqlite+pysqlite:///relative.db");
    assert!(p.root().join("relative.db").is_file());
    std::fs::create_dir(p.root().join("data")).unwrap();
    upgrade_and_current(&p, "sqlite+aiosqlite:///data/async.db");
    assert!(p.root().join("data/async.db").is_file());
    // Four slashes: an absolute path.
    let absolute = p.root().join("absolute.db");
    upgrade_and_current(&p, &format!("sqlite:///{}", absolute.display()));
    assert!(absolute.is_file());
    // SQLAlchemy's URI form.
    upgrade_and_current(&p, "sqlite:///file:uri.db?mode=rwc&uri=true");
    assert!(p.root().join("uri.db").is_file());
    // Python's sqlite3 parameters are left out, said by name only.
    let stderr = upgrade_and_current(
        &p,
        "sqlite+pysqlite:///relative.db?check_same_thread=false&timeout=30",
    );
    assert!(
        stderr.contains("ignoring the query parameter `check_same_thread`"),
        "{stderr}"
    );
    assert!(!p.db_path().exists(), "aludel.toml's database was not used");
}

#[test]
fn sqlalchemy_s_in_memory_sqlite_url_runs_and_keeps_nothing() {
    let p = project_with_a_revision(Backend::Sqlite);
    for url in ["sqlite://", "sqlite:///:memory:"] {
        let run = p.aludel(&["--url", url, "upgrade", "head"]);
        assert!(run.success, "{url}: {}", run.stderr);
        assert_eq!(p.ok(&["--url", url, "current"]).trim(), "", "{url}");
    }
    let left: Vec<String> = std::fs::read_dir(p.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".db") || name.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn sqlite_three_slashes_fails_with_both_readings_when_both_could_be_opened() {
    let p = project_with_a_revision(Backend::Sqlite);
    let stderr = p.fails(&["--url", "sqlite:///ambiguous.db", "upgrade", "head"]);
    let root = std::fs::canonicalize(p.root()).unwrap();
    assert!(stderr.contains("names two different files"), "{stderr}");
    assert!(stderr.contains("/ambiguous.db"), "{stderr}");
    assert!(
        stderr.contains(&root.join("ambiguous.db").display().to_string())
            || stderr.contains(&p.root().join("ambiguous.db").display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("sqlite:/ambiguous.db"), "{stderr}");
    assert!(
        stderr.contains("sqlite+pysqlite:///ambiguous.db"),
        "{stderr}"
    );
    assert!(!p.root().join("ambiguous.db").exists());
    assert!(!std::path::Path::new("/ambiguous.db").exists());
    // The same in aludel.toml, whose relative paths are the project's.
    p.set_config("url", "\"sqlite:///ambiguous.db\"");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("names two different files"), "{stderr}");
}

#[test]
fn a_sqlalchemy_sqlite_url_in_aludel_toml_is_relative_to_the_project() {
    let p = project_with_a_revision(Backend::Sqlite);
    p.set_config("url", "\"sqlite+pysqlite:///from_toml.db\"");
    let elsewhere = tempfile::tempdir().unwrap();
    let run = p
        .command()
        .current_dir(elsewhere.path())
        .args(["--config"])
        .arg(p.root().join("aludel.toml"))
        .args(["upgrade", "head"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(p.root().join("from_toml.db").is_file());
    assert!(!elsewhere.path().join("from_toml.db").exists());
}

#[test]
fn sqlalchemy_s_postgresql_urls_reach_the_same_database() {
    let p = project_with_a_revision(Backend::Postgres);
    let bare = p.url();
    let rest = bare.strip_prefix("postgres://").unwrap();
    upgrade_and_current(&p, &format!("postgresql+psycopg2://{rest}?sslmode=prefer"));
    for form in [
        format!("postgresql+psycopg://{rest}?application_name=from_alembic"),
        format!("postgresql+psycopg_async://{rest}"),
        format!("postgresql+asyncpg://{rest}?ssl=prefer&prepared_statement_cache_size=0"),
        format!("postgresql+pg8000://{rest}"),
        format!("postgresql://{rest}"),
    ] {
        assert_eq!(
            p.ok(&["--url", &form, "current"]).trim(),
            format!("{REV} (head)"),
            "{form}"
        );
    }
    assert!(p.has_table("via_url"));
    let run = p.aludel(&[
        "--url",
        &format!("postgresql+psycopg2://{rest}?connect_timeout=10"),
        "current",
    ]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ignoring the query parameter `connect_timeout`"),
        "{}",
        run.stderr
    );
    // A parameter aludel cannot honour is refused, not ignored.
    let stderr = p.fails(&[
        "--url",
        &format!("postgresql+psycopg2://{rest}?channel_binding=require"),
        "current",
    ]);
    assert!(stderr.contains("channel_binding"), "{stderr}");
}

#[test]
fn sqlalchemy_s_mysql_and_mariadb_urls_reach_the_same_database() {
    let p = project_with_a_revision(Backend::Mysql);
    let bare = p.url();
    let rest = bare.strip_prefix("mysql://").unwrap();
    upgrade_and_current(&p, &format!("mysql+pymysql://{rest}?charset=utf8mb4"));
    for form in [
        format!("mysql+mysqldb://{rest}?charset=utf8mb4"),
        format!("mysql+mysqlconnector://{rest}"),
        format!("mysql+aiomysql://{rest}"),
        format!("mysql+asyncmy://{rest}"),
        format!("mariadb+mariadbconnector://{rest}"),
        format!("mariadb+pymysql://{rest}?charset=utf8mb4"),
    ] {
        assert_eq!(
            p.ok(&["--url", &form, "current"]).trim(),
            format!("{REV} (head)"),
            "{form}"
        );
    }
    assert!(p.has_table("via_url"));
}

#[test]
fn an_unknown_sqlalchemy_driver_is_refused_with_the_ones_aludel_reads() {
    let p = project_with_a_revision(Backend::Sqlite);
    let stderr = p.fails(&["--url", "mysql+oursql://root@127.0.0.1/test", "current"]);
    assert!(stderr.contains("`oursql`"), "{stderr}");
    assert!(stderr.contains("mysql+pymysql"), "{stderr}");
}

/// `.env` in the project, holding `DATABASE_URL` the way Alembic projects
/// write it, with a comment, `export` and quotes.
fn write_env(p: &TestProject, file: &str, db: &str) {
    std::fs::write(
        p.root().join(file),
        format!(
            "# the database of this checkout\nexport DATABASE_URL=\"sqlite+pysqlite:///{db}\"\n\
             SECRET_KEY='not aludel s'\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_dot_env_beside_aludel_toml_supplies_database_url() {
    let p = project_with_a_revision(Backend::Sqlite);
    write_env(&p, ".env", "from_env_file.db");
    p.ok(&["upgrade", "head"]);
    assert!(p.root().join("from_env_file.db").is_file());
    assert!(!p.db_path().exists(), "aludel.toml's database was not used");
    // Beside the config file, wherever aludel runs from.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = p
        .command()
        .current_dir(elsewhere.path())
        .arg("--config")
        .arg(p.root())
        .arg("current")
        .output()
        .unwrap();
    // The .env's relative path is the working directory's, as for any
    // DATABASE_URL: a fresh database there, at no revision.
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(elsewhere.path().join("from_env_file.db").is_file());
}

#[test]
fn the_environment_beats_dot_env_and_the_url_flag_beats_both() {
    let p = project_with_a_revision(Backend::Sqlite);
    write_env(&p, ".env", "from_env_file.db");
    let run = p
        .command()
        .env("DATABASE_URL", "sqlite:from_process.db")
        .args(["upgrade", "head"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(p.root().join("from_process.db").is_file());
    assert!(!p.root().join("from_env_file.db").exists());

    let run = p
        .command()
        .env("DATABASE_URL", "sqlite:from_process.db")
        .args(["--url", "sqlite:from_flag.db", "upgrade", "head"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(p.root().join("from_flag.db").is_file());
    assert!(!p.root().join("from_env_file.db").exists());
}

#[test]
fn env_file_names_another_file_and_a_missing_one_is_an_error() {
    let p = project_with_a_revision(Backend::Sqlite);
    write_env(&p, ".env", "from_default.db");
    write_env(&p, "staging.env", "from_staging.db");
    p.ok(&["--env-file", "staging.env", "upgrade", "head"]);
    assert!(p.root().join("from_staging.db").is_file());
    assert!(!p.root().join("from_default.db").exists());

    let stderr = p.fails(&["--env-file", "missing.env", "upgrade", "head"]);
    assert!(stderr.contains("missing.env"), "{stderr}");
    assert!(stderr.contains("--env-file"), "{stderr}");
    assert!(!p.root().join("from_default.db").exists());
    assert!(!p.db_path().exists(), "nothing ran");
}

#[test]
fn dot_env_sets_aludel_s_own_settings_and_never_shows_a_value() {
    let p = project_with_a_revision(Backend::Sqlite);
    std::fs::write(
        p.root().join(".env"),
        "ALUDEL_LOG=aludel=debug\nDATABASE_URL=sqlite:s3cret-name.db\n",
    )
    .unwrap();
    let run = p.aludel(&["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(p.root().join("s3cret-name.db").is_file());
    // ALUDEL_LOG came from .env: the debug lines are there, naming the
    // variables .env set and not their values.
    assert!(
        run.stderr.contains("set ALUDEL_LOG, DATABASE_URL"),
        "{}",
        run.stderr
    );
    let read_line = run
        .stderr
        .lines()
        .find(|l| l.contains(".env: set"))
        .unwrap_or_default();
    assert!(!read_line.contains("s3cret"), "{read_line}");

    // A line that is not KEY=value: the error names the file, not the line.
    std::fs::write(
        p.root().join(".env"),
        "DATABASE_URL=sqlite:x.db\nthis line is 'broken s3cret\n",
    )
    .unwrap();
    let stderr = p.fails(&["current"]);
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(
        stderr.contains("after the line that sets DATABASE_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
