//! Python revisions run by the shared `python` interpreter plugin: the same
//! data transform as the Rust `transform` fixture with identical results on
//! SQLite and PostgreSQL, the sandbox, and exceptions as clear errors.
//!
//! The plugin is built once per test run by `plugins/python/build.sh` (a
//! venv with componentize-py in the target directory) and found through
//! `ALUDEL_PLUGIN_DIR`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Backend, Run, TestProject, fixtures};

const ROWS: usize = 2_500;
const PEOPLE: &str = "people000001";
const SPLIT: &str = "split0000002";

/// The directory holding `python.wasm`, built once per test run.
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let status = Command::new("bash")
            .arg(root.join("plugins/python/build.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("bash runs plugins/python/build.sh");
        assert!(status.success(), "plugins/python/build.sh failed");
        let dir = target.join("plugins");
        assert!(dir.join("python.wasm").is_file());
        dir
    })
}

fn aludel(p: &TestProject, args: &[&str]) -> Run {
    p.command()
        .args(args)
        .env("ALUDEL_PLUGIN_DIR", plugin_dir())
        .env("ALUDEL_TEST_SECRET", "must not reach the guest")
        .output()
        .expect("aludel runs")
        .into()
}

fn ok(p: &TestProject, args: &[&str]) -> String {
    let run = aludel(p, args);
    assert!(run.success, "aludel {args:?} failed:\n{}", run.stderr);
    run.stderr
}

/// A revision run by the python plugin, with `migration.py` from tests/fixtures/python.
fn python_revision(p: &TestProject, id: &str, parent: Option<&str>, fixture: &str) -> PathBuf {
    let dir = p.root().join("versions").join(format!("{id}_python"));
    fs::create_dir_all(&dir).unwrap();
    let parents = parent.map(|p| format!("\"{p}\"")).unwrap_or_default();
    fs::write(
        dir.join("revision.toml"),
        format!(
            "id = \"{id}\"\nparents = [{parents}]\nmessage = \"python {id}\"\nplugin = \"python\"\n"
        ),
    )
    .unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/python")
        .join(fixture);
    fs::copy(source, dir.join("migration.py")).unwrap();
    dir
}

fn full_name(i: usize) -> Option<String> {
    match i % 5 {
        0 => Some(format!("First{i} Last{i}")),
        1 => Some(format!("Mononym{i}")),
        2 => Some(format!("  Spaced{i}   Out {i}  ")),
        3 => None,
        _ => Some(format!("Jean-Luc{i} Picard{i}")),
    }
}

fn people(p: &TestProject) {
    let values: Vec<String> = (0..ROWS)
        .map(|i| match full_name(i) {
            Some(n) => format!("({i}, '{n}')"),
            None => format!("({i}, NULL)"),
        })
        .collect();
    let create = format!(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT);\n\
         INSERT INTO people (id, full_name) VALUES\n{};\n",
        values.join(",\n")
    );
    p.sql_revision(PEOPLE, None, &create, "DROP TABLE people;");
}

/// The same history in two projects, one splitting names in Rust and one in
/// Python: after upgrade and after downgrade, every row of every table must
/// be identical, and the split must be the expected one.
fn same_data_as_the_rust_transform(backend: Backend) {
    let rust = TestProject::on(backend);
    people(&rust);
    rust.component_revision(SPLIT, Some(PEOPLE), &fixtures().transform, "");
    let python = TestProject::on(backend);
    people(&python);
    python_revision(&python, SPLIT, Some(PEOPLE), "transform.py");

    ok(&rust, &["upgrade", "head"]);
    let log = ok(&python, &["upgrade", "head"]);
    assert!(log.contains("transform: rewrote 2500 rows"), "{log}");
    assert_eq!(python.versions(), vec![SPLIT]);
    let rows = python.query("SELECT id, first_name, last_name FROM people ORDER BY id");
    assert_eq!(rows.len(), ROWS);
    let expected = rust.query("SELECT id, first_name, last_name FROM people ORDER BY id");
    for (i, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row, want, "row {i}");
    }
    assert_eq!(rows[0], ["0", "First0", "Last0"]);
    assert_eq!(rows[1], ["1", "Mononym1", "NULL"]);
    assert_eq!(rows[2], ["2", "Spaced2", "Out 2"]);
    assert_eq!(rows[3], ["3", "NULL", "NULL"]);
    assert_eq!(python.dump(), rust.dump());

    ok(&rust, &["downgrade", "-1"]);
    ok(&python, &["downgrade", "-1"]);
    assert_eq!(python.versions(), vec![PEOPLE]);
    assert_eq!(
        python.query("SELECT id, full_name FROM people ORDER BY id"),
        rust.query("SELECT id, full_name FROM people ORDER BY id")
    );
    assert_eq!(python.dump(), rust.dump());
}

