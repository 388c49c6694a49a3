//! Scratch databases: where the models' DDL is applied, history replayed
//! and generated revisions proved. Each [`Scratch`] is made for one use
//! and removed by [`Scratch::dispose`], which every caller runs whatever
//! the outcome; a process killed in between leaves at most one
//! `aludel_dev_<pid>_*` database (PostgreSQL, MySQL) or a file in the system's
//! temporary directory (SQLite), named so that it is recognised.
//!
//! - SQLite: a fresh database file in a temporary directory of its own
//!   (a replay opens several connections to it, which `:memory:` would
//!   not share). `[models] dev_url` is refused: there is nothing to
//!   configure.
//! - PostgreSQL and MySQL: a database `aludel_dev_<pid>_<random>` created on
//!   the server of `[models] dev_url` (or, by default, of the project's
//!   database) and dropped at the end. The connection needs the right to
//!   create databases (PostgreSQL `CREATEDB`, MySQL `CREATE` and `DROP`);
//!   without it, name a server where it has that right in `dev_url`.

use crate::db::{self, Connection, Dialect};
use crate::error::Error;
use crate::project::Project;
use crate::schema::{self, Schema, SchemaError};

use super::AutogenError;

/// One scratch database.
pub struct Scratch {
    url: String,
    kind: Kind,
}

