//! The guarantees on SQLite.

use crate::guarantees;
use crate::support::Backend;

#[test]
fn eight_runners_at_once_apply_each_revision_exactly_once_on_sqlite() {
    guarantees::concurrent_runners_apply_each_revision_exactly_once(Backend::Sqlite);
}

#[test]
fn a_failure_at_any_statement_leaves_sqlite_as_before() {
    guarantees::a_failure_at_any_statement_leaves_the_database_as_before(Backend::Sqlite);
}

#[test]
fn a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved_on_sqlite() {
    guarantees::a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved(
        Backend::Sqlite,
    );
}

#[test]
fn a_run_transaction_rolls_back_every_revision_on_sqlite() {
    guarantees::a_run_transaction_rolls_back_every_revision_of_the_run(Backend::Sqlite);
}

#[test]
fn a_dry_run_keeps_nothing_on_sqlite() {
    guarantees::a_dry_run_runs_everything_and_keeps_nothing(Backend::Sqlite);
}

#[test]
fn the_lock_timeout_on_sqlite_names_the_process_holding_it() {
    guarantees::the_lock_timeout_names_the_holder(Backend::Sqlite);
}

#[test]
fn a_batch_on_sqlite_reports_each_statements_rows_and_names_the_one_that_fails() {
    guarantees::a_batch_reports_each_statements_rows_and_names_the_one_that_fails(Backend::Sqlite);
}

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
