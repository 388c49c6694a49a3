//! A revision written in C (examples/c): built for real by
//! examples/c/build.sh with Debian's clang, lld and wasi-libc and the
//! preview-1 adapter, then run by the real binary on SQLite. It splits names
//! as the Rust, Python and JavaScript `transform` fixtures do, lower-cases
//! emails, and its downgrade puts every row back exactly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Run, TestProject};
use crate::transform::{ROWS, expected_split, full_name};

const PEOPLE: &str = "5b0e7d2c9a14";
const SPLIT: &str = "c7a3f19e0d52";
const SPLIT_DIR: &str = "c7a3f19e0d52_split_names_lower_emails";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c")
}

/// The C revision's component as examples/c/build.sh makes it now from
/// revision.c, built once per test run in a copy of the example (so the
/// committed revision.wasm is neither used nor touched).
fn fresh_component() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let copy = tempfile::tempdir().expect("a temporary directory");
        copy_dir(&example().join("versions"), &copy.path().join("versions"));
        let wasm = split_wasm(copy.path());
        fs::remove_file(&wasm).expect("the example commits revision.wasm");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let status = Command::new("bash")
            .arg(example().join("build.sh"))
            .arg(copy.path())
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("bash runs examples/c/build.sh");
        assert!(status.success(), "examples/c/build.sh failed");
        fs::read(&wasm).expect("build.sh wrote revision.wasm")
    })
}

/// The C revision's component in the project at `root`.
fn split_wasm(root: &Path) -> PathBuf {
    root.join("versions").join(SPLIT_DIR).join("revision.wasm")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory");
    for entry in fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("a directory entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).expect("copy a file");
        }
    }
}

/// A fresh project (its own SQLite file) holding the example's history,
/// with the freshly built C component unless `committed`.
fn example_project(committed: bool) -> TestProject {
    let p = TestProject::new();
    copy_dir(&example().join("versions"), &p.root().join("versions"));
    if !committed {
        fs::write(split_wasm(p.root()), fresh_component()).expect("write revision.wasm");
    }
    p
}

fn ok(p: &TestProject, args: &[&str]) -> Run {
    let run = p.aludel(args);
    assert!(run.success, "aludel {args:?} failed:\n{}", run.stderr);
    run
}

/// `id | full_name | first_name | last_name | email | email_original`
const PEOPLE_AFTER_UPGRADE: &str = "\
1 | Ada Lovelace | Ada | Lovelace | ada@example.org | ADA@Example.org
2 | Alan Mathison Turing | Alan | Mathison Turing | alan.turing@example.org | alan.turing@example.ORG
3 | Grace Hopper | Grace | Hopper | grace.hopper@navy.mil | Grace.Hopper@Navy.MIL
4 | Hypatia | Hypatia | NULL | hypatia@alexandria.example | hypatia@alexandria.example
5 | NULL | NULL | NULL | anonymous@example.org | Anonymous@Example.org
6 | Edsger W. Dijkstra | Edsger | W. Dijkstra | ewd@example.nl | EWD@example.NL
7 | Barbara Liskov | Barbara | Liskov | NULL | NULL
";

/// Upgrades the example project, checks every row, downgrades it and checks
/// the database is the one the first revision made.
fn upgrade_check_and_downgrade(p: &TestProject) {
    ok(p, &["upgrade", PEOPLE]);
    let before = p.dump();
    let columns = || p.query("SELECT name FROM pragma_table_info('people') ORDER BY cid");
    let columns_before = columns();

    let run = ok(p, &["upgrade", "head"]);
    assert!(
        run.stderr.contains("transform: rewrote 7 rows"),
        "{}",
        run.stderr
    );
    assert_eq!(p.versions(), vec![SPLIT]);
    let rows: String = p
        .query(
            "SELECT id, full_name, first_name, last_name, email, email_original \
             FROM people ORDER BY id",
        )
        .iter()
        .map(|row| row.join(" | ") + "\n")
        .collect();
    assert_eq!(rows, PEOPLE_AFTER_UPGRADE);

    ok(p, &["downgrade", "-1"]);
    assert_eq!(p.versions(), vec![PEOPLE]);
    assert_eq!(columns(), columns_before);
    assert_eq!(p.dump(), before, "the downgrade did not restore the rows");
}

#[test]
fn a_c_revision_built_with_clang_splits_names_lower_cases_emails_and_downgrades_exactly() {
    upgrade_check_and_downgrade(&example_project(false));
}

#[test]
fn the_committed_c_component_runs_without_a_compiler() {
    upgrade_check_and_downgrade(&example_project(true));
}

#[test]
fn a_c_revision_splits_names_exactly_as_the_rust_transform_in_batches_of_500() {
    let p = example_project(false);
    ok(&p, &["upgrade", PEOPLE]);
    p.query("DELETE FROM people");
    let values: Vec<String> = (0..ROWS)
        .map(|i| {
            let name = full_name(i).map_or("NULL".to_string(), |n| format!("'{n}'"));
            format!("({i}, {name}, 'P{i}@Example.ORG')")
        })
        .collect();
    p.query(&format!(
        "INSERT INTO people (id, full_name, email) VALUES {}",
        values.join(", ")
    ));

    let log = ok(&p, &["upgrade", "head"]).stderr;
    let rewrote = format!("transform: rewrote {ROWS} rows");
    assert!(log.contains(&rewrote), "{log}");
    let rows = p.query("SELECT id, first_name, last_name, email FROM people ORDER BY id");
    assert_eq!(rows.len(), ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (first, last) = expected_split(&full_name(i));
        let email = format!("p{i}@example.org");
        assert_eq!(row, &[i.to_string(), first, last, email], "row {i}");
    }
}

#[test]
fn a_c_revision_that_returns_an_error_names_the_revision_and_leaves_the_database_as_it_was() {
    let p = example_project(false);
    ok(&p, &["upgrade", PEOPLE]);
    // Enough good rows for two batches to be written before the bad one.
    p.query(
        "INSERT INTO people (id, full_name, email) \
         WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 1299) \
         SELECT i, 'Person ' || i, 'Person' || i || '@Example.org' FROM n",
    );
    p.query(
        "INSERT INTO people (id, full_name, email) VALUES (1300, 'No Email', 'nobody.example.org')",
    );
    let before = p.dump();

    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains(&format!("revision {SPLIT} failed")),
        "{stderr}"
    );
    assert!(
        stderr.contains("people row 1300: email \"nobody.example.org\" has no '@'"),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec![PEOPLE]);
    assert_eq!(p.dump(), before, "the database changed");
}