enum Kind {
    /// Removed with the directory.
    File(#[allow(dead_code)] tempfile::TempDir),
    /// A database on a server, dropped through `admin_url`.
    Server {
        admin_url: String,
        name: String,
        dialect: Dialect,
    },
}

impl Scratch {
    /// A new, empty scratch database of `dialect`, on the server of
    /// `[models] dev_url` or else of `live_url`.
    pub async fn create(
        project: &Project,
        live_url: &str,
        dialect: Dialect,
    ) -> Result<Scratch, Error> {
        let dev_url = project
            .config
            .models
            .as_ref()
            .and_then(|m| m.dev_url.clone());
        match dialect {
            Dialect::Sqlite => {
                if let Some(url) = dev_url {
                    return Err(AutogenError::Dev(format!(
                        "`[models] dev_url` ({}) is for PostgreSQL and MySQL: on SQLite aludel uses \
                         private scratch databases of its own; remove the key",
                        db::redact_url(&url)
                    ))
                    .into());
                }
                let dir = tempfile::Builder::new()
                    .prefix("aludel-dev-")
                    .tempdir()
                    .map_err(|e| {
                        AutogenError::Dev(format!("cannot make a temporary directory: {e}"))
                    })?;
                let url = format!("sqlite:{}?mode=rwc", dir.path().join("dev.db").display());
                Ok(Scratch {
                    url,
                    kind: Kind::File(dir),
                })
            }
            Dialect::Postgresql | Dialect::Mysql => {
                let server = dev_url.unwrap_or_else(|| live_url.to_string());
                if db::dialect_of_url(&server) != Some(dialect) {
                    return Err(AutogenError::Dev(format!(
                        "`[models] dev_url` ({}) is not a {dialect} database like the project's",
                        db::redact_url(&server)
                    ))
                    .into());
                }
                // The process id says whose it is, should one be left behind.
                let name = format!(
                    "aludel_dev_{}_{}",
                    std::process::id(),
                    hex::encode(rand::random::<[u8; 4]>())
                );
                let mut admin = db::connect(&server).await?;
                let create = match dialect {
                    Dialect::Postgresql => {
                        format!("CREATE DATABASE {}", schema::ident(dialect, &name))
                    }
                    _ => {
                        // The live database's character set and collation,
                        // so that text columns read back alike.
                        let rows = admin
                            .query(
                                "SELECT @@character_set_database, @@collation_database",
                                Vec::new(),
                            )
                            .await
                            .map_err(|e| {
                                Error::database("reading the database's character set", e)
                            })?;
                        let row = rows.rows.first().cloned().unwrap_or_default();
                        let text = |i: usize| match row.get(i) {
                            Some(db::Value::Text(s)) => s.clone(),
                            _ => String::new(),
                        };
                        let mut sql = format!("CREATE DATABASE {}", schema::ident(dialect, &name));
                        if !text(0).is_empty() {
                            sql.push_str(&format!(
                                " CHARACTER SET {} COLLATE {}",
                                text(0),
                                text(1)
                            ));
                        }
                        sql
                    }
                };
                admin.execute_script(&create).await.map_err(|e| {
                    AutogenError::Dev(format!(
                        "cannot create the scratch database {name} on {}: {e}; give the connection \
                         the right to create databases, or name a server where it has it in \
                         `[models] dev_url`",
                        db::redact_url(&server)
                    ))
                })?;
                Ok(Scratch {
                    url: with_database(&server, &name),
                    kind: Kind::Server {
                        admin_url: server,
                        name,
                        dialect,
                    },
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn connect(&self) -> Result<Box<dyn Connection>, Error> {
        let mut conn = db::connect(&self.url).await?;
        if let Kind::File(_) = self.kind {
            // A scratch file is thrown away: waiting for the disk on every
            // statement would only make the comparison slow.
            conn.execute_script("PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY")
                .await
                .map_err(|e| Error::database("setting up the scratch database", e))?;
        }
        Ok(conn)
    }

    /// Removes the scratch database; a failure is logged with what to drop
    /// by hand.
    pub async fn dispose(self) {
        if let Kind::Server {
            admin_url,
            name,
            dialect,
        } = &self.kind
        {
            let dropped = async {
                let mut admin = db::connect(admin_url).await.map_err(|e| e.to_string())?;
                let quoted = schema::ident(*dialect, name);
                let sql = match dialect {
                    // Connections a replay left open would block a plain drop.
                    Dialect::Postgresql => format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {quoted}"),
                };
                admin.execute_script(&sql).await.map_err(|e| e.to_string())
            }
            .await;
            if let Err(e) = dropped {
                tracing::warn!("could not drop the scratch database {name}: {e}; drop it by hand");
            }
        }
    }
}

/// `url` with its database (the path) replaced by `name`, query kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path_at = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &base[..path_at])
}

/// Creates `schema` in the empty database of `conn`: SQLite replays its
/// stored statements, the others the statements [`schema::create_all`]
/// renders.
pub async fn copy_schema(
    conn: &mut dyn Connection,
    dialect: Dialect,
    schema: &Schema,
) -> Result<(), Error> {
    let statements: Vec<String> = match dialect {
        Dialect::Sqlite => {
            let mut out = Vec::new();
            for t in schema.tables.values() {
                out.push(stored(&t.create_sql, &t.name)?);
            }
            for t in schema.tables.values() {
                for i in &t.indexes {
                    out.push(stored(&i.create_sql, &i.name)?);
                }
                out.extend(t.triggers.iter().cloned());
            }
            // Views in an order where each follows those it reads.
            let changes = schema::diff(&Schema::default(), schema, &Default::default());
            for c in changes {
                if let schema::Change::CreateView { view, .. } = c {
                    out.push(stored(&view.create_sql, &view.name)?);
                }
            }
            out
        }
        _ => schema::create_all(dialect, schema)?
            .into_iter()
            .map(|s| s.sql)
            .collect(),
    };
    for sql in statements {
        conn.execute_script(&sql).await.map_err(|e| {
            AutogenError::Dev(format!("copying the starting schema failed at {sql}: {e}"))
        })?;
    }
    Ok(())
}

fn stored(sql: &Option<String>, name: &str) -> Result<String, SchemaError> {
    sql.clone().ok_or_else(|| SchemaError::Unsupported {
        what: name.to_string(),
        why: "its CREATE statement was not read".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_url_keeps_the_server_and_the_query() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=require", "x"),
            "postgres://u:p@h:5432/x?sslmode=require"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
