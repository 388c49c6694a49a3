//! Benchmark: apply 1,000 generated SQL revisions to an empty SQLite
//! database with aludel (warm component cache), and the same SQL through one
//! sqlx connection with one transaction per revision and no aludel. Prints
//! both times and their ratio; the target is a ratio of at most 1.5.
//!
//! Run with `cargo bench --bench apply_sql_revisions` (add `-- 300` for
//! another revision count, `-- --db-dir /dev/shm` to put the databases on a
//! memory file system: no fsync, so only aludel's own work is compared).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use aludel::ops::{self, Options};
use aludel::project::Project;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

/// Rounds of one aludel run and one raw run each, in alternating order:
/// fsync latency on a shared machine drifts by 2x within a minute, so each
/// round's ratio compares runs made seconds apart, and the median of those
/// ratios is the figure.
const ROUNDS: usize = 7;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let work = tempfile::tempdir().expect("a temporary directory");
    let db_dir = match args.iter().position(|a| a == "--db-dir") {
        Some(i) => tempfile::tempdir_in(args.get(i + 1).expect("--db-dir takes a directory"))
            .expect("a temporary directory for the databases"),
        None => tempfile::tempdir_in(work.path()).expect("a temporary directory"),
    };
    let project_dir = work.path().join("project");
    generate_project(&project_dir, count);
    let project =
        Project::open(&project_dir.join("aludel.toml")).expect("the generated project opens");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // Warm the disk cache once, as a deployment's second run would find it.
        let warm_db = db_dir.path().join("warm.db");
        run_aludel(&project, &warm_db).await;

        let mut aludel_times = Vec::new();
        let mut raw_times = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..ROUNDS {
            let aludel_db = db_dir.path().join(format!("aludel-{round}.db"));
            let raw_db = db_dir.path().join(format!("raw-{round}.db"));
            let (aludel, raw) = if round % 2 == 0 {
                let a = run_aludel(&project, &aludel_db).await;
                (a, run_raw(&project, &raw_db).await)
            } else {
                let r = run_raw(&project, &raw_db).await;
                (run_aludel(&project, &aludel_db).await, r)
            };
            aludel_times.push(aludel);
            raw_times.push(raw);
            ratios.push(aludel.as_secs_f64() / raw.as_secs_f64());
        }
        let aludel = median(&mut aludel_times);
        let raw = median(&mut raw_times);
        ratios.sort_by(f64::total_cmp);
        println!(
            "revisions:            {count}, databases in {}",
            db_dir.path().display()
        );
        println!("raw sqlx (median of {ROUNDS}): {:>8.1} ms", ms(raw));
        println!("aludel   (median of {ROUNDS}): {:>8.1} ms", ms(aludel));
        println!(
            "per revision:         raw {:.3} ms, aludel {:.3} ms",
            ms(raw) / count as f64,
            ms(aludel) / count as f64
        );
        println!(
            "ratio per round:      {}",
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!(
            "ratio aludel / raw:   {:.2}x, median of the rounds (target ≤ 1.5x)",
            ratios[ratios.len() / 2]
        );
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

/// The baseline: the same files, one connection, one transaction each.
async fn run_raw(project: &Project, db: &Path) -> Duration {
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

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
