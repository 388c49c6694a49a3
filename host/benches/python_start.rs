//! Benchmark: the `python` interpreter plugin. Prints
//!
//! - cold start: compiling `python.wasm` with an empty component cache;
//! - cached start: a new engine loading it from the disk cache (hash included);
//! - warm start: one run of a no-op Python revision with the component
//!   prepared (instantiate, read and exec `migration.py`, call `upgrade`),
//!   target under 10 ms;
//! - per-call cost of `db.execute("SELECT 1")` from Python, against the same
//!   statement sent by the host directly;
//! - the `transform` data migration (split 10,000 names through a cursor and
//!   `execute_many`) in Python against the Rust fixture, and their ratio.
//!
//! Needs `plugins/python/build.sh` (run here when python.wasm is missing) and
//! the Rust fixtures built (`cargo test` builds them into
//! target/guests-fixtures). Run with `cargo bench --bench python_start`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aludel::db::Connection;
use aludel::graph::Direction;
use aludel::runtime::{Job, Prepared, Runtime, RuntimeOptions};

const CALLS: usize = 10_000;
const ROWS: usize = 10_000;
const ROUNDS: usize = 5;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let plugin = root().join("target/plugins/python.wasm");
    let status = std::process::Command::new("bash")
        .arg(root().join("plugins/python/build.sh"))
        .status()
        .expect("bash runs build.sh");
    assert!(status.success(), "plugins/python/build.sh failed");
    let bytes = std::fs::read(&plugin).expect("python.wasm");
    let work = tempfile::tempdir().expect("a temporary directory");
    let options = RuntimeOptions {
        cache_dir: Some(work.path().join("cache")),
        ..RuntimeOptions::default()
    };

    // Cold: an empty cache, so wasmtime compiles the component.
    let runtime = Runtime::new(options.clone()).expect("runtime");
    let t = Instant::now();
    let python = runtime
        .prepare("bench", "plugin python", &bytes)
        .expect("compiles");
    let cold = t.elapsed();
    // Cached: a second process would start here.
    let cached = {
        let runtime = Runtime::new(options.clone()).expect("runtime");
        let t = Instant::now();
        runtime
            .prepare("bench", "plugin python", &bytes)
            .expect("loads");
        t.elapsed()
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let db = work.path().join("bench.db");
        let mut conn = Some(
            aludel::db::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("connects"),
        );

        let noop = revision(work.path(), "noop", "def upgrade(ctx):\n    pass\n");
        run(&runtime, &python, &noop, &mut conn).await; // first instance
        let mut times = Vec::new();
        for _ in 0..20 {
            times.push(run(&runtime, &python, &noop, &mut conn).await);
        }
        let warm = median(times);

        let loop_src = format!(
            "from aludel import db\n\ndef upgrade(ctx):\n    for _ in range({CALLS}):\n        db.execute(\"SELECT 1\")\n"
        );
        let looping = revision(work.path(), "loop", &loop_src);
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            times.push(run(&runtime, &python, &looping, &mut conn).await);
        }
        let with_calls = median(times);
        let py_call = with_calls.saturating_sub(warm) / CALLS as u32;
        let c = conn.as_mut().expect("connection");
        c.begin().await.expect("begin");
        let t = Instant::now();
        for _ in 0..CALLS {
            c.execute("SELECT 1", Vec::new()).await.expect("SELECT 1");
        }
        let host_call = t.elapsed() / CALLS as u32;
        c.commit().await.expect("commit");

        // The transform, Rust fixture against Python, on ROWS rows.
        let fixture = root().join("target/guests-fixtures/wasm32-wasip2/release/transform.wasm");
        let transform = if fixture.is_file() {
            let rust_bytes = std::fs::read(&fixture).expect("transform.wasm");
            let rust = runtime.prepare("bench", "transform", &rust_bytes).expect("rust");
            let py_dir = revision(
                work.path(),
                "transform",
                &std::fs::read_to_string(root().join("tests/fixtures/python/transform.py"))
                    .expect("transform.py"),
            );
            let empty = work.path().join("empty");
            std::fs::create_dir_all(&empty).expect("mkdir");
            let rust_t = transform_round(&runtime, &rust, &empty, &mut conn).await;
            let py_t = transform_round(&runtime, &python, &py_dir, &mut conn).await;
            Some((rust_t, py_t))
        } else {
            None
        };

        println!("python.wasm:              {:.1} MB", bytes.len() as f64 / 1e6);
        println!("cold start (compile):     {:>9.1} ms", ms(cold));
        println!("cached start (new engine):{:>9.1} ms", ms(cached));
        println!("warm start (median of 20):{:>9.3} ms (target < 10 ms)", ms(warm));
        println!(
            "db.execute from Python:   {:>9.1} µs per call; host alone {:.1} µs; overhead {:.1} µs ({:.2}x)",
            us(py_call),
            us(host_call),
            us(py_call) - us(host_call),
            py_call.as_secs_f64() / host_call.as_secs_f64()
        );
        match transform {
            Some((rust_t, py_t)) => println!(
                "transform {ROWS} rows:     Rust {:.1} ms, Python {:.1} ms, ratio {:.2}x",
                ms(rust_t),
                ms(py_t),
                py_t.as_secs_f64() / rust_t.as_secs_f64()
            ),
            None => println!(
                "transform: {} missing (run `cargo test` once to build the fixtures)",
                fixture.display()
            ),
        }
    });
}

