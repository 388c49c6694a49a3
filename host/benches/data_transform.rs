//! Benchmark: the data transform of issue 13, `users.email_norm =
//! lower(trim(email))` and `users.email_hash` = its hex SHA-256, over every
//! row of a table, in one transaction:
//!
//! - natively: a Rust program with sqlx, reading by key in batches of
//!   10,000 and writing each batch in one statement (PostgreSQL `UPDATE …
//!   FROM UNNEST`, SQLite `UPDATE … FROM json_each`, MySQL/MariaDB a
//!   multi-row `INSERT … ON DUPLICATE KEY UPDATE`);
//! - by aludel, as revisions written the natural way (a cursor read in
//!   batches of 10,000 and one `execute_many` of an UPDATE per batch), in
//!   Rust (benches/guests/email), Python and JavaScript
//!   (benches/guests/email-python, email-js), with a warm component cache;
//! - both again through a TCP proxy that adds 1 ms each way
//!   (benches/support/proxy.rs), PostgreSQL and MySQL only.
//!
//! Prints each time and its ratio to native. Targets: Rust ≤ 1.15x, Python
//! and JavaScript ≤ 1.5x; through the proxy, Rust ≤ 1.5x.
//!
//! `cargo bench --bench data_transform -- [--rows N] [--proxy-rows N]
//! [--backends sqlite,postgres,mysql] [--langs rust,python,js]
//! [--db-dir /dev/shm]`. The servers are the test suite's (README,
//! Databases); each run gets a fresh database `aludel_bench`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aludel::ops::{self, Options};
use aludel::project::Project;
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection, Row};

#[path = "support/proxy.rs"]
mod proxy;

const BATCH: i64 = 10_000;
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const MYSQL: &str = "mysql://root@127.0.0.1:3306";

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    fn upstream(self) -> &'static str {
        match self {
            Backend::Postgres => "127.0.0.1:5432",
            _ => "127.0.0.1:3306",
        }
    }
}

struct Args {
    rows: i64,
    proxy_rows: i64,
    backends: Vec<Backend>,
    langs: Vec<String>,
    db_dir: Option<PathBuf>,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        raw.iter()
            .position(|a| a == flag)
            .and_then(|i| raw.get(i + 1).cloned())
    };
    let list = |flag: &str, default: &str| -> Vec<String> {
        value(flag)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .map(str::to_string)
            .collect()
    };
    Args {
        rows: value("--rows").map_or(1_000_000, |v| v.parse().expect("--rows N")),
        proxy_rows: value("--proxy-rows").map_or(20_000, |v| v.parse().expect("--proxy-rows N")),
        backends: list("--backends", "sqlite,postgres,mysql")
            .iter()
            .map(|b| match b.as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                "mysql" => Backend::Mysql,
                other => panic!("unknown backend {other}"),
            })
            .collect(),
        langs: list("--langs", "rust,python,js"),
        db_dir: value("--db-dir").map(PathBuf::from),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let args = args();
    let work = tempfile::tempdir().expect("a temporary directory");
    let db_dir = match &args.db_dir {
        Some(dir) => tempfile::tempdir_in(dir).expect("a directory for the SQLite files"),
        None => tempfile::tempdir_in(work.path()).expect("a directory"),
    };
    let projects: Vec<(String, PathBuf)> = args
        .langs
        .iter()
        .map(|lang| (lang.clone(), make_project(work.path(), lang)))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        println!(
            "{:<9} {:<14} {:>9} {:<8} {:>10} {:>8} {:>12}",
            "backend", "link", "rows", "who", "time", "ratio", "round trips"
        );
        for &backend in &args.backends {
            let mut links = vec![("local", args.rows, None)];
            if backend != Backend::Sqlite {
                links.push((
                    "1 ms each way",
                    args.proxy_rows,
                    Some(Duration::from_millis(1)),
                ));
            }
            for (link, rows, delay) in links {
                let proxy = match delay {
                    Some(d) => Some(
                        proxy::Proxy::start(backend.upstream(), d)
                            .await
                            .expect("the proxy listens"),
                    ),
                    None => None,
                };
                let url = |db: &str| {
                    let url = match backend {
                        Backend::Sqlite => {
                            format!("sqlite://{}.db", db_dir.path().join(db).display())
                        }
                        Backend::Postgres => format!("{POSTGRES}/{db}"),
                        Backend::Mysql => format!("{MYSQL}/{db}"),
                    };
                    match &proxy {
                        Some(p) => p.url_for(&url),
                        None => url,
                    }
                };
                let fresh = |name: &str| {
                    let name = name.to_string();
                    let url = url(&name);
                    async move {
                        fresh_database(backend, &name, &url, rows).await;
                        url
                    }
                };
                // The client's round trips during a run, through the proxy.
                let turns = |since: u64| proxy.as_ref().map(|p| p.turns() - since);
                let start = || proxy.as_ref().map_or(0, |p| p.turns());
                let target = fresh("native").await;
                let since = start();
                let native = run_native(backend, &target).await;
                let trips = turns(since);
                verify(&target, rows).await;
                print_row(backend, link, rows, "native", native, native, trips);
                for (lang, dir) in &projects {
                    let project = Project::open(&dir.join("aludel.toml")).expect("project opens");
                    // Compile once: a deployment's second run finds the cache warm.
                    let warm = fresh(&format!("warm_{lang}")).await;
                    run_aludel(&project, &warm).await;
                    let target = fresh(lang).await;
                    let since = start();
                    let took = run_aludel(&project, &target).await;
                    let trips = turns(since);
                    verify(&target, rows).await;
                    print_row(backend, link, rows, lang, took, native, trips);
                }
            }
        }
    });
}

