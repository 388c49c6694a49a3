//! The whole check of aludel's tables, made inside a MySQL revision's
//! transaction after it ran SQL that the judge could not read (`CALL`,
//! `EXECUTE`, `PREPARE`: `db::confine`), before its records are written.
//!
//! The history row's check (`super::guard`) counts rows and follows the
//! chain's head by its key; it does not read every row, and MySQL, unlike
//! PostgreSQL, stamps no row with the transaction that wrote it. A revision
//! whose statements the lexer read cannot have named aludel's tables; one
//! that ran SQL built at run time may have, and pays for this instead:
//!
//! - every history row, read and checked against the hash chain (an older
//!   row rewritten in place is a break);
//! - every stored artifact's content against its hash, computed by the
//!   server (`SHA2`), and every artifact the history names still stored;
//! - no trigger, routine or event, and no updatable view, whose definition
//!   names one of aludel's tables: such an object would let a later
//!   revision, whose own SQL names nothing of aludel's, write to them (a
//!   trigger fired by an `INSERT`), or write to them outside any revision
//!   (an event). Nor an event that runs SQL built at run time or calls a
//!   routine (`PREPARE`, `EXECUTE`, `CALL` in its body): the server would
//!   run it later, outside any revision, unread (a revision that creates
//!   or alters an event is checked like one that ran such SQL);
//! - the audit tables' columns and indexes as when the run began.
//!
//! - no temporary table of their names, which would take the reads above
//!   and the host's writes after (asked first, one name at a time).
//!
//! Eight round trips and a scan of the store, for such revisions only.
//! Anything found fails the revision; the rollback undoes what it can, and
//! what an implicit commit carried is behind the failed state recorded
//! before that statement ran.

use crate::db::dialect::quote;
use crate::db::{Connection, DbError, Value};

use super::{chain, history};

/// What the check found: the table (or object) changed and how.
pub type Finding = String;

/// The first of `tables` that a TEMPORARY table of the same name hides in
/// this session, named with how: MySQL cannot list a session's temporary
/// tables, but `SHOW CREATE TABLE` shows the one a name resolves to. A
/// table that does not exist (yet) hides nothing.
pub async fn shadowed(conn: &mut dyn Connection, tables: &[String; 4]) -> Option<Finding> {
    let dialect = conn.dialect();
    for table in tables {
        let sql = format!("SHOW CREATE TABLE {}", quote(dialect, table));
        let Ok(rows) = conn.query(&sql, Vec::new()).await else {
            continue;
        };
        let create = rows
            .rows
            .first()
            .and_then(|row| super::cell_text(row, 1))
            .unwrap_or_default();
        if create
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE TEMPORARY")
        {
            return Some(format!(
                "{table} (a temporary table of its name hides it from aludel's statements)"
            ));
        }
    }
    None
}

/// The SHA-256 of what `information_schema` says of the three audit
/// tables' columns (name, position, type, NULL, default, collation, extra)
/// and indexes: read when a run begins, and again by [`check`], which
/// finds a revision that altered them (a narrower `error` column, a unique
/// index on the history would make a later failure's record fail).
pub async fn definition(
    conn: &mut dyn Connection,
    tables: &[String; 4],
) -> Result<String, DbError> {
    let (schema, names) = schema_and_names(&tables[1..]);
    let sql = format!(
        "SELECT table_name, column_name, ordinal_position, column_type, is_nullable, \
         COALESCE(column_default, '(none)'), COALESCE(collation_name, ''), extra \
         FROM information_schema.columns WHERE table_schema = {schema} AND table_name IN ({names}) \
         UNION ALL SELECT table_name, index_name, seq_in_index, column_name, non_unique, \
         '', '', '' FROM information_schema.statistics \
         WHERE table_schema = {schema} AND table_name IN ({names}) ORDER BY 1, 2, 3"
    );
    let rows = conn.query(&sql, Vec::new()).await?.rows;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    for row in &rows {
        for i in 0..row.len() {
            let cell = super::cell_text(row, i).unwrap_or_default();
            sha2::Digest::update(&mut hasher, (cell.len() as u64).to_be_bytes());
            sha2::Digest::update(&mut hasher, cell.as_bytes());
        }
    }
    Ok(hex::encode(sha2::Digest::finalize(hasher)))
}

