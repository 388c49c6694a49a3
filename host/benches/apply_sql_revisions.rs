//! Benchmark: apply 1,000 generated SQL revisions (the `sql` plugin) to an
//! empty SQLite database with aludel (warm component cache), against the same
//! SQL without aludel, in the same run:
//!
//! - **direct C API**: one `sqlite3*` opened through libsqlite3-sys (the
//!   SQLite sqlx links), `BEGIN`, the revision's `upgrade.sql`, `COMMIT` per
//!   revision with `sqlite3_exec`, on the calling thread: what a program, or
//!   Python's `sqlite3`, does. This is the baseline of the target: aludel
//!   within 1.5x of it.
//! - **direct sqlx**: the same through one sqlx connection (`begin`,
//!   `raw_sql`, `commit`): every call is a hop to sqlx-sqlite's worker thread.
//! - **sqlx-cli**: `sqlx migrate run` on the same SQL written as sqlx
//!   migration files (`<version>_<name>.sql`), a process of its own as an
//!   operator would run it (start-up included, as it is for nobody's benefit
//!   here: aludel's row excludes its own process start). Found through the
//!   `SQLX_CLI` environment variable or as `sqlx` on `PATH`; the row is
//!   skipped, saying how to install it, when it is not there. The target:
//!   aludel faster.
//!
//! Every row uses SQLite's defaults as sqlx sets them (rollback journal,
//! `synchronous = FULL`, `foreign_keys = ON`).
//!
//! Run with `cargo bench --bench apply_sql_revisions` (add `-- 300` for
//! another revision count, `-- --db-dir /dev/shm` to put the databases on a
//! memory file system: no fsync, so only the programs' own work is
//! compared; `-- --only aludel` runs only aludel's rows, for a profiler).
//!
//! On the 2-core development VM, shared with other builds, the per-round
//! ratios of one run spread from 0.6x to 8.8x (2026-12-03): measure on a
//! quiet machine, and read the CPU-time column, which other processes do
//! not inflate. Targets (issue 13): aludel within 1.5x of the direct C API
//! and faster than sqlx-cli.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use aludel::ops::{self, Options};
use aludel::project::Project;
use libsqlite3_sys as ffi;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

/// Rounds of each row, in rotating order: the machine's speed drifts within
/// a minute when it is shared, so each round's ratios compare runs made
/// seconds apart, and the median of those ratios is the figure.
const ROUNDS: usize = 7;

const INSTALL_SQLX_CLI: &str =
    "cargo install sqlx-cli --no-default-features --features sqlite --locked";

#[derive(Clone, Copy, PartialEq)]
enum Row {
    Aludel,
    DirectC,
    DirectSqlx,
    SqlxCli,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Aludel => "aludel",
            Row::DirectC => "direct C API",
            Row::DirectSqlx => "direct sqlx",
            Row::SqlxCli => "sqlx-cli migrate run",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let work = tempfile::tempdir().expect("a temporary directory");
    let db_dir = match args.iter().position(|a| a == "--db-dir") {
        Some(i) => tempfile::tempdir_in(args.get(i + 1).expect("--db-dir takes a directory"))
            .expect("a temporary directory for the databases"),
        None => tempfile::tempdir_in(work.path()).expect("a temporary directory"),
    };
    let only_aludel = args
        .iter()
        .position(|a| a == "--only")
        .is_some_and(|i| args.get(i + 1).map(String::as_str) == Some("aludel"));
    let project_dir = work.path().join("project");
    generate_project(&project_dir, count);
    let migrations = work.path().join("migrations");
    generate_sqlx_migrations(&project_dir, &migrations);
    let project =
        Project::open(&project_dir.join("aludel.toml")).expect("the generated project opens");
    let sqlx_cli = if only_aludel { None } else { find_sqlx_cli() };

