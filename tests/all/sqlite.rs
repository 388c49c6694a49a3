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
