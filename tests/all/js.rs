//! JavaScript revisions: `plugin = "js"` runs the revision's own
//! `migration.js` in the shared QuickJS plugin (plugins/js), in the same
//! sandbox as every other revision.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Backend, TestProject, fixtures};
use crate::transform::{ROWS, expected_split, full_name};

/// Builds `target/plugins/js.wasm` with plugins/js/build.sh, once per test
/// run (the script itself skips an up-to-date build).
pub fn js_plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("host/ sits in the workspace")
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let status = Command::new("bash")
            .arg(root.join("plugins/js/build.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("bash runs plugins/js/build.sh");
        assert!(status.success(), "plugins/js/build.sh failed");
        target.join("plugins/js.wasm")
    })
}

/// A `plugin = "js"` revision whose `migration.js` is `source`. Until the
/// host searches a plugin directory of its own, the plugin is copied into
/// the project's `plugins/`.
fn js_revision(p: &TestProject, id: &str, parent: Option<&str>, source: &str) -> PathBuf {
    let plugins = p.root().join("plugins");
    std::fs::create_dir_all(&plugins).expect("create plugins/");
    if !plugins.join("js.wasm").exists() {
        std::fs::copy(js_plugin(), plugins.join("js.wasm")).expect("copy js.wasm");
    }
    let dir = p.root().join("versions").join(format!("{id}_js"));
    std::fs::create_dir_all(&dir).expect("create the revision directory");
    let parents = parent.map(|p| format!("\"{p}\"")).unwrap_or_default();
    std::fs::write(
        dir.join("revision.toml"),
        format!("id = \"{id}\"\nparents = [{parents}]\nmessage = \"js {id}\"\nplugin = \"js\"\n"),
    )
    .expect("write revision.toml");
    std::fs::write(dir.join("migration.js"), source).expect("write migration.js");
    dir
}

const TRANSFORM_JS: &str = include_str!("../fixtures/js/transform.js");

fn people(p: &TestProject) {
    let mut insert = String::from(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT);\nINSERT INTO people (id, full_name) VALUES\n",
    );
    let values: Vec<String> = (0..ROWS)
        .map(|i| match full_name(i) {
            Some(n) => format!("({i}, '{n}')"),
            None => format!("({i}, NULL)"),
        })
        .collect();
    insert.push_str(&values.join(",\n"));
    insert.push_str(";\n");
    p.sql_revision("people000001", None, &insert, "DROP TABLE people;");
}

fn columns(p: &TestProject) -> Vec<Vec<String>> {
    match p.backend() {
        Backend::Sqlite => p.query("SELECT name FROM pragma_table_info('people') ORDER BY cid"),
        _ => p.query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'people' ORDER BY ordinal_position",
        ),
    }
}

/// The same split as the Rust fixture, in JavaScript, on `backend`; checked
/// against the expected split and row by row against the Rust fixture run on
/// a twin project.
fn transform_matches_rust(backend: Backend) {
    let js = TestProject::on(backend);
    people(&js);
    js_revision(&js, "split0000002", Some("people000001"), TRANSFORM_JS);
    let rust = TestProject::on(backend);
    people(&rust);
    rust.component_revision(
        "split0000002",
        Some("people000001"),
        &fixtures().transform,
        "",
    );

    js.ok(&["upgrade", "head"]);
    rust.ok(&["upgrade", "head"]);
    let select = "SELECT id, full_name, first_name, last_name FROM people ORDER BY id";
    let rows = js.query(select);
    assert_eq!(rows.len(), ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (first, last) = expected_split(&full_name(i));
        assert_eq!(row[0], i.to_string(), "row {i}");
        assert_eq!((&row[2], &row[3]), (&first, &last), "row {i}");
    }
    assert_eq!(rows, rust.query(select), "JS and Rust upgrades differ");
    assert_eq!(js.versions(), vec!["split0000002"]);

    js.ok(&["downgrade", "-1"]);
    rust.ok(&["downgrade", "-1"]);
    assert_eq!(columns(&js), vec![vec!["id"], vec!["full_name"]]);
    let select = "SELECT id, full_name FROM people ORDER BY id";
    let rows = js.query(select);
    assert_eq!(rows.len(), ROWS);
    assert_eq!(rows, rust.query(select), "JS and Rust downgrades differ");
    assert_eq!(js.versions(), vec!["people000001"]);
}

