//! Issue 11, properties 3, 6 (log output), 8 and 9, through the real
//! binary: privileges that let SQL reach the server's files or programs are
//! named on every run and refused under `--untrusted`; a least-privilege
//! role runs quietly and cannot reach them; no form of a password is
//! printed or stored; a guest reads only what its checksum covers; what a
//! revision prints is escaped and capped.

use std::path::PathBuf;

use crate::support::{
    Backend, MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, TestProject, block_on, fixtures,
};

const BASE: &str = "base00000001";
const REACH: &str = "reach00000001";

/// What the warning and the refusal both say.
const NAMED: &str = "privileges let";
const SETUP: &str = "docs/security.md";

/// A name no other test (or test run) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}_{:012x}", rand::random::<u64>() >> 16)
}

fn admin(backend: Backend, sql: &str) {
    admin_on(backend, None, sql)
}

/// Runs `sql` as the server's superuser, in `database` (else the admin
/// URL's).
fn admin_on(backend: Backend, database: Option<&str>, sql: &str) {
    use sqlx::Connection;
    let sql = sql.to_string();
    let url = match database {
        Some(db) => format!("postgres://postgres@127.0.0.1:5432/{db}"),
        None => POSTGRES_ADMIN_URL.to_string(),
    };
    block_on(async move {
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url)
                    .await
                    .expect("the PostgreSQL server is reachable (see README, Databases)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .expect("the admin statement runs");
            }
            _ => {
                let mut c = sqlx::MySqlConnection::connect(MYSQL_ADMIN_URL)
                    .await
                    .expect("the MariaDB server is reachable (see README, Databases)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .expect("the admin statement runs");
            }
        }
    })
}

/// The project's database name, from its URL.
fn database_of(p: &TestProject) -> String {
    p.url().rsplit('/').next().expect("a database").to_string()
}

/// A login role (PostgreSQL) or user (MariaDB) created for one test and
/// dropped after it, with no server-file powers, owning the test's
/// database (PostgreSQL) or holding every privilege on it (MariaDB): the
/// setup of docs/security.md.
struct LeastPrivilege {
    backend: Backend,
    name: String,
    database: String,
}

impl LeastPrivilege {
    fn new(p: &TestProject) -> Self {
        let name = unique("aludel_lp");
        let database = database_of(p);
        match p.backend() {
            Backend::Postgres => {
                admin(
                    Backend::Postgres,
                    &format!(
                        "CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB; \
                         ALTER DATABASE {database} OWNER TO {name}"
                    ),
                );
            }
            _ => admin(
                Backend::Mysql,
                &format!(
                    "CREATE USER '{name}'@'%'; GRANT ALL PRIVILEGES ON {database}.* TO '{name}'@'%'"
                ),
            ),
        }
        LeastPrivilege {
            backend: p.backend(),
            name,
            database,
        }
    }

    fn url(&self) -> String {
        match self.backend {
            Backend::Postgres => {
                format!("postgres://{}@127.0.0.1:5432/{}", self.name, self.database)
            }
            _ => format!("mysql://{}@127.0.0.1:3306/{}", self.name, self.database),
        }
    }
}

impl Drop for LeastPrivilege {
    fn drop(&mut self) {
        let (name, database) = (&self.name, &self.database);
        // The database (and what the role made in it) is the project's to
        // drop; the role must go first or it would outlive the test.
        match self.backend {
            Backend::Postgres => {
                admin_on(
                    Backend::Postgres,
                    Some(database),
                    &format!("REASSIGN OWNED BY {name} TO postgres; DROP OWNED BY {name}"),
                );
                admin(
                    Backend::Postgres,
                    &format!(
                        "ALTER DATABASE {database} OWNER TO postgres; DROP ROLE IF EXISTS {name}"
                    ),
                );
            }
            _ => admin(self.backend, &format!("DROP USER IF EXISTS '{name}'@'%'")),
        }
    }
}

