//! The guarantees of `guarantees.rs` on the PostgreSQL and MariaDB servers,
//! and what only PostgreSQL has: `CREATE INDEX CONCURRENTLY` outside a
//! transaction, under the run's lock.

use crate::guarantees;
use crate::support::{Backend, TestProject};

#[test]
fn eight_runners_at_once_apply_each_revision_exactly_once_on_postgres() {
    guarantees::concurrent_runners_apply_each_revision_exactly_once(Backend::Postgres);
}

#[test]
fn eight_runners_at_once_apply_each_revision_exactly_once_on_mysql() {
    guarantees::concurrent_runners_apply_each_revision_exactly_once(Backend::Mysql);
}

#[test]
fn a_failure_at_any_statement_leaves_postgres_as_before() {
    guarantees::a_failure_at_any_statement_leaves_the_database_as_before(Backend::Postgres);
}

#[test]
fn a_failure_at_any_statement_on_mysql_is_recorded_and_resolved() {
    guarantees::a_failure_at_any_statement_leaves_the_database_as_before(Backend::Mysql);
}

#[test]
fn a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved_on_postgres() {
    guarantees::a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved(
        Backend::Postgres,
    );
}

#[test]
fn a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved_on_mysql() {
    guarantees::a_revision_outside_a_transaction_that_fails_part_way_must_be_resolved(
        Backend::Mysql,
    );
}

#[test]
fn a_run_transaction_rolls_back_every_revision_on_postgres() {
    guarantees::a_run_transaction_rolls_back_every_revision_of_the_run(Backend::Postgres);
}

#[test]
fn a_dry_run_keeps_nothing_on_postgres() {
    guarantees::a_dry_run_runs_everything_and_keeps_nothing(Backend::Postgres);
}

#[test]
fn a_dry_run_is_refused_on_mysql() {
    guarantees::a_dry_run_runs_everything_and_keeps_nothing(Backend::Mysql);
}

#[test]
fn the_lock_timeout_on_postgres_names_the_session_holding_it() {
    guarantees::the_lock_timeout_names_the_holder(Backend::Postgres);
}

#[test]
fn the_lock_timeout_on_mysql_names_the_connection_holding_it() {
    guarantees::the_lock_timeout_names_the_holder(Backend::Mysql);
}

#[test]
fn create_index_concurrently_runs_outside_a_transaction_under_the_runs_lock() {
    let p = TestProject::on(Backend::Postgres);
    p.sql_revision(
        "1dc000000001",
        None,
        "CREATE TABLE big (id INTEGER NOT NULL, note TEXT);\n\
         INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) AS g;\n",
        "DROP TABLE big;\n",
    );
    let dir = p.sql_revision(
        "1dc000000002",
        Some("1dc000000001"),
        "CREATE INDEX CONCURRENTLY big_note ON big (note);\n",
        "DROP INDEX CONCURRENTLY big_note;\n",
    );
    // In a transaction, PostgreSQL refuses it: the mode is what makes it work.
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("cannot run inside a transaction block"),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec!["1dc000000001"]);

    let manifest = dir.join("revision.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("transaction = \"none\"\n{text}")).unwrap();
    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["1dc000000002"]);
    let valid = p.query(
        "SELECT i.indisvalid::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = 'big_note'",
    );
    assert_eq!(
        valid,
        vec![vec!["true"]],
        "the index was built and is valid"
    );
    p.ok(&["downgrade", "-1"]);
    assert!(
        p.query("SELECT 1 FROM pg_class WHERE relname = 'big_note'")
            .is_empty()
    );
}

#[test]
fn a_batch_on_postgres_reports_each_statements_rows_and_names_the_one_that_fails() {
    guarantees::a_batch_reports_each_statements_rows_and_names_the_one_that_fails(
        Backend::Postgres,
    );
}

#[test]
fn a_batch_on_mysql_reports_each_statements_rows_and_names_the_one_that_fails() {
    guarantees::a_batch_reports_each_statements_rows_and_names_the_one_that_fails(Backend::Mysql);
}
