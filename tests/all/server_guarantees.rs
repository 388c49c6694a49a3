//! What only PostgreSQL has: `CREATE INDEX CONCURRENTLY` outside a
//! transaction, under the run's lock. The guarantees every backend keeps
//! are in guarantees.rs.

use crate::support::{Backend, TestProject};

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
