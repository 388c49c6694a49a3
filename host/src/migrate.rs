//! The verbs that touch a database: `upgrade`, `downgrade`, `current`.
//!
//! A plan comes from the pure graph; this module walks it. Every step runs
//! in its own transaction together with its version-table change: `begin`,
//! check the version table still says what the plan expects, run the
//! revision's component, change the version table, `commit`. Any failure
//! rolls that step back and stops the run, so the database is left as it was
//! before the failing revision; the steps before it stay applied and are
//! reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::{Connection, DbError};
use crate::error::Error;
use crate::graph::{Direction, Graph, Node, Step, VersionChange};
use crate::plugins;
use crate::project::{Project, Revision, Runner};
use crate::runtime::{Job, Prepared, Runtime, Stats};

/// One step that was applied and committed.
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: String,
    pub direction: Direction,
    pub duration: Duration,
    pub stats: Stats,
}

/// The graph of a project's revisions.
pub fn graph_of(project: &Project) -> Result<Graph, Error> {
    let nodes = project
        .revisions
        .iter()
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

/// A project, its graph, a runtime and one database connection.
pub struct Migrator<'a> {
    project: &'a Project,
    graph: Graph,
    runtime: &'a Runtime,
    conn: Option<Box<dyn Connection>>,
}

impl<'a> Migrator<'a> {
    pub fn new(
        project: &'a Project,
        runtime: &'a Runtime,
        conn: Box<dyn Connection>,
    ) -> Result<Self, Error> {
        Ok(Migrator {
            graph: graph_of(project)?,
            project,
            runtime,
            conn: Some(conn),
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    fn conn(&mut self) -> &mut Box<dyn Connection> {
        // Only `run_step` takes the connection out, and it always puts it back.
        self.conn
            .as_mut()
            .expect("the connection is held by the migrator between steps")
    }

    fn table(&self) -> &str {
        &self.project.config.version_table
    }

    /// The heads recorded in the database. Never writes.
    pub async fn current(&mut self) -> Result<Vec<String>, Error> {
        let table = self.table().to_string();
        self.conn()
            .current_heads(&table)
            .await
            .map_err(|e| Error::database("reading the version table", e))
    }

    /// Applies every revision up to `target`.
    pub async fn upgrade(&mut self, target: &str) -> Result<Vec<Applied>, Error> {
        let current = self.current().await?;
        let plan = self.graph.upgrade_plan(&current, target)?;
        self.run_plan(current, plan).await
    }

    /// Reverts every revision above `target`.
    pub async fn downgrade(&mut self, target: &str) -> Result<Vec<Applied>, Error> {
        let current = self.current().await?;
        let plan = self.graph.downgrade_plan(&current, target)?;
        self.run_plan(current, plan).await
    }

    /// Sets the version table to `targets` without running any revision, in
    /// one transaction: the same steps as a migration, only their
    /// version-table changes applied. With `purge` the table is emptied
    /// first, even of ids this project does not know.
    pub async fn stamp(&mut self, targets: &[String], purge: bool) -> Result<Vec<String>, Error> {
        let table = self.table().to_string();
        self.conn()
            .begin()
            .await
            .map_err(|e| Error::database("starting a transaction", e))?;
        let result = self.stamp_in_transaction(&table, targets, purge).await;
        match result {
            Ok(heads) => {
                self.conn()
                    .commit()
                    .await
                    .map_err(|e| Error::database("committing", e))?;
                Ok(heads)
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    async fn stamp_in_transaction(
        &mut self,
        table: &str,
        targets: &[String],
        purge: bool,
    ) -> Result<Vec<String>, Error> {
        let mut heads = if purge {
            let conn = self.conn();
            let purged = match conn.ensure_version_table(table).await {
                Ok(()) => conn.purge_heads(table).await,
                Err(e) => Err(e),
            };
            purged.map_err(|e| Error::database("emptying the version table", e))?;
            Vec::new()
        } else {
            self.conn()
                .current_heads(table)
                .await
                .map_err(|e| Error::database("reading the version table", e))?
        };
        let plan = self.graph.stamp_plan(&heads, targets, false)?;
        for step in &plan {
            tracing::info!("stamping {} ({})", step.revision, step.direction);
            self.change_version_table(table, &step.change)
                .await
                .map_err(|e| Error::database("updating the version table", e))?;
            step.apply(&mut heads);
        }
        if plan.is_empty() {
            // Creating the table is the one write a no-op stamp still makes,
            // as Alembic's: the database is then marked as managed.
            self.conn()
                .ensure_version_table(table)
                .await
                .map_err(|e| Error::database("creating the version table", e))?;
        }
        heads.sort();
        Ok(heads)
    }

    async fn run_plan(
        &mut self,
        mut heads: Vec<String>,
        plan: Vec<Step>,
    ) -> Result<Vec<Applied>, Error> {
        // Compile and link everything first: a broken component is found
        // before the database is touched at all.
        let mut prepared = Vec::with_capacity(plan.len());
        for step in &plan {
            let revision = self.revision(&step.revision)?;
            prepared.push(self.prepare(revision)?);
        }
        let mut applied = Vec::with_capacity(plan.len());
        for (step, component) in plan.iter().zip(prepared) {
            match self.run_step(step, &component, &heads).await {
                Ok(done) => {
                    step.apply(&mut heads);
                    applied.push(done);
                }
                Err(source) => {
                    return Err(Error::Step {
                        source: Box::new(source),
                        revision: step.revision.clone(),
                        applied: applied.iter().map(|a| a.revision.clone()).collect(),
                    });
                }
            }
        }
        Ok(applied)
    }

    fn revision(&self, id: &str) -> Result<&'a Revision, Error> {
        self.project.revision(id).ok_or_else(|| {
            Error::Internal(format!("revision {id} is in the graph but not on disk"))
        })
    }

    fn prepare(&self, revision: &Revision) -> Result<Arc<Prepared>, Error> {
        match &revision.runner {
            Runner::Plugin { name } => {
                let plugin = plugins::find(self.project, name).map_err(|e| Error::Plugin {
                    revision: revision.id.clone(),
                    name: name.clone(),
                    detail: e,
                })?;
                Ok(self
                    .runtime
                    .prepare(&revision.id, &format!("plugin {name}"), &plugin)?)
            }
            Runner::Component { file, .. } => {
                let bytes = revision.read_component()?;
                let origin = format!("versions/{}/{file}", revision.dir_name);
                Ok(self.runtime.prepare(&revision.id, &origin, &bytes)?)
            }
        }
    }

    async fn run_step(
        &mut self,
        step: &Step,
        component: &Prepared,
        expected: &[String],
    ) -> Result<Applied, Error> {
        let revision = self.revision(&step.revision)?;
        let table = self.table().to_string();
        let started = Instant::now();
        tracing::info!(
            "{} {} ({})",
            match step.direction {
                Direction::Upgrade => "applying",
                Direction::Downgrade => "reverting",
            },
            revision.id,
            revision.message
        );

        let conn = self.conn();
        conn.begin()
            .await
            .map_err(|e| Error::database("starting a transaction", e))?;
        if let Err(e) = self.check_heads(&table, expected).await {
            self.rollback().await;
            return Err(e);
        }

        let args = revision.args.to_string();
        let job = Job {
            revision: &revision.id,
            dir: &revision.dir,
            direction: step.direction,
            args: &args,
            offline: false,
        };
        let conn = self.conn.take().expect("the migrator holds its connection");
        let (conn, result) = self.runtime.run(component, &job, conn).await;
        self.conn = Some(conn);
        let stats = match result {
            Ok(stats) => stats,
            Err(e) => {
                self.rollback().await;
                return Err(e.into());
            }
        };

        if let Err(e) = self.change_version_table(&table, &step.change).await {
            self.rollback().await;
            return Err(Error::database("updating the version table", e));
        }
        self.conn()
            .commit()
            .await
            .map_err(|e| Error::database("committing", e))?;
        Ok(Applied {
            revision: revision.id.clone(),
            direction: step.direction,
            duration: started.elapsed(),
            stats,
        })
    }

    /// The plan was made from the heads read before the run; a second runner
    /// may have moved them since.
    async fn check_heads(&mut self, table: &str, expected: &[String]) -> Result<(), Error> {
        let mut found = self
            .conn()
            .current_heads(table)
            .await
            .map_err(|e| Error::database("reading the version table", e))?;
        let mut expected = expected.to_vec();
        found.sort();
        expected.sort();
        if found != expected {
            return Err(Error::ConcurrentChange { expected, found });
        }
        Ok(())
    }

    async fn change_version_table(
        &mut self,
        table: &str,
        change: &VersionChange,
    ) -> Result<(), DbError> {
        let conn = self.conn();
        conn.ensure_version_table(table).await?;
        match change {
            VersionChange::Insert { id } => conn.insert_head(table, id).await,
            VersionChange::Delete { id } => conn.delete_head(table, id).await,
            VersionChange::Update { from, to } => conn.update_head(table, from, to).await,
            VersionChange::Merge {
                delete,
                update_from,
                to,
            } => {
                for id in delete {
                    conn.delete_head(table, id).await?;
                }
                conn.update_head(table, update_from, to).await
            }
            VersionChange::Unmerge { from, to } => {
                let Some((first, rest)) = to.split_first() else {
                    return conn.delete_head(table, from).await;
                };
                conn.update_head(table, from, first).await?;
                for id in rest {
                    conn.insert_head(table, id).await?;
                }
                Ok(())
            }
        }
    }

    async fn rollback(&mut self) {
        if let Err(e) = self.conn().rollback().await {
            tracing::error!("rolling back failed: {e}");
        }
    }
}
