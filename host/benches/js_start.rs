//! Benchmark: cold and warm start of a JavaScript revision (the shared
//! QuickJS plugin, plugins/js), the per-call cost of `db.execute` from
//! JavaScript, and the same cursor + execute-many data transform in
//! JavaScript and in the Rust fixture. Prints figures and ratios; the target
//! is a warm start under 10 ms.
//!
//! Needs `plugins/js/build.sh` (target/plugins/js.wasm) and, for the Rust
//! comparison, the test fixtures (target/guests-fixtures, built by
//! `cargo test`). Run with `cargo bench --bench js_start`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aludel::db::{Connection, Value};
use aludel::graph::Direction;
use aludel::runtime::{Job, Prepared, Runtime, RuntimeOptions};

const WARM_RUNS: usize = 50;
const CALLS: usize = 10_000;
const ROWS: usize = 10_000;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn revision(dir: &Path, name: &str, source: &str) -> PathBuf {
    let rev = dir.join(name);
    std::fs::create_dir_all(&rev).expect("create a revision directory");
    std::fs::write(rev.join("migration.js"), source).expect("write migration.js");
    rev
}

async fn run(
    runtime: &Runtime,
    prepared: &Prepared,
    dir: &Path,
    conn: Box<dyn Connection>,
) -> (Box<dyn Connection>, Duration) {
    let job = Job {
        revision: "bench0000001",
        dir,
        direction: Direction::Upgrade,
        args: "{}",
        offline: false,
        own_tables: &[],
        failed_state: None,
        untrusted: false,
        progress: Default::default(),
        batching: None,
    };
    // Inside a transaction, as the migrator runs a revision.
    let mut conn = conn;
    conn.begin().await.expect("begin");
    let started = Instant::now();
    let (mut conn, _, result) = runtime.run(prepared, &job, conn).await;
    let took = started.elapsed();
    conn.commit().await.expect("commit");
    if let Err(e) = result {
        panic!("the revision in {} failed: {e}", dir.display());
    }
    (conn, took)
}

fn main() {
    let plugin_path = target_dir().join("plugins/js.wasm");
    let plugin = std::fs::read(&plugin_path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): run plugins/js/build.sh first",
            plugin_path.display()
        )
    });
    let rust_transform = target_dir().join("guests-fixtures/wasm32-wasip2/release/transform.wasm");
    let work = tempfile::tempdir().expect("a temporary directory");
    let cache = work.path().join("cache");
    let noop = revision(
        work.path(),
        "noop",
        "export function upgrade() {}\nexport function downgrade() {}\n",
    );
    let calls = revision(
        work.path(),
        "calls",
        &format!(
            "import {{ db }} from \"aludel\";\nexport function upgrade() {{\n  for (let i = 0; i < {CALLS}; i++) db.execute(\"SELECT ?\", [i]);\n}}\nexport function downgrade() {{}}\n"
        ),
    );
    let transform = revision(
        work.path(),
        "transform",
        include_str!("../../tests/fixtures/js/transform.js"),
    );
    let rust_dir = work.path().join("rust");
    std::fs::create_dir_all(&rust_dir).expect("create a revision directory");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let url = format!("sqlite://{}", work.path().join("bench.db").display());
        let mut conn = aludel::db::connect(&url).await.expect("connects");
        let options = RuntimeOptions {
            cache_dir: Some(cache.clone()),
            ..RuntimeOptions::default()
        };

        // Cold: a fresh process with an empty cache compiles the plugin.
        let started = Instant::now();
        let runtime = Runtime::new(options.clone()).expect("an engine");
        let prepared = runtime.prepare("bench", "plugin js", &plugin).expect("the plugin compiles");
        let compile = started.elapsed();
        let (c, first) = run(&runtime, &prepared, &noop, conn).await;
        conn = c;
        drop(runtime);

        // A second process: the compiled plugin comes from the disk cache.
        let started = Instant::now();
        let runtime = Runtime::new(options).expect("an engine");
        let prepared = runtime.prepare("bench", "plugin js", &plugin).expect("the plugin loads");
        let load = started.elapsed();
        let (c, second_first) = run(&runtime, &prepared, &noop, conn).await;
        conn = c;

        // Warm: the component is prepared; each run is a new store and
        // instance that reads, evaluates and calls migration.js.
        let mut warm = Vec::new();
        for _ in 0..WARM_RUNS {
            let (c, t) = run(&runtime, &prepared, &noop, conn).await;
            conn = c;
            warm.push(t);
        }
        let warm = median(&mut warm);

        // Per call: CALLS `db.execute("SELECT ?")` from JavaScript, less a
        // no-op run, against the same statements through the host's
        // connection with no guest at all.
        // Both inside one transaction, as a revision's statements run.
        let (c, js_calls) = run(&runtime, &prepared, &calls, conn).await;
        conn = c;
        conn.begin().await.expect("begin");
        let started = Instant::now();
        for i in 0..CALLS {
            conn.execute("SELECT ?", vec![Value::Integer(i as i64)])
                .await
                .expect("SELECT ? runs");
        }
        let native_calls = started.elapsed();
        conn.rollback().await.expect("rollback");
        let js_per_call = (js_calls.saturating_sub(warm)).as_secs_f64() * 1e6 / CALLS as f64;
        let native_per_call = native_calls.as_secs_f64() * 1e6 / CALLS as f64;

        println!("JavaScript plugin: {} ({} bytes)", plugin_path.display(), plugin.len());
        println!("cold start, compile:          {:>9.1} ms (empty cache)", ms(compile));
        println!("cold start, first run:        {:>9.2} ms", ms(first));
        println!("cached start, load:           {:>9.1} ms (compiled plugin from disk)", ms(load));
        println!("cached start, first run:      {:>9.2} ms", ms(second_first));
        println!(
            "warm start (median of {WARM_RUNS}):    {:>9.3} ms (target < 10 ms: {})",
            ms(warm),
            if warm < Duration::from_millis(10) { "met" } else { "MISSED" }
        );
        println!(
            "db.execute per call:          {js_per_call:>9.2} µs from JS, {native_per_call:.2} µs from the host alone: {:.2}x",
            js_per_call / native_per_call
        );

        // The data transform, JavaScript against the Rust fixture.
        let mut times = Vec::new();
        for (name, dir, component) in [
            ("JavaScript", transform.as_path(), plugin.clone()),
            ("Rust", rust_dir.as_path(), std::fs::read(&rust_transform).unwrap_or_default()),
        ] {
            if component.is_empty() {
                println!("transform, {name}: skipped ({} missing: run cargo test first)", rust_transform.display());
                continue;
            }
            let prepared = runtime.prepare("bench", name, &component).expect("prepares");
            conn.execute_script("DROP TABLE IF EXISTS people; CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT)")
                .await
                .expect("create people");
            let rows: Vec<Vec<Value>> = (0..ROWS)
                .map(|i| vec![Value::Integer(i as i64), Value::Text(format!("First{i} Last{i}"))])
                .collect();
            conn.execute_many("INSERT INTO people (id, full_name) VALUES (?, ?)", rows)
                .await
                .expect("fill people");
            let (c, t) = run(&runtime, &prepared, dir, conn).await;
            conn = c;
            println!("transform, {name:<10} {ROWS} rows: {:>9.1} ms ({:.2} µs a row)", ms(t), t.as_secs_f64() * 1e6 / ROWS as f64);
            times.push(t);
        }
        if let [js, rust] = times[..] {
            println!("transform ratio JavaScript / Rust: {:.2}x", js.as_secs_f64() / rust.as_secs_f64());
        }
    });
}