fn print_row(
    backend: Backend,
    link: &str,
    rows: i64,
    who: &str,
    took: Duration,
    native: Duration,
    round_trips: Option<u64>,
) {
    println!(
        "{:<9} {:<14} {:>9} {:<8} {:>8.2} s {:>7.2}x {:>12}",
        backend.name(),
        link,
        rows,
        who,
        took.as_secs_f64(),
        took.as_secs_f64() / native.as_secs_f64(),
        round_trips.map_or(String::new(), |t| t.to_string())
    );
}

/// A project with the one revision of `lang`, its component or plugin in
/// place.
fn make_project(work: &Path, lang: &str) -> PathBuf {
    let dir = work.join(format!("project-{lang}"));
    let rev = dir.join("versions").join("0000000000e1_normalise_emails");
    std::fs::create_dir_all(&rev).expect("a revision directory");
    std::fs::write(
        dir.join("aludel.toml"),
        "[database]\nurl = \"sqlite://unused.db\"\n[runtime]\ncache_dir = \"cache\"\n",
    )
    .expect("aludel.toml");
    let guests = root().join("host/benches/guests");
    let runner = match lang {
        "rust" => {
            let target = root().join("target/bench-guests");
            let status = Command::new("cargo")
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--manifest-path",
                ])
                .arg(guests.join("email/Cargo.toml"))
                .env("CARGO_TARGET_DIR", &target)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "the Rust revision builds");
            std::fs::copy(
                target.join("wasm32-wasip2/release/email_transform.wasm"),
                rev.join("revision.wasm"),
            )
            .expect("copy the component");
            "component = \"revision.wasm\""
        }
        "python" | "js" => {
            let status = Command::new("bash")
                .arg(root().join(format!("plugins/{lang}/build.sh")))
                .status()
                .expect("bash runs");
            assert!(status.success(), "the {lang} plugin builds");
            std::fs::create_dir_all(dir.join("plugins")).expect("plugins/");
            std::fs::copy(
                root().join(format!("target/plugins/{lang}.wasm")),
                dir.join(format!("plugins/{lang}.wasm")),
            )
            .expect("copy the plugin");
            let file = if lang == "python" {
                "migration.py"
            } else {
                "migration.js"
            };
            std::fs::copy(guests.join(format!("email-{lang}/{file}")), rev.join(file))
                .expect("copy the revision");
            if lang == "python" {
                "plugin = \"python\""
            } else {
                "plugin = \"js\""
            }
        }
        other => panic!("unknown language {other}"),
    };
    std::fs::write(
        rev.join("revision.toml"),
        format!("id = \"0000000000e1\"\nparents = []\nmessage = \"normalise emails\"\n{runner}\n"),
    )
    .expect("revision.toml");
    dir
}

