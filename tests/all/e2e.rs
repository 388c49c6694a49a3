//! The whole path a user walks: init, revision (sql and rust), build,
//! upgrade, current, downgrade, upgrade again.

use std::fs;

use crate::support::TestProject;

const RUST_REVISION: &str = r#"
use aludel_sdk::{db, params, Context, Migration, Result};

struct Revision;

impl Migration for Revision {
    fn upgrade(_ctx: &Context) -> Result<()> {
        db::execute_script("ALTER TABLE people ADD COLUMN initials TEXT")?;
        let mut updates = Vec::new();
        for row in db::cursor("SELECT id, full_name FROM people", &[])? {
            let row = row?;
            let name: String = row.get("full_name")?;
            let initials: String = name.split_whitespace().filter_map(|w| w.chars().next()).collect();
            updates.push(params![initials, row.get::<i64>("id")?]);
        }
        db::execute_many("UPDATE people SET initials = ? WHERE id = ?", &updates)?;
        Ok(())
    }

    fn downgrade(_ctx: &Context) -> Result<()> {
        db::execute_script("ALTER TABLE people DROP COLUMN initials")?;
        Ok(())
    }
}

aludel_sdk::export!(Revision);
"#;

fn revision_dir(stdout: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(stdout.trim())
}

#[test]
fn init_revision_build_upgrade_current_downgrade_and_upgrade_again() {
    let p = TestProject::new();
    assert!(p.root().join("aludel.toml").is_file());
    assert!(p.root().join("versions").is_dir());
    assert!(p.root().join("templates/sql").is_dir());

    let sql_dir = revision_dir(&p.ok(&["revision", "-m", "create people"]));
    fs::write(
        sql_dir.join("upgrade.sql"),
        "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT NOT NULL);\n\
         INSERT INTO people (full_name) VALUES ('Ada Lovelace'), ('Alan Mathison Turing'), ('Grace Hopper');\n",
    )
    .unwrap();
    fs::write(sql_dir.join("downgrade.sql"), "DROP TABLE people;\n").unwrap();
    let sql_id = sql_dir.file_name().unwrap().to_str().unwrap()[..12].to_string();

    let rust_dir = revision_dir(&p.ok(&["revision", "-m", "add initials", "--kind", "rust"]));
    let rust_id = rust_dir.file_name().unwrap().to_str().unwrap()[..12].to_string();
    let manifest = fs::read_to_string(rust_dir.join("revision.toml")).unwrap();
    assert!(
        manifest.contains(&format!("parents = [\"{sql_id}\"]")),
        "the new revision's parent is the head: {manifest}"
    );
    fs::write(rust_dir.join("src/lib.rs"), RUST_REVISION).unwrap();

    p.ok(&["build"]);
    assert!(rust_dir.join("revision.wasm").is_file());

    // Nothing exists before the first upgrade, and `current` writes nothing.
    p.ok(&["current"]);
    assert!(!p.has_table("aludel_version"));

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![rust_id.clone()]);
    assert_eq!(
        p.query("SELECT full_name, initials FROM people ORDER BY id"),
        vec![
            vec!["Ada Lovelace", "AL"],
            vec!["Alan Mathison Turing", "AMT"],
            vec!["Grace Hopper", "GH"],
        ]
    );

    let current = p.ok(&["current"]);
    assert_eq!(current.trim(), format!("{rust_id} (head)"));

    let history = p.ok(&["history"]);
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        vec![
            format!("{sql_id} -> {rust_id} (head), add initials"),
            format!("<base> -> {sql_id}, create people"),
        ]
    );

    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("people"));
    assert_eq!(p.versions(), Vec::<String>::new());

    p.ok(&["upgrade", "+1"]);
    assert_eq!(p.versions(), vec![sql_id]);
    assert_eq!(
        p.query("SELECT name FROM pragma_table_info('people') ORDER BY cid"),
        vec![vec!["id"], vec!["full_name"]],
        "only the first revision is applied"
    );
}

#[test]
fn downgrade_minus_one_reverts_only_the_newest_revision() {
    let p = TestProject::new();
    p.sql_revision("aaaa00000001", None, "CREATE TABLE a (x);", "DROP TABLE a;");
    p.sql_revision(
        "aaaa00000002",
        Some("aaaa00000001"),
        "CREATE TABLE b (x);",
        "DROP TABLE b;",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["aaaa00000002"]);
    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.versions(), vec!["aaaa00000001"]);
    assert!(p.has_table("a"));
    assert!(!p.has_table("b"));
}

#[test]
fn upgrade_accepts_a_unique_prefix_of_a_revision_id() {
    let p = TestProject::new();
    p.sql_revision("abcd00000001", None, "CREATE TABLE a (x);", "DROP TABLE a;");
    p.sql_revision(
        "bcde00000002",
        Some("abcd00000001"),
        "CREATE TABLE b (x);",
        "DROP TABLE b;",
    );
    p.ok(&["upgrade", "abcd"]);
    assert_eq!(p.versions(), vec!["abcd00000001"]);
}

#[test]
fn the_url_flag_overrides_the_environment_and_aludel_toml() {
    let p = TestProject::new();
    p.sql_revision("aaaa00000001", None, "CREATE TABLE a (x);", "DROP TABLE a;");
    let other = p.root().join("other.db");
    let url = format!("sqlite://{}", other.display());
    let run = p
        .command()
        .args(["upgrade", "head", "--url", &url])
        .env("DATABASE_URL", "sqlite:///nonexistent/dir/never.db")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(other.is_file());
    assert!(
        !p.db_path().exists(),
        "aludel.toml's database was not touched"
    );

    // Without --url, DATABASE_URL wins over aludel.toml.
    let env_db = p.root().join("env.db");
    let run = p
        .command()
        .args(["upgrade", "head"])
        .env("DATABASE_URL", format!("sqlite://{}", env_db.display()))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(env_db.is_file());
    assert!(!p.db_path().exists());
}