/// A file path in the shared /tmp that no test creates but the one that
/// names it, on the machine the test servers run on.
fn marker(tag: &str) -> PathBuf {
    std::env::temp_dir().join(unique(&format!("aludel_{tag}")))
}

fn base(p: &TestProject) {
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE t (x INTEGER);\nINSERT INTO t (x) VALUES (1);\n",
        "DROP TABLE t;\n",
    );
}

fn reach(p: &TestProject, upgrade: &str) {
    p.sql_revision(REACH, Some(BASE), upgrade, "");
}

/// Runs aludel with `url` and `args`.
fn run_as(p: &TestProject, url: &str, args: &[&str]) -> crate::support::Run {
    p.command()
        .arg("--url")
        .arg(url)
        .args(args)
        .output()
        .expect("aludel runs")
        .into()
}

/// `upgrade head` as `url` fails on revision REACH, naming its statement
/// and `expected`, and changes nothing.
/// On every backend, MySQL included: the revision holds no statement that
/// commits implicitly, so its rollback undoes it whole.
fn refused_cleanly(p: &TestProject, url: &str, statement: &str, expected: &str) {
    let dump = p.dump();
    let run = run_as(p, url, &["upgrade", "head"]);
    assert!(!run.success, "the revision ran:\n{}", run.stderr);
    for text in [REACH, statement, expected] {
        assert!(
            run.stderr.contains(text),
            "{text:?} not in:\n{}",
            run.stderr
        );
    }
    assert_eq!(p.dump(), dump, "the database changed");
    assert_eq!(p.versions(), vec![BASE]);
    assert!(
        run.stderr.contains("the database is as it was"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_least_privilege_postgres_role_runs_without_a_warning_and_cannot_reach_files_or_programs() {
    let p = TestProject::on(Backend::Postgres);
    let role = LeastPrivilege::new(&p);
    base(&p);
    let run = run_as(&p, &role.url(), &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(!run.stderr.contains(NAMED), "a warning:\n{}", run.stderr);
    assert_eq!(p.versions(), vec![BASE]);

    let touched = marker("program");
    let copy = format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", touched.display());
    reach(&p, &format!("INSERT INTO t (x) VALUES (2);\n{copy};\n"));
    refused_cleanly(&p, &role.url(), &copy, "pg_execute_server_program");
    assert!(!touched.exists(), "the program ran");

    let read = "COPY t FROM '/etc/passwd'";
    reach(&p, &format!("INSERT INTO t (x) VALUES (2);\n{read};\n"));
    refused_cleanly(&p, &role.url(), read, "pg_read_server_files");

    let written = marker("written");
    let write = format!("COPY t TO '{}'", written.display());
    reach(&p, &format!("{write};\n"));
    refused_cleanly(&p, &role.url(), &write, "pg_write_server_files");
    assert!(!written.exists(), "the file was written");

    // --untrusted has nothing to refuse on this role.
    reach(&p, "INSERT INTO t (x) VALUES (2);\n");
    let run = run_as(&p, &role.url(), &["upgrade", "head", "--untrusted"]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(p.versions(), vec![REACH]);
}

#[test]
fn a_postgres_superuser_run_warns_and_untrusted_refuses_before_any_revision_runs() {
    let p = TestProject::on(Backend::Postgres);
    base(&p);
    let touched = marker("superuser");
    reach(
        &p,
        &format!(
            "COPY (SELECT 1) TO PROGRAM 'touch {}';\n",
            touched.display()
        ),
    );

    for args in [
        &["upgrade", "head", "--untrusted"][..],
        &["upgrade", "head", "--dry-run", "--untrusted"][..],
    ] {
        let stderr = p.fails(args);
        for text in [
            "refusing to run revisions",
            "superuser",
            "COPY ... TO PROGRAM",
            SETUP,
        ] {
            assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
        }
        assert!(stderr.contains("nothing was run or written"), "{stderr}");
        assert!(!p.has_table("aludel_version"), "the version table was made");
        assert!(p.tables().is_empty(), "{:?}", p.tables());
        assert!(!touched.exists(), "the program ran");
    }

    // The same from aludel.toml.
    let config = p.root().join("aludel.toml");
    let text = std::fs::read_to_string(&config).expect("aludel.toml");
    std::fs::write(
        &config,
        text.replace("untrusted = false", "untrusted = true"),
    )
    .expect("write aludel.toml");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("refusing to run revisions"), "{stderr}");
    assert!(p.tables().is_empty(), "{:?}", p.tables());
    std::fs::write(&config, text).expect("write aludel.toml");

    // Trusted, it warns, naming the privilege and the setup, and runs: the
    // program ran, which is why it warns.
    let run = p.aludel(&["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    for text in [NAMED, "superuser", SETUP, "--untrusted"] {
        assert!(
            run.stderr.contains(text),
            "{text:?} not in:\n{}",
            run.stderr
        );
    }
    assert!(
        touched.exists(),
        "the superuser's COPY TO PROGRAM did not run"
    );
    let _ = std::fs::remove_file(&touched);
}

#[test]
fn a_postgres_role_with_a_server_file_role_is_named_and_refused() {
    let p = TestProject::on(Backend::Postgres);
    let role = LeastPrivilege::new(&p);
    admin(
        Backend::Postgres,
        &format!("GRANT pg_read_server_files TO {}", role.name),
    );
    base(&p);
    let stderr = {
        let run = run_as(&p, &role.url(), &["upgrade", "head", "--untrusted"]);
        assert!(!run.success, "{}", run.stderr);
        run.stderr
    };
    assert!(
        stderr.contains("member of pg_read_server_files"),
        "{stderr}"
    );
    assert!(!p.has_table("aludel_version"));
    admin(
        Backend::Postgres,
        &format!("REVOKE pg_read_server_files FROM {}", role.name),
    );
}

#[test]
fn a_mariadb_user_without_file_runs_without_a_warning_and_cannot_write_a_file() {
    let p = TestProject::on(Backend::Mysql);
    let user = LeastPrivilege::new(&p);
    base(&p);
    let run = run_as(&p, &user.url(), &["upgrade", "head", "--untrusted"]);
    assert!(run.success, "{}", run.stderr);
    assert!(!run.stderr.contains(NAMED), "a warning:\n{}", run.stderr);

    let written = marker("outfile");
    let outfile = format!("SELECT x FROM t INTO OUTFILE '{}'", written.display());
    reach(&p, &format!("{outfile};\n"));
    refused_cleanly(&p, &user.url(), &outfile, "FILE");
    assert!(
        !written.exists(),
        "INTO OUTFILE wrote {}",
        written.display()
    );

    // Without FILE, LOAD_FILE() reads nothing (NULL): the revision runs and
    // inserts no row, where root's would insert one.
    reach(
        &p,
        "INSERT INTO t (x) SELECT 2 FROM DUAL WHERE LOAD_FILE('/etc/passwd') IS NOT NULL;\n",
    );
    let run = run_as(&p, &user.url(), &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        p.query("SELECT COUNT(*) FROM t WHERE x = 2"),
        vec![vec!["0"]]
    );
}

/// `--untrusted` on MariaDB: SQL aludel cannot read before it runs (a
/// `CALL`, a prepared statement, whose text may be a `COMMIT`) and events,
/// which run later outside any revision, are refused before they reach the
/// server, and the revision rolls back whole. Without `--untrusted` the
/// same hidden `COMMIT` runs, and the revision is recorded as failed.
#[test]
fn untrusted_mariadb_refuses_sql_it_cannot_read_before_it_runs() {
    let p = TestProject::on(Backend::Mysql);
    let user = LeastPrivilege::new(&p);
    base(&p);
    let run = run_as(&p, &user.url(), &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    for (sql, statement) in [
        (
            "INSERT INTO t (x) VALUES (2);\nPREPARE s FROM 'COMMIT';\nEXECUTE s;\n",
            "PREPARE",
        ),
        ("INSERT INTO t (x) VALUES (2);\nCALL nowhere();\n", "CALL"),
        (
            "INSERT INTO t (x) VALUES (2);\nEXECUTE IMMEDIATE 'COMMIT';\n",
            "EXECUTE",
        ),
        (
            "CREATE EVENT later ON SCHEDULE EVERY 1 HOUR DO DELETE FROM t;\n",
            "CREATE EVENT",
        ),
    ] {
        reach(&p, sql);
        let dump = p.dump();
        let run = run_as(&p, &user.url(), &["upgrade", "head", "--untrusted"]);
        assert!(!run.success, "{sql}: the revision ran:\n{}", run.stderr);
        for text in [REACH, statement, "--untrusted", "the database is as it was"] {
            assert!(
                run.stderr.contains(text),
                "{text:?} not in:\n{}",
                run.stderr
            );
        }
        assert_eq!(p.dump(), dump, "{sql}: the database changed");
        assert_eq!(p.versions(), vec![BASE]);
        assert!(
            p.query("SELECT revision FROM aludel_version_failed")
                .is_empty()
        );
    }
    // Trusted, the hidden COMMIT runs, as DDL's implicit one would: a
    // failure after it is recorded as failed, and not called a rollback.
    reach(
        &p,
        "INSERT INTO t (x) VALUES (2);\nPREPARE s FROM 'COMMIT';\nEXECUTE s;\n\
         SELECT * FROM nosuchtable;\n",
    );
    let run = run_as(&p, &user.url(), &["upgrade", "head"]);
    assert!(!run.success, "{}", run.stderr);
    assert!(run.stderr.contains("aludel resolve"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("the database is as it was"),
        "{}",
        run.stderr
    );
    assert_eq!(
        p.query("SELECT revision FROM aludel_version_failed"),
        vec![vec![REACH]]
    );
}

#[test]
fn mariadb_root_warns_and_untrusted_refuses_before_any_revision_runs() {
    let p = TestProject::on(Backend::Mysql);
    base(&p);
    let stderr = p.fails(&["upgrade", "head", "--untrusted"]);
    for text in ["refusing to run revisions", "FILE", "SUPER", SETUP] {
        assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
    }
    assert!(p.tables().is_empty(), "{:?}", p.tables());

    let run = p.aludel(&["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    for text in [NAMED, "FILE", "secure_file_priv", SETUP] {
        assert!(
            run.stderr.contains(text),
            "{text:?} not in:\n{}",
            run.stderr
        );
    }
    assert_eq!(p.versions(), vec![BASE]);
}

#[test]
fn sqlite_is_confined_so_untrusted_runs_without_a_warning() {
    let p = TestProject::new();
    base(&p);
    let run = p.aludel(&["upgrade", "head", "--untrusted"]);
    assert!(run.success, "{}", run.stderr);
    assert!(!run.stderr.contains(NAMED), "{}", run.stderr);
}

#[test]
fn sqlite_refuses_load_extension_and_path_pragmas_from_a_revision() {
    let p = TestProject::new();
    base(&p);
    p.ok(&["upgrade", "head"]);
    for sql in [
        "SELECT load_extension('/tmp/aludel-nosuch.so');",
        "PRAGMA temp_store_directory = '/tmp';",
    ] {
        reach(&p, &format!("INSERT INTO t (x) VALUES (2);\n{sql}\n"));
        let dump = p.dump();
        let stderr = p.fails(&["upgrade", "head"]);
        assert!(stderr.contains("was refused"), "{sql}: {stderr}");
        assert!(stderr.contains("cannot load extensions"), "{sql}: {stderr}");
        assert_eq!(p.dump(), dump);
        assert_eq!(p.versions(), vec![BASE]);
    }
}

// ---------------------------------------------------------------------------
// Secrets (property 8).
// ---------------------------------------------------------------------------

/// Every text a run could leak a secret through: stderr, stdout and the
/// audit rows.
fn assert_hidden(p: &TestProject, run: &crate::support::Run, secrets: &[&str]) {
    let audit = if p.has_table("aludel_version_history") {
        format!("{:?}", p.query("SELECT * FROM aludel_version_history"))
    } else {
        String::new()
    };
    for secret in secrets {
        for (what, text) in [
            ("stderr", &run.stderr),
            ("stdout", &run.stdout),
            ("audit", &audit),
        ] {
            assert!(!text.contains(secret), "{secret:?} in {what}:\n{text}");
        }
    }
}

#[test]
fn no_form_of_a_postgres_password_is_printed_or_stored() {
    let p = TestProject::on(Backend::Postgres);
    base(&p);
    let db = database_of(&p);
    // A password holding what ends a URL's authority: the URL cannot be
    // parsed, and the error shows it.
    let url = format!("postgres://postgres:Zq9/SEC?RET#x@y@127.0.0.1:5432/{db}");
    let run = run_as(&p, &url, &["upgrade", "head", "-vv"]);
    assert!(!run.success);
    assert!(run.stderr.contains("postgres:***@"), "{}", run.stderr);
    assert_hidden(&p, &run, &["Zq9", "SEC", "RET#"]);

    // A connection that fails after parsing (no such database).
    let url = format!("postgres://postgres:Zq9pw@127.0.0.1:5432/{db}_missing?password=Zq9q");
    let run = run_as(&p, &url, &["upgrade", "head", "-vv"]);
    assert!(!run.success);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert_hidden(&p, &run, &["Zq9"]);

    // Runs that connect (the server trusts local connections, so any
    // password is accepted), with every log detail on.
    for query in [
        "password=Zq9query",
        "options=-c%20aludel.secret%3DZq9option",
        "p%61ssword=Zq9encoded",
    ] {
        let url = format!("postgres://postgres:Zq9user@127.0.0.1:5432/{db}?{query}");
        let run = run_as(&p, &url, &["upgrade", "head", "-vv"]);
        assert!(run.success, "{query}: {}", run.stderr);
        assert!(run.stderr.contains("connecting to"), "{}", run.stderr);
        assert_hidden(&p, &run, &["Zq9"]);
    }
}

#[test]
fn no_form_of_a_mariadb_password_is_printed_or_stored() {
    let p = TestProject::on(Backend::Mysql);
    base(&p);
    let db = database_of(&p);
    let name = unique("aludel_pw");
    admin(
        Backend::Mysql,
        &format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY 'Zq9/right@pass'; \
             GRANT ALL PRIVILEGES ON {db}.* TO '{name}'@'%'"
        ),
    );
    let wrong = format!("mysql://{name}:Zq9wrong@127.0.0.1:3306/{db}");
    let run = run_as(&p, &wrong, &["upgrade", "head", "-vv"]);
    assert!(!run.success);
    assert!(run.stderr.contains("Access denied"), "{}", run.stderr);
    assert_hidden(&p, &run, &["Zq9"]);

    let unencoded = format!("mysql://{name}:Zq9/right@pass@127.0.0.1:3306/{db}");
    let run = run_as(&p, &unencoded, &["upgrade", "head", "-vv"]);
    assert_hidden(&p, &run, &["Zq9", "right@pass"]);

    let encoded = format!("mysql://{name}:Zq9%2Fright%40pass@127.0.0.1:3306/{db}");
    let run = run_as(&p, &encoded, &["upgrade", "head", "-vv"]);
    assert!(run.success, "{}", run.stderr);
    assert_hidden(&p, &run, &["Zq9", "right%40pass"]);
    assert_eq!(p.versions(), vec![BASE]);
    admin(Backend::Mysql, &format!("DROP USER IF EXISTS '{name}'@'%'"));
}

// ---------------------------------------------------------------------------
// Files (property 9) and output (property 6).
// ---------------------------------------------------------------------------

fn probe_wasm() -> PathBuf {
    fixtures().misbehave.with_file_name("probe.wasm")
}

fn probe(p: &TestProject, id: &str, args: &str) -> PathBuf {
    p.component_revision(id, None, &probe_wasm(), args)
}

#[test]
fn a_guest_cannot_read_a_hidden_file_or_target_that_its_checksum_leaves_out() {
    for path in [".env", "target/built.txt", "link", "revision.toml"] {
        let p = TestProject::new();
        let dir = probe(&p, "probe0000001", &format!("read = \"{path}\""));
        std::fs::write(dir.join(".env"), "SECRET=Zq9hidden").expect("write");
        std::fs::create_dir_all(dir.join("target")).expect("mkdir");
        std::fs::write(dir.join("target/built.txt"), "Zq9target").expect("write");
        std::os::unix::fs::symlink(".env", dir.join("link")).expect("symlink");
        let run = p.aludel(&["upgrade", "head"]);
        assert!(run.success, "{}", run.stderr);
        if path == "revision.toml" {
            // What its checksum covers it reads as ever.
            assert!(
                run.stderr.contains("probe: read revision.toml: id ="),
                "{}",
                run.stderr
            );
            continue;
        }
        assert!(
            run.stderr.contains(&format!("probe: cannot read {path}")),
            "{path}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("Zq9"),
            "{path} was read:\n{}",
            run.stderr
        );
        // What it could not read is not part of it: changing it changes
        // neither the checksum nor what verify says.
        let before = p.query("SELECT checksum FROM aludel_version_history");
        std::fs::write(dir.join(".env"), "SECRET=other").expect("write");
        std::fs::write(dir.join("target/built.txt"), "other").expect("write");
        p.ok(&["verify"]);
        assert_eq!(
            p.query("SELECT checksum FROM aludel_version_history"),
            before
        );
    }
}

#[test]
fn a_revisions_output_is_escaped_and_capped_and_the_drop_is_said_once() {
    let p = TestProject::new();
    probe(
        &p,
        "probe0000001",
        "flood = \"20000\"\nerr = \"probe failed on purpose\"",
    );
    let run = p.aludel(&["upgrade", "head"]);
    assert!(!run.success);
    let stderr = &run.stderr;
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape reached the terminal"
    );
    assert!(
        !stderr.contains('\r'),
        "a raw carriage return reached the terminal"
    );
    assert!(
        stderr.contains("\\x1b[2J\\x1b[31mlog in red\\r"),
        "{}",
        &stderr[..2000.min(stderr.len())]
    );
    assert!(stderr.contains("probe line 0 \\x1b[1A\\x1b[2Kerased\\roverwritten"));
    assert!(
        stderr.contains("probe failed on purpose \\x1b[31mred\\x1b[0m\\r"),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
    let lines = stderr.matches("probe line ").count();
    // The log line and the first 9,999 printed lines; the rest dropped.
    assert_eq!(lines, 9_999, "forwarded lines");
    assert!(stderr.contains("probe line 9998 "));
    assert!(!stderr.contains("probe line 9999 "));
    let said = stderr.matches("dropped 10001 more lines").count();
    assert_eq!(said, 1, "{}", &stderr[stderr.len().saturating_sub(2000)..]);
    assert!(stderr.contains("at most 10000 lines"));
}

#[test]
fn a_database_error_quoting_a_revisions_text_is_escaped() {
    let p = TestProject::new();
    p.sql_revision(
        BASE,
        None,
        "SELECT * FROM \"\u{1b}[2Jgone\u{9b}31m\r\";\n",
        "",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r') && !stderr.contains('\u{9b}'));
    assert!(stderr.contains("\\x1b[2Jgone\\u{9b}31m\\r"), "{stderr}");
    let log = p.ok(&["log"]);
    assert!(!log.contains('\u{1b}'), "{log}");
}
