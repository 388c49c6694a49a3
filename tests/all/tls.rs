//! TLS to PostgreSQL and MariaDB, against servers these tests start
//! themselves: a CA and a server certificate for `localhost` made with the
//! `openssl` CLI, a PostgreSQL whose pg_hba.conf has only `hostssl` lines,
//! a MariaDB with `require_secure_transport`, and one server of each
//! without TLS. Each server is started once for the tests of this file, on
//! a free local port, and stopped once the test process is gone, whatever
//! way it ended.
//!
//! A missing server binary fails the tests with what to install: the
//! servers are part of the test environment (see README, Databases).

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{TestProject, block_on};

/// The test process is root (as on CI): PostgreSQL then runs as the
/// `postgres` user, and MariaDB with `--user=root`.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A directory of this test run that outlives every test (a server lives
/// in it), removed, after `stop` stopped what runs there, by a watcher once
/// the test process has exited: statics are never dropped, and a watcher
/// also cleans up after a crash or a `kill -9`.
fn scratch_dir(name: &str, stop: impl FnOnce(&Path) -> String) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("aludel-tls-{name}-"))
        .tempdir()
        .expect("a temporary directory")
        .keep();
    // Readable by the postgres user, who runs the PostgreSQL servers.
    run(Command::new("chmod").arg("755").arg(&dir));
    watch(&dir, &stop(&dir));
    dir
}

/// After this process exits: runs `stop`, then removes `dir`.
// The watcher is meant to outlive this process, so nothing waits for it.
#[allow(clippy::zombie_processes)]
fn watch(dir: &Path, stop: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop}; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A program on the PATH or in one of `dirs`, or a failed test saying
/// what to install.
fn program(names: &[&str], dirs: &[PathBuf], install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut search: Vec<PathBuf> = dirs.to_vec();
    search.extend(std::env::split_paths(&path));
    search.extend(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()]);
    for dir in &search {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the TLS tests need {} and found none of them: install {install}",
        names.join(" or ")
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// The certificates of the tests: a CA, a server certificate it signed for
/// `localhost` alone (so `127.0.0.1` is a wrong name), and a second CA that
/// signed nothing the servers show.
struct Certs {
    ca: PathBuf,
    other_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let openssl = program(&["openssl"], &[], "openssl (apt-get install openssl)");
        let dir = scratch_dir("certs", |_| "true".into());
        let ca_cert = |name: &str| {
            run(Command::new(&openssl)
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", &format!("/CN=aludel test {name}")])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(dir.join(format!("{name}.key")))
                .arg("-out")
                .arg(dir.join(format!("{name}.crt"))));
        };
        ca_cert("ca");
        ca_cert("other-ca");
        run(Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(dir.join("server.key"))
            .arg("-out")
            .arg(dir.join("server.csr")));
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\n\
             keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
        )
        .expect("write");
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(dir.join("server.csr"))
            .arg("-CA")
            .arg(dir.join("ca.crt"))
            .arg("-CAkey")
            .arg(dir.join("ca.key"))
            .arg("-extfile")
            .arg(dir.join("server.ext"))
            .arg("-out")
            .arg(dir.join("server.crt")));
        Certs {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    })
}

