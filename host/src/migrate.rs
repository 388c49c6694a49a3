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

use crate::db::failed::{self, FailedRevision};
use crate::db::offline::Script;
use crate::db::{Connection, DbError};
use crate::error::Error;
use crate::graph::{Direction, Graph, Node, Step, VersionChange};
use crate::plugins;
use crate::project::{Project, Revision, Runner, TransactionMode};
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
    dry_run: bool,
    /// Offline mode: the connection is a recorder and this is its script.
    offline: Option<Script>,
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
            dry_run: false,
            offline: None,
        })
    }

    /// Offline mode (`--sql`): `conn` is a [`Recorder`](crate::db::offline::Recorder)
    /// writing to `script`; revisions are told they run offline, and each
    /// step is introduced by a comment in the script.
    pub fn offline(mut self, script: Script) -> Self {
        self.offline = Some(script);
        self
    }

    /// Makes `upgrade` and `downgrade` run for real inside one transaction
    /// that is rolled back at the end. Refused where that could not be
    /// honest: on MySQL (DDL commits implicitly) and for revisions that run
    /// outside a transaction.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
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
        self.refuse_if_failed().await?;
        // Compile and link everything first: a broken component is found
        // before the database is touched at all.
        let mut prepared = Vec::with_capacity(plan.len());
        for step in &plan {
            let revision = self.revision(&step.revision)?;
            prepared.push(self.prepare(revision)?);
        }
        let modes: Vec<TransactionMode> = plan
            .iter()
            .map(|step| self.mode_of(&step.revision))
            .collect::<Result<_, _>>()?;
        if self.dry_run {
            self.refuse_dishonest_dry_run(&plan, &modes)?;
        }

        if !plan.is_empty() && !self.conn().transactional_ddl() {
            // Creating a table commits implicitly on MySQL: do it before the
            // first revision's transaction rather than in the middle of it.
            let table = self.table().to_string();
            self.conn()
                .ensure_version_table(&table)
                .await
                .map_err(|e| Error::database("creating the version table", e))?;
        }
        let mut applied: Vec<Applied> = Vec::with_capacity(plan.len());
        let mut i = 0;
        while i < plan.len() {
            // A group is the steps that share one transaction: one step, or
            // a run of steps in mode `run` (a dry run is one group).
            let mode = modes[i];
            let mut end = i + 1;
            if mode == TransactionMode::Run || self.dry_run {
                while end < plan.len() && (self.dry_run || modes[end] == TransactionMode::Run) {
                    end += 1;
                }
            }
            let in_transaction = mode != TransactionMode::None || self.dry_run;
            if in_transaction {
                self.conn()
                    .begin()
                    .await
                    .map_err(|e| Error::database("starting a transaction", e))?;
            }
            let mut group_heads = heads.clone();
            let mut group_done = Vec::new();
            let mut failure = None;
            if in_transaction && let Err(e) = self.check_heads(&heads).await {
                failure = Some((i, e, Vec::new()));
            }
            let mut k = i;
            while failure.is_none() && k < end {
                match self.run_step(&plan[k], &prepared[k], mode).await {
                    Ok(done) => {
                        plan[k].apply(&mut group_heads);
                        group_done.push(done);
                        k += 1;
                    }
                    Err((e, writes)) => failure = Some((k, e, writes)),
                }
            }
            if let Some((failed_at, error, writes)) = failure {
                if in_transaction {
                    self.rollback().await;
                }
                let step = &plan[failed_at];
                // What a rollback could not undo must not be forgotten.
                let partial =
                    !writes.is_empty() && (!in_transaction || !self.conn().transactional_ddl());
                if partial {
                    self.record_failure(step, &error, writes).await;
                }
                let rolled_back: Vec<String> = if in_transaction {
                    group_done
                        .iter()
                        .map(|d: &Applied| d.revision.clone())
                        .collect()
                } else {
                    Vec::new()
                };
                return Err(Error::Step {
                    source: Box::new(error),
                    revision: step.revision.clone(),
                    applied: applied.iter().map(|a| a.revision.clone()).collect(),
                    rolled_back,
                    partial,
                });
            }
            if self.dry_run {
                self.rollback().await;
            } else if in_transaction {
                self.conn()
                    .commit()
                    .await
                    .map_err(|e| Error::database("committing", e))?;
            }
            heads = group_heads;
            applied.extend(group_done);
            i = end;
        }
        Ok(applied)
    }

    /// The transaction mode of one revision: its own `transaction`, else the
    /// project's. MySQL cannot roll DDL back, so `run` there would promise
    /// what it cannot keep: it falls back to one transaction per revision.
    fn mode_of(&mut self, id: &str) -> Result<TransactionMode, Error> {
        let revision = self.revision(id)?;
        let mode = revision
            .transaction
            .unwrap_or(self.project.config.transaction);
        if mode == TransactionMode::Run && !self.conn().transactional_ddl() {
            return Ok(TransactionMode::Revision);
        }
        Ok(mode)
    }

    fn refuse_dishonest_dry_run(
        &mut self,
        plan: &[Step],
        modes: &[TransactionMode],
    ) -> Result<(), Error> {
        if !self.conn().transactional_ddl() {
            return Err(Error::DryRunRefused(format!(
                "{} commits DDL implicitly, so a dry run could not be rolled back; \
                 try the plan on a copy of the database, or print it with --sql",
                self.conn().dialect()
            )));
        }
        if let Some((step, _)) = plan
            .iter()
            .zip(modes)
            .find(|(_, m)| **m == TransactionMode::None)
        {
            return Err(Error::DryRunRefused(format!(
                "revision {} runs outside a transaction (transaction = \"none\"), \
                 so a dry run could not roll it back",
                step.revision
            )));
        }
        Ok(())
    }

    /// Refuses to run while a revision that failed part-way is unresolved.
    async fn refuse_if_failed(&mut self) -> Result<(), Error> {
        if self.offline.is_some() {
            // Offline there is no database to ask; the SQL is reviewed first.
            return Ok(());
        }
        let table = self.table().to_string();
        let failures = failed::list(self.conn().as_mut(), &table)
            .await
            .map_err(|e| Error::database("reading the failed revisions", e))?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Unresolved(failures))
        }
    }

    async fn record_failure(&mut self, step: &Step, error: &Error, statements: Vec<String>) {
        let table = self.table().to_string();
        let failure = FailedRevision {
            revision: step.revision.clone(),
            direction: step.direction.to_string(),
            failed_at: now_rfc3339(),
            error: error.to_string(),
            statements,
        };
        if let Err(e) = failed::record(self.conn().as_mut(), &table, &failure).await {
            // The error of the run says the revision failed part-way anyway.
            tracing::error!("cannot record that revision {} failed: {e}", step.revision);
        }
    }

    /// Clears the failure of `revision` after an operator dealt with it:
    /// `applied` when they completed it by hand (the version table then
    /// records it as the step it was), otherwise when they undid what it
    /// applied (the version table stays as it is).
    pub async fn resolve(&mut self, revision: &str, applied: bool) -> Result<Vec<String>, Error> {
        let table = self.table().to_string();
        let failures = failed::list(self.conn().as_mut(), &table)
            .await
            .map_err(|e| Error::database("reading the failed revisions", e))?;
        let Some(failure) = failures
            .into_iter()
            .find(|f| f.revision.starts_with(revision))
        else {
            return Err(Error::NotFailed(revision.to_string()));
        };
        let mut heads = self.current().await?;
        if applied {
            let parent_plan;
            let plan = if failure.direction == Direction::Upgrade.to_string() {
                self.graph.upgrade_plan(&heads, &failure.revision)?
            } else {
                let node = self.graph.get(&failure.revision);
                let target = match node.map(|n| n.parents.as_slice()) {
                    Some([]) | None => "base".to_string(),
                    Some([parent]) => parent.clone(),
                    Some(_) => format!("{}-1", failure.revision),
                };
                parent_plan = self.graph.downgrade_plan(&heads, &target)?;
                parent_plan
            };
            let [step] = plan.as_slice() else {
                return Err(Error::ResolveNotNext {
                    revision: failure.revision.clone(),
                    steps: plan.iter().map(|s| s.revision.clone()).collect(),
                });
            };
            self.conn()
                .begin()
                .await
                .map_err(|e| Error::database("starting a transaction", e))?;
            if let Err(e) = self.change_version_table(&table, &step.change).await {
                self.rollback().await;
                return Err(Error::database("updating the version table", e));
            }
            self.conn()
                .commit()
                .await
                .map_err(|e| Error::database("committing", e))?;
            step.apply(&mut heads);
        }
        failed::clear(self.conn().as_mut(), &table, &failure.revision)
            .await
            .map_err(|e| Error::database("clearing the failed revision", e))?;
        heads.sort();
        Ok(heads)
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

    /// Runs one step inside whatever transaction the caller opened: the
    /// revision's component, then its version-table change. On failure the
    /// writes that succeeded come back with the error.
    async fn run_step(
        &mut self,
        step: &Step,
        component: &Prepared,
        mode: TransactionMode,
    ) -> Result<Applied, (Error, Vec<String>)> {
        let revision = self.revision(&step.revision).map_err(|e| (e, Vec::new()))?;
        let table = self.table().to_string();
        let started = Instant::now();
        tracing::info!(
            "{} {} ({}){}",
            match (step.direction, self.dry_run) {
                (Direction::Upgrade, false) => "applying",
                (Direction::Downgrade, false) => "reverting",
                (Direction::Upgrade, true) => "applying (dry run)",
                (Direction::Downgrade, true) => "reverting (dry run)",
            },
            revision.id,
            revision.message,
            if mode == TransactionMode::None && !self.dry_run {
                ", outside a transaction"
            } else {
                ""
            }
        );

        if let Some(script) = &self.offline {
            let parents = if revision.parents.is_empty() {
                "<base>".to_string()
            } else {
                revision.parents.join(", ")
            };
            script.comment(&match step.direction {
                Direction::Upgrade => format!(
                    "Running upgrade {parents} -> {}, {}",
                    revision.id, revision.message
                ),
                Direction::Downgrade => format!(
                    "Running downgrade {} -> {parents}, {}",
                    revision.id, revision.message
                ),
            });
        }
        let args = revision.args.to_string();
        let job = Job {
            revision: &revision.id,
            dir: &revision.dir,
            direction: step.direction,
            args: &args,
            offline: self.offline.is_some(),
        };
        let conn = self.conn.take().expect("the migrator holds its connection");
        let (conn, writes, result) = self.runtime.run(component, &job, conn).await;
        self.conn = Some(conn);
        let stats = result.map_err(|e| (e.into(), writes.clone()))?;

        if let Err(e) = self.change_version_table(&table, &step.change).await {
            return Err((Error::database("updating the version table", e), writes));
        }
        Ok(Applied {
            revision: revision.id.clone(),
            direction: step.direction,
            duration: started.elapsed(),
            stats,
        })
    }

    /// The plan was made from the heads read before the run; a second runner
    /// may have moved them since.
    async fn check_heads(&mut self, expected: &[String]) -> Result<(), Error> {
        let table = self.table().to_string();
        let mut found = self
            .conn()
            .current_heads(&table)
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

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string())
}