/// A new database named `name` at `url`, holding `users` with `rows` rows.
async fn fresh_database(backend: Backend, name: &str, url: &str, rows: i64) {
    let create = "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL, \
                  email_norm TEXT, email_hash TEXT)";
    match backend {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let _ = std::fs::remove_file(path);
            let mut c = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
                .await
                .expect("SQLite opens");
            let load = format!(
                "{create}; WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows}) \
                 INSERT INTO users (id, email) SELECT i, '  User' || i || '@Example.COM ' FROM g"
            );
            sqlx::raw_sql(AssertSqlSafe(load))
                .execute(&mut c)
                .await
                .expect("loads");
        }
        Backend::Postgres => {
            let mut admin = sqlx::PgConnection::connect(&format!("{POSTGRES}/test"))
                .await
                .expect("PostgreSQL answers");
            let reset = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::raw_sql(AssertSqlSafe(reset))
                .execute(&mut admin)
                .await
                .expect("drops");
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("creates");
            let mut c = sqlx::PgConnection::connect(&format!("{POSTGRES}/{name}"))
                .await
                .expect("connects");
            let load = format!(
                "{create}; INSERT INTO users (id, email) SELECT i, '  User' || i || '@Example.COM ' \
                 FROM generate_series(1, {rows}) AS i; ANALYZE users"
            );
            sqlx::raw_sql(AssertSqlSafe(load))
                .execute(&mut c)
                .await
                .expect("loads");
        }
        Backend::Mysql => {
            let mut admin = sqlx::MySqlConnection::connect(&format!("{MYSQL}/test"))
                .await
                .expect("MariaDB answers");
            let reset = format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}");
            sqlx::raw_sql(AssertSqlSafe(reset))
                .execute(&mut admin)
                .await
                .expect("resets");
            let mut c = sqlx::MySqlConnection::connect(&format!("{MYSQL}/{name}"))
                .await
                .expect("connects");
            // MariaDB's sequence engine (seq_1_to_N) makes the rows.
            let load = format!(
                "{create}; INSERT INTO users (id, email) SELECT seq, CONCAT('  User', seq, '@Example.COM ') \
                 FROM seq_1_to_{rows}"
            );
            sqlx::raw_sql(AssertSqlSafe(load))
                .execute(&mut c)
                .await
                .expect("loads");
        }
    }
}

fn transform(email: &str) -> (String, String) {
    let norm = email.trim().to_lowercase();
    let hash = hex::encode(Sha256::digest(norm.as_bytes()));
    (norm, hash)
}