#[test]
fn a_python_revision_transforms_data_exactly_as_the_rust_one_on_sqlite() {
    same_data_as_the_rust_transform(Backend::Sqlite);
}

#[test]
fn a_python_revision_transforms_data_exactly_as_the_rust_one_on_postgresql() {
    same_data_as_the_rust_transform(Backend::Postgres);
}

#[test]
fn a_python_revision_is_sandboxed() {
    let p = TestProject::new();
    let dir = python_revision(&p, "probe0000001", None, "sandbox.py");
    fs::write(
        dir.parent().unwrap().join("secret.txt"),
        "outside the revision",
    )
    .unwrap();
    std::os::unix::fs::symlink(p.root().join("aludel.toml"), dir.join("link-out")).unwrap();
    let log = ok(&p, &["upgrade", "head"]);
    for refusal in [
        "reading ../secret.txt denied",
        "reading /../secret.txt denied",
        "reading /etc/passwd denied",
        "reading the symlink link-out denied",
        "creating written.txt denied",
        "opening migration.py for append denied",
        "reading $HOME denied",
        "connecting to 127.0.0.1:5432 denied",
        "read own revision.toml",
    ] {
        assert!(
            log.contains(refusal),
            "expected {refusal:?} in the log:\n{log}"
        );
    }
    assert!(!log.contains("must not reach the guest"), "{log}");
    assert!(!dir.join("written.txt").exists());
    assert_eq!(p.versions(), vec!["probe0000001"]);
}

#[test]
fn a_python_exception_is_an_error_naming_the_revision_and_changes_nothing() {
    let p = TestProject::new();
    p.sql_revision(
        "base00000001",
        None,
        "CREATE TABLE people (id INTEGER, full_name TEXT);\n\
         INSERT INTO people VALUES (1, 'a'), (2, 'b');",
        "DROP TABLE people;",
    );
    python_revision(&p, "raise0000002", Some("base00000001"), "raises.py");
    ok(&p, &["upgrade", "base00000001"]);
    let before = p.dump();
    let run = aludel(&p, &["upgrade", "head"]);
    assert!(!run.success, "{}", run.stderr);
    let err = run.stderr;
    assert!(err.contains("raise0000002"), "{err}");
    assert!(
        err.contains("ValueError: python says no to 2 rows"),
        "{err}"
    );
    assert!(err.contains("migration.py\", line 6, in check"), "{err}");
    assert_eq!(p.dump(), before);
    assert_eq!(p.versions(), vec!["base00000001"]);
    assert!(!p.has_table("python_partial"));
}

/// `db.batches` of the Python SDK in a batched revision: a failed batch
/// keeps the ones before it, and the fixed revision resumes after them, so
/// every row's counter ends at exactly 1; its downgrade is batched too.
#[test]
fn a_python_backfill_resumes_after_a_failed_batch_and_does_every_row_once() {
    const BASE: &str = "pybf00000001";
    const FILL: &str = "pybf00000002";
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
    let dir = python_revision(&p, FILL, Some(BASE), "backfill.py");
    let manifest = |args: &str| {
        format!(
            "transaction = \"batched\"\nid = \"{FILL}\"\nparents = [\"{BASE}\"]\n\
             message = \"python backfill\"\nplugin = \"python\"\n\n[args]\n{args}\n\n\
             [batch]\nsize = 10\n"
        )
    };
    fs::write(dir.join("revision.toml"), manifest("fail_at = \"55\"")).unwrap();
    let counters = || -> Vec<i64> {
        p.query("SELECT counter FROM backfill_items ORDER BY id")
            .into_iter()
            .map(|r| r[0].parse().unwrap())
            .collect()
    };

    let failed = aludel(&p, &["upgrade", "head"]);
    assert!(!failed.success);
    assert!(
        failed
            .stderr
            .contains("deliberate failure in the batch holding id 55"),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("had committed 5 batch(es) (50 rows)"),
        "{}",
        failed.stderr
    );
    let mut expected = vec![1; 50];
    expected.extend(vec![0; N - 50]);
    assert_eq!(counters(), expected);

    fs::write(dir.join("revision.toml"), manifest("")).unwrap();
    ok(&p, &["upgrade", "head"]);
    assert_eq!(counters(), vec![1; N]);
    assert_eq!(p.versions(), vec![FILL]);
    assert!(p.query("SELECT * FROM aludel_version_batches").is_empty());

    ok(&p, &["downgrade", BASE]);
    assert_eq!(counters(), vec![0; N]);
}
