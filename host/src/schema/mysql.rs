//! MySQL: reading a schema from its catalog and writing changes as its DDL.

use super::{Change, Schema, SchemaError, Scope, Step};
use crate::db::{Connection, Dialect};

/// Reads the schema of the connection's database.
pub async fn inspect(conn: &mut dyn Connection, scope: &Scope) -> Result<Schema, SchemaError> {
    let _ = (conn, scope);
    Err(not_yet())
}

/// The statements of `changes` in MySQL.
pub fn render(changes: &[Change], from: &Schema, to: &Schema) -> Result<Vec<Step>, SchemaError> {
    let _ = (changes, from, to);
    Err(not_yet())
}

fn not_yet() -> SchemaError {
    SchemaError::Unsupported {
        what: format!("a {} schema", Dialect::Mysql),
        why: "autogenerate, check and drift read SQLite only so far".to_string(),
    }
}