/// Waits until `connect` succeeds, or fails the test with `log`.
fn wait_until_up(what: &str, log: &Path, mut connect: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        match connect() {
            Ok(()) => return,
            Err(e) if started.elapsed() > Duration::from_secs(60) => panic!(
                "{what} did not come up within 60 s: {e}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

// ---------------------------------------------------------------- PostgreSQL

fn pg_bin(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    // The newest version first (their directories are named by it).
    dirs.sort_by_key(|d| {
        std::cmp::Reverse(
            d.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    program(
        &[name],
        &dirs,
        "PostgreSQL's server (apt-get install postgresql)",
    )
}

/// A command run as the owner of the PostgreSQL servers.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

struct Server {
    port: u16,
    /// The server process where this process started it itself (pg_ctl
    /// starts PostgreSQL in the background): kept, never waited for, since
    /// the server lives as long as the tests.
    _process: Option<std::process::Child>,
}

/// A PostgreSQL of its own, TLS-only (`tls`) or without TLS at all.
fn start_postgres(tls: bool) -> Server {
    let initdb = pg_bin("initdb");
    let pg_ctl = pg_bin("pg_ctl");
    let name = if tls { "pg" } else { "pg-plain" };
    // An immediate shutdown: the data is thrown away.
    let base = scratch_dir(name, |dir| {
        format!(
            "kill -QUIT $(head -1 '{}/data/postmaster.pid') 2>/dev/null; sleep 1",
            dir.display()
        )
    });
    let data = base.join("data");
    if is_root() {
        run(Command::new("chown").arg("postgres").arg(&base));
    }
    run(as_postgres(&initdb).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    ]));
    let port = free_port();
    let mut conf = format!(
        "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
         fsync = off\nmax_connections = 40\n",
        base.display()
    );
    let hba = if tls {
        for (from, to) in [(&certs().cert, "server.crt"), (&certs().key, "server.key")] {
            std::fs::copy(from, data.join(to)).expect("copy a certificate");
        }
        run(Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key")));
        if is_root() {
            run(Command::new("chown")
                .arg("postgres")
                .arg(data.join("server.crt"))
                .arg(data.join("server.key")));
        }
        conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n"
    } else {
        conf.push_str("ssl = off\n");
        "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    };
    let conf_path = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
    text.push_str(&conf);
    std::fs::write(&conf_path, text).expect("write postgresql.conf");
    std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
    let log = base.join("log");
    run(as_postgres(&pg_ctl)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "start"]));
    let mode = if tls { "require" } else { "disable" };
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode={mode}");
    wait_until_up("PostgreSQL", &log, || {
        block_on(async {
            use sqlx::Connection;
            sqlx::PgConnection::connect(&url)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    });
    Server {
        port,
        _process: None,
    }
}

fn pg() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_postgres(true))
}

fn pg_plain() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_postgres(false))
}

// ------------------------------------------------------------------- MariaDB

fn start_mariadb(tls: bool) -> Server {
    let install = program(
        &["mariadb-install-db", "mysql_install_db"],
        &[],
        "MariaDB's server (apt-get install mariadb-server)",
    );
    let server = program(
        &["mariadbd", "mysqld"],
        &[],
        "MariaDB's server (apt-get install mariadb-server)",
    );
    let name = if tls { "mariadb" } else { "mariadb-plain" };
    let base = scratch_dir(name, |dir| {
        format!(
            "kill -9 $(cat '{}/pid') 2>/dev/null; sleep 1",
            dir.display()
        )
    });
    let data = base.join("data");
    let user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
    run(Command::new(&install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .args(user));
    let port = free_port();
    let log = base.join("error.log");
    let mut cmd = Command::new(&server);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", base.join("sock").display()))
        .arg(format!("--pid-file={}", base.join("pid").display()))
        .arg(format!("--log-error={}", log.display()))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
        .args([
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
        ])
        .args(user);
    if tls {
        let c = certs();
        cmd.arg(format!("--ssl-ca={}", c.ca.display()))
            .arg(format!("--ssl-cert={}", c.cert.display()))
            .arg(format!("--ssl-key={}", c.key.display()))
            .arg("--require-secure-transport=ON");
    } else {
        cmd.arg("--skip-ssl");
    }
    let process = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
    let mode = if tls { "REQUIRED" } else { "DISABLED" };
    let url = format!("mysql://root@127.0.0.1:{port}/mysql?ssl-mode={mode}");
    wait_until_up("MariaDB", &log, || {
        block_on(async {
            use sqlx::Connection;
            sqlx::MySqlConnection::connect(&url)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    });
    Server {
        port,
        _process: Some(process),
    }
}

fn mariadb() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_mariadb(true))
}

fn mariadb_plain() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_mariadb(false))
}

// --------------------------------------------------------------------- tests

/// A database of its own on a test server, for a test that migrates.
fn create_database(url: &str, mysql: bool) -> String {
    let name = format!(
        "aludel_tls_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let sql = format!("CREATE DATABASE {name}");
    block_on(async {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        if mysql {
            let mut c = sqlx::MySqlConnection::connect(url).await?;
            c.execute(AssertSqlSafe(sql)).await?;
        } else {
            let mut c = sqlx::PgConnection::connect(url).await?;
            c.execute(AssertSqlSafe(sql)).await?;
        }
        Ok::<_, sqlx::Error>(())
    })
    .unwrap_or_else(|e| panic!("cannot create a test database on {url}: {e}"));
    name
}

const REVISION: &str = "tls000000001";

/// A project with one SQL revision, run against `url` through `--url`.
fn project() -> TestProject {
    let p = TestProject::new();
    p.sql_revision(
        REVISION,
        None,
        "CREATE TABLE over_tls (id INTEGER PRIMARY KEY);\n",
        "DROP TABLE over_tls;\n",
    );
    p
}

fn upgrade_and_current_work(url: &str) {
    let p = project();
    p.ok(&["--url", url, "upgrade", "head"]);
    let current = p.ok(&["--url", url, "current"]);
    assert!(current.contains(REVISION), "current printed: {current}");
}

/// `current` connects (the database is at base: nothing applied).
fn connects(url: &str) {
    let p = project();
    p.ok(&["--url", url, "current"]);
}

fn refused(url: &str) -> String {
    let p = project();
    p.fails(&["--url", url, "current"])
}

fn pg_url(host: &str, db: &str, query: &str) -> String {
    format!("postgres://postgres@{host}:{}/{db}?{query}", pg().port)
}

fn my_url(host: &str, db: &str, query: &str) -> String {
    format!("mysql://root@{host}:{}/{db}?{query}", mariadb().port)
}

#[test]
fn postgres_with_sslmode_require_runs_upgrade_and_current_through_the_binary() {
    let db = create_database(&pg_url("127.0.0.1", "postgres", "sslmode=require"), false);
    upgrade_and_current_work(&pg_url("127.0.0.1", &db, "sslmode=require"));
}

#[test]
fn mariadb_with_ssl_mode_required_runs_upgrade_and_current_through_the_binary() {
    let db = create_database(&my_url("127.0.0.1", "mysql", "ssl-mode=REQUIRED"), true);
    upgrade_and_current_work(&my_url("127.0.0.1", &db, "ssl-mode=REQUIRED"));
}

#[test]
fn postgres_verify_full_with_the_right_ca_connects_by_the_certificates_name() {
    let ca = certs().ca.display().to_string();
    connects(&pg_url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
}

#[test]
fn mariadb_verify_identity_with_the_right_ca_connects_by_the_certificates_name() {
    let ca = certs().ca.display().to_string();
    connects(&my_url(
        "localhost",
        "mysql",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ));
}

#[test]
fn postgres_verify_full_refuses_a_certificate_for_another_name_and_says_what_to_do() {
    let ca = certs().ca.display().to_string();
    let stderr = refused(&pg_url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(
        stderr.contains("the TLS certificate of 127.0.0.1 is not valid for the name 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("localhost"), "{stderr}");
    assert!(stderr.contains("sslmode=verify-ca"), "{stderr}");
    // verify-ca checks the CA and not the name: the same server is reached.
    connects(&pg_url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
}

#[test]
fn mariadb_verify_identity_refuses_a_certificate_for_another_name_and_says_what_to_do() {
    let ca = certs().ca.display().to_string();
    let stderr = refused(&my_url(
        "127.0.0.1",
        "mysql",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ));
    assert!(
        stderr.contains("the TLS certificate of 127.0.0.1 is not valid for the name 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("ssl-mode=VERIFY_CA"), "{stderr}");
    connects(&my_url(
        "127.0.0.1",
        "mysql",
        &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
    ));
}

#[test]
fn postgres_refuses_a_server_signed_by_another_ca_naming_the_host_and_sslrootcert() {
    let other = certs().other_ca.display().to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        // With a root certificate, `require` checks the CA, as libpq does.
        let url = format!(
            "postgres://postgres:hunter2@localhost:{}/postgres?sslmode={mode}&sslrootcert={other}",
            pg().port
        );
        let stderr = refused(&url);
        assert!(
            stderr.contains("the TLS certificate of localhost is not trusted"),
            "{mode}: {stderr}"
        );
        assert!(stderr.contains("set sslrootcert=PATH"), "{mode}: {stderr}");
        assert!(
            stderr.contains("postgres://postgres:***@localhost"),
            "{mode}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{mode}: {stderr}");
    }
}

#[test]
fn mariadb_refuses_a_server_signed_by_another_ca_naming_the_host_and_ssl_ca() {
    let other = certs().other_ca.display().to_string();
    // An ssl-ca without ssl-mode checks the CA.
    for query in [
        format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={other}"),
        format!("ssl-mode=VERIFY_CA&ssl-ca={other}"),
        format!("ssl-ca={other}"),
    ] {
        let url = format!(
            "mysql://root:hunter2@localhost:{}/mysql?{query}",
            mariadb().port
        );
        let stderr = refused(&url);
        assert!(
            stderr.contains("the TLS certificate of localhost is not trusted"),
            "{query}: {stderr}"
        );
        assert!(stderr.contains("set ssl-ca=PATH"), "{query}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{query}: {stderr}");
    }
}

#[test]
fn postgres_that_takes_only_tls_is_not_reached_with_sslmode_disable() {
    let stderr = refused(&pg_url("127.0.0.1", "postgres", "sslmode=disable"));
    assert!(
        stderr.contains("127.0.0.1 accepts only TLS connections"),
        "{stderr}"
    );
    assert!(stderr.contains("use sslmode=require"), "{stderr}");
}

#[test]
fn mariadb_that_takes_only_tls_is_not_reached_with_ssl_mode_disabled() {
    let stderr = refused(&my_url("127.0.0.1", "mysql", "ssl-mode=DISABLED"));
    // MariaDB says only "access denied": aludel says TLS may be why.
    assert!(
        stderr.contains("127.0.0.1 refused the login over a connection without TLS"),
        "{stderr}"
    );
    assert!(stderr.contains("require_secure_transport"), "{stderr}");
    assert!(stderr.contains("use ssl-mode=REQUIRED"), "{stderr}");
}

#[test]
fn postgres_without_tls_is_refused_under_sslmode_require() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        pg_plain().port
    );
    let stderr = refused(&url);
    assert!(
        stderr.contains("127.0.0.1 does not offer TLS, and sslmode=require requires it"),
        "{stderr}"
    );
}

#[test]
fn mariadb_without_tls_is_refused_under_ssl_mode_required() {
    let url = format!(
        "mysql://root@127.0.0.1:{}/mysql?ssl-mode=REQUIRED",
        mariadb_plain().port
    );
    let stderr = refused(&url);
    assert!(
        stderr.contains("127.0.0.1 does not offer TLS, and ssl-mode=REQUIRED requires it"),
        "{stderr}"
    );
}

/// A revision that outlives its time limit is stopped in the server by the
/// canceller's side connection: on a TLS-only server that connection must
/// use TLS too, or the statement would run its whole 30 s.
fn a_slow_statement_is_cancelled(url: &str, sleep: &str) {
    let p = TestProject::new();
    p.set_limits(2, 64);
    p.sql_revision("slow00000001", None, sleep, "SELECT 1;\n");
    let started = Instant::now();
    let stderr = p.fails(&["--url", url, "upgrade", "head"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}: {stderr}",
        started.elapsed()
    );
    assert!(!stderr.contains("cannot connect"), "{stderr}");
}

#[test]
fn postgres_side_connections_use_tls_so_a_revision_out_of_time_is_cancelled() {
    let db = create_database(&pg_url("127.0.0.1", "postgres", "sslmode=require"), false);
    a_slow_statement_is_cancelled(
        &pg_url("127.0.0.1", &db, "sslmode=require"),
        "SELECT pg_sleep(30);\n",
    );
}

#[test]
fn mariadb_side_connections_use_tls_so_a_revision_out_of_time_is_cancelled() {
    let db = create_database(&my_url("127.0.0.1", "mysql", "ssl-mode=REQUIRED"), true);
    a_slow_statement_is_cancelled(
        &my_url("127.0.0.1", &db, "ssl-mode=REQUIRED"),
        "SELECT SLEEP(30);\n",
    );
}

#[test]
fn postgres_sslrootcert_system_needs_verify_full() {
    let stderr = refused(&pg_url(
        "localhost",
        "postgres",
        "sslmode=require&sslrootcert=system",
    ));
    assert!(stderr.contains("use sslmode=verify-full"), "{stderr}");
    // With the platform's roots alone, the test CA is not trusted.
    let stderr = refused(&pg_url("localhost", "postgres", "sslrootcert=system"));
    assert!(
        stderr.contains("the TLS certificate of localhost is not trusted"),
        "{stderr}"
    );
}