#[test]
fn a_js_revision_splits_names_like_the_rust_fixture_on_sqlite() {
    transform_matches_rust(Backend::Sqlite);
}

#[test]
fn a_js_revision_splits_names_like_the_rust_fixture_on_postgres() {
    transform_matches_rust(Backend::Postgres);
}

/// Each attempt is recorded as `refused: ...` or `ALLOWED: ...` in a table,
/// so that one run reports every door of the sandbox.
const SANDBOX_JS: &str = r#"
import { db, fs, _wasi } from "aludel";

function attempt(what, f) {
  let outcome;
  try {
    outcome = "ALLOWED: " + JSON.stringify(f());
  } catch (e) {
    outcome = "refused: " + (e && e.message ? e.message : String(e));
  }
  db.execute("INSERT INTO outcomes (what, outcome) VALUES (?, ?)", [what, outcome]);
}

export function upgrade(ctx) {
  db.execute("CREATE TABLE outcomes (what TEXT PRIMARY KEY, outcome TEXT NOT NULL)");
  db.execute("INSERT INTO outcomes (what, outcome) VALUES (?, ?)", ["own file", fs.readText("data.txt")]);
  attempt("parent file", () => fs.readText("../secret.txt"));
  attempt("project file", () => fs.readText("../../aludel.toml"));
  attempt("absolute path", () => fs.readText("/etc/passwd"));
  attempt("write", () => {
    const dir = _wasi.preopens.getDirectories()[0][0];
    dir.openAt({}, "written.txt", { create: true }, { write: true });
    return "opened for writing";
  });
  attempt("environment", () => {
    const env = _wasi.environment.getEnvironment();
    if (env.length === 0) throw new Error("empty");
    return env;
  });
  attempt("network", () => {
    const found = ["fetch", "XMLHttpRequest", "WebSocket", "process", "require", "Deno", "std", "os"]
      .filter((name) => typeof globalThis[name] !== "undefined");
    if (found.length === 0) throw new Error("no network API in the engine");
    return found;
  });
}

export function downgrade(ctx) {
  db.execute("DROP TABLE outcomes");
}
"#;

#[test]
fn a_js_revision_cannot_leave_its_sandbox() {
    let p = TestProject::new();
    let dir = js_revision(&p, "sandbox00001", None, SANDBOX_JS);
    std::fs::write(dir.join("data.txt"), "mine").expect("write data.txt");
    std::fs::write(p.root().join("versions/secret.txt"), "secret").expect("write secret");
    let run: crate::support::Run = p
        .command()
        .args(["upgrade", "head"])
        .env("ALUDEL_JS_SECRET", "do-not-leak")
        .output()
        .expect("aludel runs")
        .into();
    assert!(run.success, "upgrade failed:\n{}", run.stderr);
    let outcomes = p.query("SELECT what, outcome FROM outcomes ORDER BY what");
    assert_eq!(outcomes.len(), 7, "{outcomes:?}");
    for row in &outcomes {
        match row[0].as_str() {
            "own file" => assert_eq!(row[1], "mine"),
            _ => assert!(
                row[1].starts_with("refused: "),
                "{} got through: {}",
                row[0],
                row[1]
            ),
        }
    }
    assert!(!dir.join("written.txt").exists());
    assert!(!run.stderr.contains("do-not-leak"));
}

