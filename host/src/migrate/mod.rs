//! Walking plans against one database: `upgrade`, `downgrade`, `stamp`,
//! `resolve`, `verify`, `accept`, and the stored revisions.
//!
//! A plan comes from the pure graph; [`plan`] groups its steps into
//! transactions (a pure function), and [`Migrator`] runs each group through
//! one transaction helper (`Migrator::transaction`). Every step runs in
//! its transaction together with its version-table change and its audit
//! records: begin, change the version table (checking that it still says
//! what the plan expects), run the revision's component, write the records,
//! commit (on MySQL the version table changes after the revision: see
//! docs/runtime.md). Any failure rolls that group back and stops the run,
//! so the database is left as it was before the failing revision; the steps
//! before it stay applied and are reported.
//!
//! The migrator needs a [`Runtime`](crate::runtime::Runtime) only to run
//! revisions: `stamp`, `resolve`, `verify`, `accept` and the stored
//! revisions never start a WebAssembly engine. aludel's own tables are the
//! [`Ledger`]'s.
//!
//! One file per concern: [`plan`] (grouping), `run` (upgrade, downgrade),
//! `records` (what a step writes beside its revision), `stamp`, `resolve`,
//! `verify` (verify, accept, the check before a run), `stored` (revisions
//! rebuilt from their archives).

mod batched;
pub mod plan;
mod records;
mod resolve;
mod run;
mod stamp;
mod stored;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::db::offline::{Recorder, Script};
use crate::db::{Connection, Dialect};
use crate::error::Error;
use crate::graph::{Direction, Graph, Node};
use crate::ledger::Ledger;
use crate::progress::Progress;
use crate::project::{Project, Revision};
use crate::runtime::{Prepared, Stats};

/// One step that was applied and committed (or, in a dry run, rolled back).
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: String,
    pub direction: Direction,
    pub duration: Duration,
    pub stats: Stats,
}

/// The graph of a project's revisions.
pub fn graph_of(project: &Project) -> Result<Graph, Error> {
    graph_of_revisions(project.revisions.iter())
}

fn graph_of_revisions<'r>(revisions: impl Iterator<Item = &'r Revision>) -> Result<Graph, Error> {
    let nodes = revisions
        .map(|r| Node {
            id: r.id.clone(),
            parents: r.parents.clone(),
            branch_labels: r.branch_labels.clone(),
            depends_on: r.depends_on.clone(),
            message: r.message.clone(),
        })
        .collect();
    Ok(Graph::new(nodes)?)
}

/// A project, its graph and one database connection.
pub struct Migrator<'a> {
    project: &'a Project,
    graph: Graph,
    conn: Option<Box<dyn Connection>>,
    /// The connection's, known while a revision holds the connection.
    dialect: Dialect,
    ledger: Ledger,
    dry_run: bool,
    /// Offline mode: the connection is a recorder and this is its script.
    offline: Option<Script>,
    /// Applied revisions whose directory is gone, rebuilt from their stored
    /// artifacts, with the temporary directories they were unpacked into
    /// (removed when the migrator is dropped).
    stored: Vec<Revision>,
    unpacked: Vec<tempfile::TempDir>,
    /// Plugins by name, found, hashed and linked once per run: the Python
    /// plugin alone is 20 MB to read and hash.
    plugins_prepared: HashMap<String, Arc<Prepared>>,
    /// `--untrusted` or `[runtime] untrusted`: revisions' SQL that aludel
    /// cannot read before it runs is refused (MySQL).
    untrusted: bool,
    /// The transaction being run holds a revision with `foreign_keys =
    /// false`: it commits only if `PRAGMA foreign_key_check` finds nothing.
    check_foreign_keys: bool,
    /// Told which revision runs and how far it has come.
    progress: Progress,
}

/// Where a transaction begins: with its own BEGIN, inside the first batch
/// its body sends, or not at all (a revision in mode `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    Now,
    InBody,
    Outside,
}

/// How a transaction ends when its body succeeds: its own COMMIT, inside
/// the last batch its body sends, a ROLLBACK (a dry run), or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Commit,
    InBody,
    Rollback,
    Outside,
}

impl<'a> Migrator<'a> {
    /// A migrator over `conn`, a connection to the project's database.
    pub fn new(project: &'a Project, mut conn: Box<dyn Connection>) -> Result<Self, Error> {
        conn.protect_tables(&crate::ledger::protected_tables(
            &project.config.version_table,
        ));
        Ok(Migrator {
            graph: graph_of(project)?,
            ledger: Ledger::new(project.config.version_table.clone()),
            project,
            dialect: conn.dialect(),
            conn: Some(conn),
            dry_run: false,
            offline: None,
            stored: Vec::new(),
            unpacked: Vec::new(),
            plugins_prepared: HashMap::new(),
            untrusted: project.config.runtime.untrusted,
            check_foreign_keys: false,
            progress: Progress::default(),
        })
    }

    /// Runs revisions as untrusted (`--untrusted`), or as the project says.
    pub fn untrusted(mut self, on: bool) -> Self {
        self.untrusted = on || self.project.config.runtime.untrusted;
        self
    }