/// The native program: one transaction, keyset reads, one set-based write
/// per batch.
async fn run_native(backend: Backend, url: &str) -> Duration {
    let started = Instant::now();
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url)
                .await
                .expect("connects");
            let mut tx = c.begin().await.expect("begins");
            let mut last = 0i64;
            loop {
                let rows =
                    sqlx::query("SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT ?")
                        .bind(last)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await
                        .expect("reads");
                let Some(end) = rows.last() else { break };
                last = end.get(0);
                let batch: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| {
                        let (n, h) = transform(r.get(1));
                        serde_json::json!([n, h, r.get::<i64, _>(0)])
                    })
                    .collect();
                sqlx::query(
                    "UPDATE users SET email_norm = j.value ->> 0, email_hash = j.value ->> 1 \
                     FROM json_each(?) AS j WHERE users.id = j.value ->> 2",
                )
                .bind(serde_json::Value::Array(batch).to_string())
                .execute(&mut *tx)
                .await
                .expect("writes");
            }
            tx.commit().await.expect("commits");
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("connects");
            let mut tx = c.begin().await.expect("begins");
            let mut last = 0i64;
            loop {
                let rows =
                    sqlx::query("SELECT id, email FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                        .bind(last)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await
                        .expect("reads");
                let Some(end) = rows.last() else { break };
                last = end.get(0);
                let (mut norms, mut hashes, mut ids) = (Vec::new(), Vec::new(), Vec::new());
                for r in &rows {
                    let (n, h) = transform(r.get(1));
                    norms.push(n);
                    hashes.push(h);
                    ids.push(r.get::<i64, _>(0));
                }
                sqlx::query(
                    "UPDATE users SET email_norm = u.n, email_hash = u.h \
                     FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS u(n, h, id) \
                     WHERE users.id = u.id",
                )
                .bind(norms)
                .bind(hashes)
                .bind(ids)
                .execute(&mut *tx)
                .await
                .expect("writes");
            }
            tx.commit().await.expect("commits");
        }
        Backend::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.expect("connects");
            let mut tx = c.begin().await.expect("begins");
            let mut last = 0i64;
            loop {
                let rows =
                    sqlx::query("SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT ?")
                        .bind(last)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await
                        .expect("reads");
                let Some(end) = rows.last() else { break };
                last = end.get(0);
                let values = vec!["(?, ?, ?, ?)"; rows.len()].join(", ");
                let sql = format!(
                    "INSERT INTO users (id, email, email_norm, email_hash) VALUES {values} \
                     ON DUPLICATE KEY UPDATE email_norm = VALUES(email_norm), \
                     email_hash = VALUES(email_hash)"
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for r in &rows {
                    let email: String = r.get(1);
                    let (n, h) = transform(&email);
                    query = query.bind(r.get::<i64, _>(0)).bind(email).bind(n).bind(h);
                }
                query.execute(&mut *tx).await.expect("writes");
            }
            tx.commit().await.expect("commits");
        }
    }
    started.elapsed()
}

/// A second `aludel upgrade head`, without process start-up: the
/// library's verb, as the CLI calls it.
async fn run_aludel(project: &Project, url: &str) -> Duration {
    let started = Instant::now();
    let options = Options {
        url: Some(url.to_string()),
        ..Options::default()
    };
    let applied = ops::upgrade(project, &options, "head", false)
        .await
        .expect("upgrade succeeds");
    assert_eq!(applied.len(), 1);
    started.elapsed()
}

/// Every row transformed, and one checked against the transform here.
async fn verify(url: &str, rows: i64) {
    use aludel::db::Value;
    let mut c = aludel::db::connect(url).await.expect("connects to check");
    let one = |set: aludel::db::RowSet| set.rows.into_iter().next().expect("a row");
    let counts = c
        .query(
            "SELECT COUNT(*), SUM(CASE WHEN email_hash IS NULL THEN 1 ELSE 0 END) FROM users",
            Vec::new(),
        )
        .await
        .expect("counts");
    let counts = one(counts);
    assert_eq!(counts[0], Value::Integer(rows), "every row is there");
    assert!(
        matches!(&counts[1], Value::Integer(0))
            || matches!(&counts[1], Value::Decimal(d) if d == "0"),
        "every row transformed: {:?}",
        counts[1]
    );
    let row = one(c
        .query(
            "SELECT email, email_norm, email_hash FROM users WHERE id = 7",
            Vec::new(),
        )
        .await
        .expect("reads a row"));
    let Value::Text(email) = &row[0] else {
        panic!("{row:?}")
    };
    let (n, h) = transform(email);
    assert_eq!(row[1..], [Value::Text(n), Value::Text(h)]);
}
