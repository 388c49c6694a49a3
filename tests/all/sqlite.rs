//! What is tested on SQLite alone: its schema-qualified version table
//! (`main.`) and how it stores the value types, each with a counterpart of
//! its own in postgres.rs and mysql.rs. The guarantees every backend keeps
//! are in guarantees.rs.

#[test]
fn a_schema_qualified_version_table_on_sqlite_lives_in_that_schema() {
    let p = crate::support::TestProject::new();
    p.set_config("version_table", "\"main.versions\"");
    p.sql_revision(
        "first0000001",
        None,
        "CREATE TABLE a (id INTEGER);",
        "DROP TABLE a;",
    );
    p.sql_revision(
        "second000002",
        Some("first0000001"),
        "CREATE TABLE b (id INTEGER);",
        "DROP TABLE b;",
    );
    p.ok(&["upgrade", "head"]);
    assert_eq!(
        p.query("SELECT version_num FROM versions"),
        vec![vec!["second000002"]]
    );
    assert_eq!(
        p.query("SELECT count(*) FROM versions_history"),
        vec![vec!["2"]]
    );
    assert_eq!(p.ok(&["current"]).trim(), "second000002 (head)");
    p.ok(&["downgrade", "-1"]);
    assert_eq!(p.ok(&["current"]).trim(), "first0000001");
}

#[test]
fn every_value_type_round_trips_through_a_guest_on_sqlite() {
    let p = crate::support::TestProject::new();
    p.types_revision("types0000001", None, "roundtrip");
    p.ok(&["upgrade", "head"]);
    // SQLite stores the tagged types as their text (docs/runtime.md).
    assert_eq!(
        p.query("SELECT count(*) FROM typed_values"),
        vec![vec!["5"]]
    );
    p.ok(&["downgrade", "base"]);
    assert!(!p.has_table("typed_values"));
}