    /// Offline mode (`--sql`): a migrator over a recorder of `dialect`
    /// whose version table holds `heads`. Revisions are told they run
    /// offline, each step is introduced by a comment, and
    /// [`script`](Self::script) is the SQL the run would execute.
    pub fn offline(
        project: &'a Project,
        dialect: Dialect,
        heads: Vec<String>,
    ) -> Result<Self, Error> {
        let script = Script::default();
        let recorder = Recorder::new(dialect, script.clone());
        let mut migrator = Migrator::new(project, Box::new(recorder))?;
        migrator.ledger = Ledger::offline(project.config.version_table.clone(), heads);
        migrator.offline = Some(script);
        Ok(migrator)
    }

    /// The SQL recorded so far, offline; none online.
    pub fn script(&self) -> Option<&Script> {
        self.offline.as_ref()
    }

    /// Makes `upgrade` and `downgrade` run for real inside one transaction
    /// that is rolled back at the end. Refused where that could not be
    /// honest: on MySQL (DDL commits implicitly) and for revisions that run
    /// outside a transaction.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Tells `progress` which revision of the plan runs, and how far each
    /// has come (see [`crate::progress`]).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn conn(&mut self) -> &mut dyn Connection {
        self.parts().0
    }

    /// The connection and the ledger at once, for a ledger call.
    fn parts(&mut self) -> (&mut dyn Connection, &mut Ledger) {
        // Only a revision's run takes the connection out, and it always
        // puts it back.
        let conn = self
            .conn
            .as_deref_mut()
            .expect("the connection is held by the migrator between steps");
        (conn, &mut self.ledger)
    }

    /// The heads recorded in the database, sorted. Never writes.
    pub async fn current(&mut self) -> Result<Vec<String>, Error> {
        let (conn, ledger) = self.parts();
        ledger.current_heads(conn).await
    }

    /// Runs `body` as one transaction that begins and ends as `begin` and
    /// `end` say. When the body fails the transaction is rolled back (if
    /// there is one) before the error is returned; a failed BEGIN or COMMIT
    /// is an [`Error`], turned into the body's error type.
    async fn transaction<T, E, F>(&mut self, begin: Begin, end: End, body: F) -> Result<T, E>
    where
        E: From<Error>,
        F: AsyncFnOnce(&mut Self) -> Result<T, E>,
    {
        if begin == Begin::Now {
            self.conn()
                .begin()
                .await
                .map_err(|e| Error::database("starting a transaction", e))?;
        }
        // What aludel's tables hold now was written before this transaction.
        self.ledger.open_window();
        match body(self).await {
            Ok(value) => {
                match end {
                    End::Commit => {
                        if self.check_foreign_keys
                            && let Err(e) = self.foreign_key_check().await
                        {
                            self.rollback().await;
                            return Err(e.into());
                        }
                        if let Err(e) = self.conn().commit().await {
                            // A failed COMMIT ends the transaction too.
                            self.ledger.rolled_back();
                            return Err(Error::database("committing", e).into());
                        }
                    }
                    End::Rollback => {
                        // A dry run must leave nothing: if a revision ended
                        // its transaction, what it did before is committed,
                        // and the run must not say it rolled everything back.
                        let ended = self.conn().transaction_ended().await.unwrap_or(true);
                        self.rollback().await;
                        if ended {
                            return Err(Error::database(
                                "ending the dry run",
                                crate::db::DbError::transaction_ended(
                                    "a revision of the dry run ended it",
                                ),
                            )
                            .into());
                        }
                    }
                    End::InBody | End::Outside => {}
                }
                Ok(value)
            }
            Err(e) => {
                if begin != Begin::Outside {
                    self.rollback().await;
                }
                Err(e)
            }
        }
    }

    /// What a revision run with foreign keys off must pass before it
    /// commits: no row referencing a row that is not there.
    async fn foreign_key_check(&mut self) -> Result<(), Error> {
        let rows = self
            .conn()
            .query(
                "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check LIMIT 5",
                Vec::new(),
            )
            .await
            .map_err(|e| Error::database("checking foreign keys before committing", e))?;
        if rows.rows.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = rows
            .rows
            .iter()
            .map(|r| {
                let t = |v: &crate::db::Value| match v {
                    crate::db::Value::Text(s) => s.clone(),
                    crate::db::Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                format!(
                    "{} row {} references a missing row of {}",
                    t(&r[0]),
                    t(&r[1]),
                    t(&r[2])
                )
            })
            .collect();
        Err(Error::database(
            "checking foreign keys before committing (the revision ran with foreign_keys = false)",
            crate::db::DbError::new(format!(
                "{}{}; the transaction was rolled back and nothing was applied",
                shown.join("; "),
                if rows.rows.len() == 5 {
                    " and more"
                } else {
                    ""
                }
            )),
        ))
    }

    async fn rollback(&mut self) {
        // What the transaction stored is gone with it.
        self.ledger.rolled_back();
        if let Err(e) = self.conn().rollback().await {
            tracing::error!("rolling back failed: {e}");
        }
    }

    /// A revision of the graph: from its directory, else rebuilt from its
    /// stored artifact.
    fn revision(&self, id: &str) -> Result<Revision, Error> {
        self.project
            .revision(id)
            .or_else(|| self.stored.iter().find(|r| r.id == id))
            .cloned()
            .ok_or_else(|| {
                Error::Internal(format!("revision {id} is in the graph but not on disk"))
            })
    }
}