/// A revision directory holding `migration.py`.
fn revision(work: &Path, name: &str, source: &str) -> PathBuf {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("migration.py"), source).expect("write migration.py");
    dir
}

async fn run(
    runtime: &Runtime,
    prepared: &Prepared,
    dir: &Path,
    conn: &mut Option<Box<dyn Connection>>,
) -> Duration {
    run_dir(runtime, prepared, dir, conn, Direction::Upgrade).await
}

async fn run_dir(
    runtime: &Runtime,
    prepared: &Prepared,
    dir: &Path,
    conn: &mut Option<Box<dyn Connection>>,
    direction: Direction,
) -> Duration {
    let job = Job {
        revision: "bench",
        dir,
        direction,
        args: "{}",
        offline: false,
        own_tables: &[],
        failed_state: None,
        untrusted: false,
        progress: Default::default(),
        batching: None,
    };
    // Inside a transaction, as the migrator runs a revision.
    let mut owned = conn.take().expect("connection");
    owned.begin().await.expect("begin");
    let t = Instant::now();
    let (mut back, _, result) = runtime.run(prepared, &job, owned).await;
    let elapsed = t.elapsed();
    back.commit().await.expect("commit");
    *conn = Some(back);
    if let Err(e) = result {
        panic!("the revision failed: {e}");
    }
    elapsed
}

/// Fresh `people` rows, then the upgrade and the downgrade: the time of both.
async fn transform_round(
    runtime: &Runtime,
    prepared: &Prepared,
    dir: &Path,
    conn: &mut Option<Box<dyn Connection>>,
) -> Duration {
    let c = conn.as_mut().expect("connection");
    c.execute_script(
        "DROP TABLE IF EXISTS people; CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT)",
    )
    .await
    .expect("create people");
    let rows: Vec<Vec<aludel::db::Value>> = (0..ROWS)
        .map(|i| {
            vec![
                aludel::db::Value::Integer(i as i64),
                aludel::db::Value::Text(format!("First{i} Last{i}")),
            ]
        })
        .collect();
    c.execute_many("INSERT INTO people (id, full_name) VALUES (?, ?)", rows)
        .await
        .expect("fill people");
    let up = run_dir(runtime, prepared, dir, conn, Direction::Upgrade).await;
    let down = run_dir(runtime, prepared, dir, conn, Direction::Downgrade).await;
    up + down
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