    let mut rows = vec![Row::Aludel];
    if !only_aludel {
        rows.extend([Row::DirectC, Row::DirectSqlx]);
        if sqlx_cli.is_some() {
            rows.push(Row::SqlxCli);
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // Warm the disk cache once, as a deployment's second run would find it.
        let warm_db = db_dir.path().join("warm.db");
        run_aludel(&project, &warm_db).await;

        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
        let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
        for round in 0..ROUNDS {
            // Rotate who goes first, so no row always follows the same one.
            for k in 0..rows.len() {
                let r = (k + round) % rows.len();
                let db = db_dir.path().join(format!("{round}-{r}.db"));
                let cpu_before = cpu_time();
                let took = match rows[r] {
                    Row::Aludel => run_aludel(&project, &db).await,
                    Row::DirectC => run_direct_c(&project, &db),
                    Row::DirectSqlx => run_direct_sqlx(&project, &db).await,
                    Row::SqlxCli => run_sqlx_cli(
                        sqlx_cli.as_deref().expect("only listed when found"),
                        &migrations,
                        &db,
                        count,
                    ),
                };
                times[r].push(took);
                cpu[r].push(cpu_time().saturating_sub(cpu_before));
            }
        }
        println!(
            "revisions: {count}, databases in {}, median of {ROUNDS} rounds",
            db_dir.path().display()
        );
        for (r, row) in rows.iter().enumerate() {
            let wall = median(&times[r]);
            println!(
                "{:<22} {:>8.1} ms  ({:.3} ms a revision; CPU of all its threads {:.3} ms)",
                row.name(),
                ms(wall),
                ms(wall) / count as f64,
                ms(median(&cpu[r])) / count as f64
            );
        }
        if sqlx_cli.is_none() && !only_aludel {
            println!("sqlx-cli not found: install with `{INSTALL_SQLX_CLI}` or set SQLX_CLI");
        }
        for (r, row) in rows.iter().enumerate().skip(1) {
            // aludel over the row, round by round.
            let ratios: Vec<f64> = (0..ROUNDS)
                .map(|i| times[0][i].as_secs_f64() / times[r][i].as_secs_f64())
                .collect();
            let target = match row {
                Row::DirectC => " (target ≤ 1.5x)",
                Row::SqlxCli => " (target < 1.0x)",
                _ => "",
            };
            println!(
                "aludel / {:<22} {:.2}x{target}, rounds: {}",
                row.name(),
                median_f64(&ratios),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    });
}

fn generate_project(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir.join("versions")).expect("create versions/");
    std::fs::write(
        dir.join("aludel.toml"),
        // The component cache beside the project: the warm-up run fills it.
        "[database]\nurl = \"sqlite://unused.db\"\n[runtime]\ncache_dir = \"cache\"\n",
    )
    .expect("write aludel.toml");
    let mut parent: Option<String> = None;
    for i in 0..count {
        let id = format!("{i:012x}");
        let rev = dir.join("versions").join(format!("{id}_table_{i}"));
        std::fs::create_dir_all(&rev).expect("create a revision directory");
        let parents = parent
            .as_ref()
            .map(|p| format!("\"{p}\""))
            .unwrap_or_default();
        std::fs::write(
            rev.join("revision.toml"),
            format!(
                "id = \"{id}\"\nparents = [{parents}]\nmessage = \"table {i}\"\nplugin = \"sql\"\n"
            ),
        )
        .expect("write revision.toml");
        std::fs::write(
            rev.join("upgrade.sql"),
            format!(
                "CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
                 INSERT INTO t_{i} (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three');\n\
                 CREATE INDEX t_{i}_name ON t_{i} (name);\n"
            ),
        )
        .expect("write upgrade.sql");
        std::fs::write(rev.join("downgrade.sql"), format!("DROP TABLE t_{i};\n"))
            .expect("write downgrade.sql");
        parent = Some(id);
    }
}

/// The same `upgrade.sql` files as sqlx migrations: `<version>_<name>.sql`,
/// versions 1.. in the revisions' order.
fn generate_sqlx_migrations(project_dir: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the migrations directory");
    let mut revisions: Vec<PathBuf> = std::fs::read_dir(project_dir.join("versions"))
        .expect("read versions/")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    // The ids are zero-padded counters: their order is the chain's.
    revisions.sort();
    for (i, rev) in revisions.iter().enumerate() {
        std::fs::copy(
            rev.join("upgrade.sql"),
            dir.join(format!("{}_table_{i}.sql", i + 1)),
        )
        .expect("copy upgrade.sql");
    }
}

fn find_sqlx_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SQLX_CLI") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("sqlx"))
        .find(|candidate| candidate.is_file())
}

/// Everything a second `aludel upgrade head` does, but process start-up:
/// read the project, start the engine, connect, take the lock, plan, run
/// each revision, release the lock: the library's verb, as the CLI calls it.
async fn run_aludel(project_template: &Project, db: &Path) -> Duration {
    let started = Instant::now();
    let project = Project::open(&project_template.root.join("aludel.toml")).expect("project opens");
    let options = Options {
        url: Some(format!("sqlite://{}", db.display())),
        ..Options::default()
    };
    let applied = ops::upgrade(&project, &options, "head", false)
        .await
        .expect("upgrade succeeds");
    assert_eq!(applied.len(), project.revisions.len());
    started.elapsed()
}

/// The baseline of the target: the same files through SQLite's C API on
/// this thread, one transaction each.
fn run_direct_c(project: &Project, db: &Path) -> Duration {
    let started = Instant::now();
    let path = CString::new(db.to_string_lossy().as_bytes()).expect("a path without NUL");
    let mut handle = std::ptr::null_mut();
    // SAFETY: a valid C string and an out pointer; the handle is closed below.
    let rc = unsafe {
        ffi::sqlite3_open_v2(
            path.as_ptr(),
            &mut handle,
            ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, ffi::SQLITE_OK, "sqlite3_open_v2 {}", db.display());
    exec(handle, "PRAGMA foreign_keys = ON");
    for rev in &project.revisions {
        let sql = std::fs::read_to_string(rev.dir.join("upgrade.sql")).expect("read upgrade.sql");
        exec(handle, "BEGIN");
        exec(handle, &sql);
        exec(handle, "COMMIT");
    }
    // SAFETY: the handle is open and no statement of it is left unfinalised.
    unsafe { ffi::sqlite3_close(handle) };
    started.elapsed()
}

fn exec(handle: *mut ffi::sqlite3, sql: &str) {
    let sql = CString::new(sql).expect("SQL without NUL");
    let mut error = std::ptr::null_mut();
    // SAFETY: an open handle and a C string; no callback.
    let rc =
        unsafe { ffi::sqlite3_exec(handle, sql.as_ptr(), None, std::ptr::null_mut(), &mut error) };
    if rc != ffi::SQLITE_OK {
        // SAFETY: SQLite set a message it allocated, freed after reading.
        let message = unsafe { CStr::from_ptr(error).to_string_lossy().into_owned() };
        unsafe { ffi::sqlite3_free(error.cast()) };
        panic!("the SQL fails: {message}");
    }
}

/// The same files, one sqlx connection, one transaction each.
async fn run_direct_sqlx(project: &Project, db: &Path) -> Duration {
    let started = Instant::now();
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("a valid URL")
        .create_if_missing(true)
        .connect()
        .await
        .expect("connects");
    for rev in &project.revisions {
        let sql = std::fs::read_to_string(rev.dir.join("upgrade.sql")).expect("read upgrade.sql");
        let mut tx = conn.begin().await.expect("begin");
        tx.execute(sqlx::raw_sql(AssertSqlSafe(sql)))
            .await
            .expect("the SQL runs");
        tx.commit().await.expect("commit");
    }
    started.elapsed()
}

/// `sqlx migrate run` as an operator runs it; the database file is made
/// first (sqlx-cli does not create one).
fn run_sqlx_cli(cli: &Path, migrations: &Path, db: &Path, count: usize) -> Duration {
    std::fs::File::create(db).expect("create the database file");
    let started = Instant::now();
    let out = std::process::Command::new(cli)
        .args(["migrate", "run", "--source"])
        .arg(migrations)
        .arg("--database-url")
        .arg(format!("sqlite:{}", db.display()))
        .output()
        .expect("sqlx-cli starts");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "sqlx migrate run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Applied"))
        .count();
    assert_eq!(applied, count, "sqlx-cli applied every migration");
    took
}

/// CPU time of this process's threads, the ended ones included, and of
/// its waited-for children (sqlx-cli), from /proc/self/stat: on a shared
/// machine the wall clock also counts other programs' work, this does not.
/// Clock ticks of 10 ms: coarse, but a row takes hundreds of them.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which may hold spaces, in brackets.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn median_f64(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