#[test]
fn a_js_exception_is_an_error_naming_the_revision_and_the_database_is_unchanged() {
    let p = TestProject::new();
    js_revision(
        &p,
        "table0000001",
        None,
        "export function upgrade() { aludel.db.execute(\"CREATE TABLE t (x INTEGER)\"); }\n\
         export function downgrade() { aludel.db.execute(\"DROP TABLE t\"); }\n",
    );
    p.ok(&["upgrade", "head"]);
    let before = p.dump();

    js_revision(
        &p,
        "throws000002",
        Some("table0000001"),
        "import { db } from \"aludel\";\n\
         export function upgrade(ctx) {\n\
           db.execute(\"INSERT INTO t (x) VALUES (?)\", [1]);\n\
           db.execute(\"CREATE TABLE u (y INTEGER)\");\n\
           throw new Error(`boom from ${ctx.revision}`);\n\
         }\n\
         export function downgrade() {}\n",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("throws000002"), "{stderr}");
    assert!(stderr.contains("boom from throws000002"), "{stderr}");
    assert_eq!(p.dump(), before);
    assert_eq!(p.versions(), vec!["table0000001"]);

    // A failed statement is a DbError whose message reaches the operator,
    // and the revision rolls back even though it catches the error.
    js_revision(
        &p,
        "throws000002",
        Some("table0000001"),
        "import { db, DbError } from \"aludel\";\n\
         export function upgrade() {\n\
           db.execute(\"INSERT INTO t (x) VALUES (?)\", [2]);\n\
           try { db.execute(\"INSERT INTO missing_table VALUES (1)\"); }\n\
           catch (e) { if (!(e instanceof DbError)) throw new Error('not a DbError: ' + e); throw e; }\n\
         }\n\
         export function downgrade() {}\n",
    );
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("throws000002"), "{stderr}");
    assert!(stderr.contains("DbError"), "{stderr}");
    assert!(stderr.contains("missing_table"), "{stderr}");
    assert_eq!(p.dump(), before);
}

/// `db.batches` of the JavaScript SDK in a batched revision: a failed batch
/// keeps the ones before it, and the fixed revision resumes after them, so
/// every row's counter ends at exactly 1; its downgrade is batched too.
#[test]
fn a_js_backfill_resumes_after_a_failed_batch_and_does_every_row_once() {
    const BASE: &str = "jsbf00000001";
    const FILL: &str = "jsbf00000002";
    const N: usize = 100;
    let p = TestProject::new();
    let values: Vec<String> = (1..=N).map(|i| format!("({i}, 0, 'name{i}')")).collect();
    p.sql_revision(
        BASE,
        None,
        &format!(
            "CREATE TABLE backfill_items (id INTEGER PRIMARY KEY, counter INTEGER NOT NULL, \
             name TEXT NOT NULL);\nINSERT INTO backfill_items VALUES {};\n",
            values.join(", ")
        ),
        "DROP TABLE backfill_items;\n",
    );
    let dir = js_revision(
        &p,
        FILL,
        Some(BASE),
        include_str!("../fixtures/js/backfill.js"),
    );
    let manifest = |args: &str| {
        format!(
            "transaction = \"batched\"\nid = \"{FILL}\"\nparents = [\"{BASE}\"]\n\
             message = \"js backfill\"\nplugin = \"js\"\n\n[args]\n{args}\n\n\
             [batch]\nsize = 10\n"
        )
    };
    std::fs::write(dir.join("revision.toml"), manifest("fail_at = \"55\"")).unwrap();
    let counters = || -> Vec<i64> {
        p.query("SELECT counter FROM backfill_items ORDER BY id")
            .into_iter()
            .map(|r| r[0].parse().unwrap())
            .collect()
    };

    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("deliberate failure in the batch holding id 55"),
        "{stderr}"
    );
    assert!(
        stderr.contains("had committed 5 batch(es) (50 rows)"),
        "{stderr}"
    );
    let mut expected = vec![1; 50];
    expected.extend(vec![0; N - 50]);
    assert_eq!(counters(), expected);

    std::fs::write(dir.join("revision.toml"), manifest("")).unwrap();
    p.ok(&["upgrade", "head"]);
    assert_eq!(counters(), vec![1; N]);
    assert_eq!(p.versions(), vec![FILL]);
    assert!(p.query("SELECT * FROM aludel_version_batches").is_empty());

    p.ok(&["downgrade", BASE]);
    assert_eq!(counters(), vec![0; N]);
}