/// The schema (a literal, or `DATABASE()`) and the bare names, as literals,
/// of `tables`, all in one schema.
fn schema_and_names(tables: &[String]) -> (String, String) {
    // Names are validated when the configuration is read (no backslash,
    // whose reading a revision's `sql_mode` could change).
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let schema = match tables[0].rsplit_once('.') {
        Some((schema, _)) => literal(schema),
        None => "DATABASE()".to_string(),
    };
    let names: Vec<String> = tables
        .iter()
        .map(|t| literal(t.rsplit('.').next().unwrap_or(t)))
        .collect();
    (schema, names.join(", "))
}

/// Checks aludel's tables whole (see the module doc): `tables` as
/// `super::own_tables` of `version_table`, as aludel's statements name it,
/// and `definition` as [`definition`] read when the run began. None when
/// all is as aludel wrote it.
pub async fn check(
    conn: &mut dyn Connection,
    tables: &[String; 4],
    version_table: &str,
    expected_definition: &str,
) -> Result<Option<Finding>, DbError> {
    let dialect = conn.dialect();
    if !expected_definition.is_empty() && definition(conn, tables).await? != expected_definition {
        return Ok(Some(format!(
            "{} (the columns or indexes of aludel's tables)",
            tables[1]
        )));
    }
    let entries = history::list(conn, version_table).await?;
    if let Some(broken) = chain::check(&entries).breaks.first() {
        return Ok(Some(format!("{} ({broken})", tables[1])));
    }
    let sql = format!(
        "SELECT hash, CASE WHEN SHA2(content, 256) = hash THEN 1 ELSE 0 END FROM {}",
        quote(dialect, &tables[2])
    );
    let stored = conn.query(&sql, Vec::new()).await?.rows;
    let text = |row: &[Value], i: usize| super::cell_text(row, i).unwrap_or_default();
    if let Some(row) = stored.iter().find(|row| text(row, 1) != "1") {
        return Ok(Some(format!(
            "{} (the content of artifact {} no longer has its hash)",
            tables[2],
            text(row, 0)
        )));
    }
    if let Some(entry) = entries.iter().find(|e| {
        e.artifact
            .as_ref()
            .is_some_and(|hash| !stored.iter().any(|row| &text(row, 0) == hash))
    }) {
        return Ok(Some(format!(
            "{} (the artifact of audit log row {}, revision {}, is gone)",
            tables[2], entry.id, entry.revision
        )));
    }
    // Definitions naming one of the tables, in any schema this connection
    // can see: LOCATE, not LIKE, for `_` is a LIKE wildcard.
    let bare: Vec<String> = tables
        .iter()
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_lowercase())
        .collect();
    let names = |column: &str| -> String {
        bare.iter()
            .map(|b| format!("LOCATE('{}', LOWER({column})) > 0", b.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let sql = format!(
        "SELECT 'trigger', trigger_schema, trigger_name FROM information_schema.triggers \
         WHERE {} \
         UNION ALL SELECT LOWER(routine_type), routine_schema, routine_name \
         FROM information_schema.routines WHERE {} \
         UNION ALL SELECT 'event', event_schema, event_name FROM information_schema.events \
         WHERE {} OR LOCATE('prepare', LOWER(event_definition)) > 0 \
         OR LOCATE('execute', LOWER(event_definition)) > 0 \
         OR LOCATE('call', LOWER(event_definition)) > 0 \
         UNION ALL SELECT 'view', table_schema, table_name FROM information_schema.views \
         WHERE is_updatable = 'YES' AND ({}) LIMIT 1",
        names("action_statement"),
        names("routine_definition"),
        names("event_definition"),
        names("view_definition"),
    );
    if let Some(row) = conn.query(&sql, Vec::new()).await?.rows.first() {
        return Ok(Some(format!(
            "{} (the {} {}.{} names it, or runs SQL built at run time, and could write to \
             it later)",
            tables[0],
            text(row, 0),
            text(row, 1),
            text(row, 2)
        )));
    }
    Ok(None)
}
