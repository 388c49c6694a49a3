//! The verbs that touch a database: `upgrade`, `downgrade`, `current`.
//!
//! A plan comes from the pure graph; this module walks it. Every step runs
//! in its own transaction together with its version-table change and its
//! audit records: `begin`, change the version table (checking that it still
//! says what the plan expects), run the revision's component, write the
//! records, `commit` (on MySQL the version table changes after the revision:
//! see docs/runtime.md). Any failure rolls that step back and stops the run,
//! so the database is left as it was before the failing revision; the steps
//! before it stay applied and are reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::{self, Mismatch};
use crate::db::failed::{self, FailedRevision};
use crate::db::history::{self, HistoryEntry};
use crate::db::offline::Script;
use crate::db::version::{self, HeadChange};
use crate::db::{Connection, Statement};
use crate::error::Error;
use crate::graph::{Direction, Graph, Node, Step, VersionChange};
use crate::plugins;
use crate::project::checksum;
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

/// A project, its graph, a runtime and one database connection.
pub struct Migrator<'a> {
    project: &'a Project,
    graph: Graph,
    runtime: &'a Runtime,
    conn: Option<Box<dyn Connection>>,
    dry_run: bool,
    /// Offline mode: the connection is a recorder and this is its script.
    offline: Option<Script>,
    /// Applied revisions whose directory is gone, rebuilt from their stored
    /// artifacts, with the temporary directories they were unpacked into
    /// (removed when the migrator is dropped).
    stored: Vec<Revision>,
    unpacked: Vec<tempfile::TempDir>,
    /// Who runs this: the database user, the OS user, the host; asked once.
    who: Option<Who>,
    /// Plugins stored in the artifact table during this run: one plugin
    /// serves many revisions and is stored (and looked up) once.
    plugins_stored: std::collections::HashSet<String>,
    /// Plugins by name, found, hashed and linked once per run: the Python
    /// plugin alone is 20 MB to read and hash.
    plugins_prepared: std::collections::HashMap<String, Arc<Prepared>>,
    /// The audit tables are known to exist (committed).
    audit_ready: bool,
}

#[derive(Debug, Clone)]
struct Who {
    db_user: Option<String>,
    os_user: Option<String>,
    host: Option<String>,
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
            stored: Vec::new(),
            unpacked: Vec::new(),
            who: None,
            plugins_stored: Default::default(),
            plugins_prepared: Default::default(),
            audit_ready: false,
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
        self.check_history().await?;
        let current = self.current().await?;
        let plan = self.graph.upgrade_plan(&current, target)?;
        self.run_plan(current, plan).await
    }

    /// Reverts every revision above `target`.
    pub async fn downgrade(&mut self, target: &str) -> Result<Vec<Applied>, Error> {
        self.check_history().await?;
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
        // Before the transaction: creating a table commits on MySQL.
        self.ensure_audit_tables().await?;
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
            let purge = version::purge(conn.dialect(), table);
            let purged = match conn.ensure_version_table(table).await {
                Ok(()) => conn.execute(&purge.sql, purge.params).await.map(drop),
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
            let started = now_rfc3339();
            // Only the record of a revision this project knows: a purge may
            // stamp over ids from elsewhere, which have nothing to record.
            let mut records = Vec::new();
            if let Ok(revision) = self.revision(&step.revision) {
                let mut entry = self
                    .entry(&revision, step.direction, history::STAMPED, &started)
                    .await;
                // The directory as it is now: what the stamp declares applied.
                if step.direction == Direction::Upgrade {
                    records.push(self.revision_artifact(&revision, &mut entry)?);
                }
                records.push(self.history_record(&entry));
            }
            self.write_records(table, head_changes(&step.change), records, false, false)
                .await?;
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
            prepared.push(self.prepare(&revision)?);
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
        if !plan.is_empty() && !self.dry_run && self.offline.is_none() {
            // Outside any transaction, for the same reason; a dry run
            // creates them inside its own, so that it keeps nothing.
            self.ensure_audit_tables().await?;
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
            // Where DDL is transactional, a step writes its version-table
            // change before its revision runs, together with the BEGIN of a
            // transaction it opens, and its audit records after, together
            // with the COMMIT of one it closes: three round trips a
            // revision, as many as its SQL alone would take. The first
            // transaction begins on its own, to check the heads first.
            // MySQL (DDL commits implicitly), dry runs and offline scripts
            // keep begin, revision, records, commit.
            let fold = in_transaction
                && !self.dry_run
                && self.offline.is_none()
                && self.conn().transactional_ddl();
            if in_transaction && !(fold && i > 0) {
                self.conn()
                    .begin()
                    .await
                    .map_err(|e| Error::database("starting a transaction", e))?;
            }
            let mut group_heads = heads.clone();
            let mut group_done = Vec::new();
            let mut failure = None;
            // The plan was made from heads read moments ago under the run
            // lock; checking them again in the first transaction catches a
            // runner that holds no lock (a library user, an older aludel).
            // Later groups follow from our own commits.
            if i == 0
                && in_transaction
                && let Err(e) = self.check_heads(&heads).await
            {
                failure = Some((i, e, Vec::new()));
            }
            if failure.is_none()
                && self.dry_run
                && self.offline.is_none()
                && let Err(e) = self.ensure_audit_tables().await
            {
                failure = Some((i, e, Vec::new()));
            }
            let mut k = i;
            let mut step_started = (now_rfc3339(), Instant::now());
            while failure.is_none() && k < end {
                step_started = (now_rfc3339(), Instant::now());
                let ends = Ends {
                    fold,
                    begin: fold && i > 0 && k == i,
                    commit: fold && k + 1 == end,
                };
                match self.run_step(&plan[k], &prepared[k], mode, ends).await {
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
                if self.offline.is_none() && !self.dry_run {
                    self.record_failed_history(
                        step,
                        &prepared[failed_at],
                        &error,
                        &writes,
                        step_started,
                    )
                    .await;
                }
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
                if !fold {
                    self.conn()
                        .commit()
                        .await
                        .map_err(|e| Error::database("committing", e))?;
                }
                self.audit_ready = true;
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
            let step = step.clone();
            self.ensure_audit_tables().await?;
            self.conn()
                .begin()
                .await
                .map_err(|e| Error::database("starting a transaction", e))?;
            let result = self.record_resolution(&failure, Some(&step)).await;
            if let Err(e) = result {
                self.rollback().await;
                return Err(e);
            }
            step.apply(&mut heads);
        } else {
            self.ensure_audit_tables().await?;
            self.conn()
                .begin()
                .await
                .map_err(|e| Error::database("starting a transaction", e))?;
            if let Err(e) = self.record_resolution(&failure, None).await {
                self.rollback().await;
                return Err(e);
            }
        }
        heads.sort();
        Ok(heads)
    }

    /// In one transaction: the version-table change of a revision completed
    /// by hand (`step`), an audit row saying how the failure was resolved,
    /// and the end of the failed state.
    async fn record_resolution(
        &mut self,
        failure: &FailedRevision,
        step: Option<&Step>,
    ) -> Result<(), Error> {
        let table = self.table().to_string();
        let started_at = now_rfc3339();
        let revision = self.revision(&failure.revision)?;
        let direction = if failure.direction == Direction::Upgrade.to_string() {
            Direction::Upgrade
        } else {
            Direction::Downgrade
        };
        let mut entry = self
            .entry(&revision, direction, history::RESOLVED, &started_at)
            .await;
        if let Some(step) = step {
            let mut records = Vec::new();
            if direction == Direction::Upgrade {
                records.push(self.revision_artifact(&revision, &mut entry)?);
            }
            entry.error = Some("resolved by hand: completed (--applied)".to_string());
            records.push(self.history_record(&entry));
            self.write_records(&table, head_changes(&step.change), records, false, false)
                .await?;
        } else {
            entry.error = Some("resolved by hand: undone (--rolled-back)".to_string());
            self.write_history(&entry).await?;
        }
        failed::clear(self.conn().as_mut(), &table, &failure.revision)
            .await
            .map_err(|e| Error::database("clearing the failed revision", e))?;
        self.conn()
            .commit()
            .await
            .map_err(|e| Error::database("committing", e))?;
        Ok(())
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

    fn prepare(&mut self, revision: &Revision) -> Result<Arc<Prepared>, Error> {
        match &revision.runner {
            Runner::Plugin { name } => {
                if let Some(prepared) = self.plugins_prepared.get(name) {
                    return Ok(prepared.clone());
                }
                let plugin = plugins::find(self.project, name).map_err(|e| Error::Plugin {
                    revision: revision.id.clone(),
                    name: name.clone(),
                    detail: e,
                })?;
                let prepared =
                    self.runtime
                        .prepare(&revision.id, &format!("plugin {name}"), &plugin)?;
                self.plugins_prepared.insert(name.clone(), prepared.clone());
                Ok(prepared)
            }
            Runner::Component { file, .. } => {
                let bytes = revision.read_component()?;
                let origin = format!("versions/{}/{file}", revision.dir_name);
                Ok(self.runtime.prepare(&revision.id, &origin, &bytes)?)
            }
        }
    }

    /// Runs one step inside whatever transaction the caller opened (or the
    /// step opens and closes, by `ends`): its version-table change, the
    /// revision's component and its audit records. On failure the writes
    /// that succeeded come back with the error.
    async fn run_step(
        &mut self,
        step: &Step,
        component: &Prepared,
        mode: TransactionMode,
        ends: Ends,
    ) -> Result<Applied, (Error, Vec<String>)> {
        let revision = self.revision(&step.revision).map_err(|e| (e, Vec::new()))?;
        let table = self.table().to_string();
        let started = Instant::now();
        let started_at = now_rfc3339();
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
        if ends.fold {
            // Checked before the revision runs: a version table another
            // runner moved stops the step before it does anything.
            let changes = head_changes(&step.change);
            self.write_records(&table, changes, Vec::new(), ends.begin, false)
                .await
                .map_err(|e| (e, Vec::new()))?;
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

        // What the audit log keeps of the step (and the version-table change,
        // unless it went first): in the revision's transaction, so a
        // rollback takes the record with it and the log never claims what
        // did not happen.
        let mut records = Vec::new();
        if self.offline.is_none() {
            let outcome = match step.direction {
                Direction::Upgrade => history::APPLIED,
                Direction::Downgrade => history::REVERTED,
            };
            let mut entry = self
                .entry(&revision, step.direction, outcome, &started_at)
                .await;
            entry.component_hash = Some(component.hash.clone());
            entry.statements = i64::try_from(stats.statements).unwrap_or(i64::MAX);
            entry.rows = i64::try_from(stats.rows).unwrap_or(i64::MAX);
            entry.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            match self.revision_artifact(&revision, &mut entry) {
                Ok(artifact) => records.push(artifact),
                Err(e) => return Err((e, writes)),
            }
            records.extend(self.plugin_artifact(&revision, component));
            records.push(self.history_record(&entry));
        }
        let changes = if ends.fold {
            Vec::new()
        } else {
            head_changes(&step.change)
        };
        if let Err(e) = self
            .write_records(&table, changes, records, false, ends.commit)
            .await
        {
            return Err((e, writes));
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

    /// Writes a step's version-table `changes` and the `records` that
    /// commit with them as one batch (one round trip where the backend
    /// can), after a BEGIN with `begin` and before a COMMIT with `commit`,
    /// and checks that each change found the row the plan was made from.
    async fn write_records(
        &mut self,
        table: &str,
        changes: Vec<HeadChange<'_>>,
        records: Vec<Record>,
        begin: bool,
        commit: bool,
    ) -> Result<(), Error> {
        let dialect = self.conn().dialect();
        let mut what = Vec::with_capacity(changes.len() + records.len() + 2);
        let mut batch = Vec::with_capacity(changes.len() + records.len());
        if begin {
            what.push("starting a transaction");
        }
        for change in &changes {
            what.push("updating the version table");
            batch.push(change.statement(dialect, table));
        }
        for record in records {
            what.push(record.what);
            batch.push(record.statement);
        }
        let conn = self.conn();
        if !changes.is_empty() {
            conn.ensure_version_table(table)
                .await
                .map_err(|e| Error::database("creating the version table", e))?;
        }
        if commit {
            what.push("committing");
        }
        // A step writes its changes and its records apart: never both ends.
        debug_assert!(!(begin && commit));
        let done = if begin {
            conn.begin_with(batch).await
        } else if commit {
            conn.execute_batch_and_commit(batch).await
        } else {
            conn.execute_batch(batch).await
        };
        let counts = done.map_err(|e| Error::database(what[e.index], e.source))?;
        // Offline, nothing answers: the SQL is only recorded.
        if self.offline.is_none() {
            for (change, rows) in changes.iter().zip(counts) {
                change
                    .check(table, rows)
                    .map_err(|e| Error::database("updating the version table", e))?;
            }
        }
        Ok(())
    }

    /// Before a run: reads the audit log, refuses when an applied
    /// revision's directory changed, and adds the applied revisions whose
    /// directory is gone to the graph from their stored artifacts. Offline
    /// there is no log to read: nothing is verified (see docs/operations.md).
    async fn check_history(&mut self) -> Result<(), Error> {
        if self.offline.is_some() {
            return Ok(());
        }
        self.who().await;
        let entries = self.audit_log().await?;
        let applied = audit::applied_records(&entries);
        let mismatches = self.mismatches(&applied).await?;
        if !mismatches.is_empty() {
            return Err(Error::Changed(mismatches));
        }
        self.add_stored(&applied).await
    }

    /// Every row of the audit log, oldest first.
    pub async fn audit_log(&mut self) -> Result<Vec<HistoryEntry>, Error> {
        let table = self.table().to_string();
        history::list(self.conn().as_mut(), &table)
            .await
            .map_err(|e| Error::database("reading the audit log", e))
    }

    /// Every applied revision present on disk whose directory no longer
    /// matches the checksum recorded last.
    pub async fn verify(&mut self) -> Result<Vec<Mismatch>, Error> {
        let entries = self.audit_log().await?;
        let applied = audit::applied_records(&entries);
        self.mismatches(&applied).await
    }

    async fn mismatches(
        &mut self,
        applied: &std::collections::BTreeMap<String, HistoryEntry>,
    ) -> Result<Vec<Mismatch>, Error> {
        let mut out = Vec::new();
        for (id, entry) in applied {
            let Some(recorded) = &entry.checksum else {
                continue;
            };
            let Some(revision) = self.project.revision(id) else {
                continue;
            };
            let now = revision.checksum()?;
            if &now.value == recorded {
                continue;
            }
            // The stored archive names the files; only read on a mismatch.
            let changes = match &entry.artifact {
                Some(hash) => match self.load_files(id, hash).await? {
                    Some(files) => checksum::diff(&checksum::checksum(&files), &now),
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            out.push(Mismatch {
                revision: id.clone(),
                dir: format!("{}/{}", crate::project::VERSIONS_DIR, revision.dir_name),
                recorded: recorded.clone(),
                found: now.value,
                changes,
            });
        }
        Ok(out)
    }

    async fn load_files(
        &mut self,
        revision: &str,
        hash: &str,
    ) -> Result<Option<checksum::Files>, Error> {
        let table = self.table().to_string();
        let bytes = history::load_artifact(self.conn().as_mut(), &table, hash)
            .await
            .map_err(|e| Error::database("reading the artifact store", e))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => {
                checksum::unpack(&bytes)
                    .map(Some)
                    .map_err(|detail| Error::BadArtifact {
                        revision: revision.to_string(),
                        hash: hash.to_string(),
                        detail,
                    })
            }
        }
    }

    /// Rebuilds, from their stored archives, the applied revisions missing
    /// from `versions/` (a branch switch), so that they can be reverted.
    async fn add_stored(
        &mut self,
        applied: &std::collections::BTreeMap<String, HistoryEntry>,
    ) -> Result<(), Error> {
        let mut added = false;
        for (id, entry) in applied {
            if self.project.revision(id).is_some() || self.stored.iter().any(|r| &r.id == id) {
                continue;
            }
            let files = match &entry.artifact {
                Some(hash) => self.load_files(id, hash).await?,
                None => None,
            };
            let Some(files) = files else {
                tracing::warn!("revision {id} is applied but neither in versions/ nor stored");
                continue;
            };
            let unpack_error = |source: std::io::Error| Error::Unpack {
                revision: id.clone(),
                source,
            };
            let tmp = tempfile::Builder::new()
                .prefix("aludel-stored-")
                .tempdir()
                .map_err(unpack_error)?;
            checksum::write_files(tmp.path(), &files).map_err(unpack_error)?;
            let manifest = files
                .get(crate::project::MANIFEST_FILE)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| Error::BadArtifact {
                    revision: id.clone(),
                    hash: entry.artifact.clone().unwrap_or_default(),
                    detail: "it has no readable revision.toml".to_string(),
                })?;
            let shown = std::path::PathBuf::from(format!("<stored {id}>/revision.toml"));
            let revision = crate::project::parse_manifest(
                manifest,
                &shown,
                tmp.path().to_path_buf(),
                format!("{id}_stored"),
            )?;
            tracing::info!("revision {id} is not in versions/: using its stored artifact");
            self.stored.push(revision);
            self.unpacked.push(tmp);
            added = true;
        }
        if added {
            self.graph =
                graph_of_revisions(self.project.revisions.iter().chain(self.stored.iter()))?;
        }
        Ok(())
    }

    /// Records that the changed directory of applied revision `revision`
    /// (an id or a unique prefix) is accepted as it is now: an `accepted`
    /// row with its new checksum, and its new archive stored. Returns the
    /// new checksum, or none when the directory had not changed.
    pub async fn accept(&mut self, revision: &str) -> Result<Option<String>, Error> {
        let ids = self.graph.resolve(revision, &[])?;
        let [id] = ids.as_slice() else {
            return Err(Error::NotApplied(revision.to_string()));
        };
        let revision = self.revision(id)?;
        let entries = self.audit_log().await?;
        let applied = audit::applied_records(&entries);
        let Some(recorded) = applied.get(id) else {
            return Err(Error::NotApplied(id.clone()));
        };
        let now = revision.checksum()?;
        if recorded.checksum.as_deref() == Some(now.value.as_str()) {
            return Ok(None);
        }
        self.ensure_audit_tables().await?;
        self.who().await;
        self.conn()
            .begin()
            .await
            .map_err(|e| Error::database("starting a transaction", e))?;
        let started = now_rfc3339();
        let mut entry = self
            .entry(&revision, None, history::ACCEPTED, &started)
            .await;
        let result = match self.revision_artifact(&revision, &mut entry) {
            Ok(artifact) => {
                let records = vec![artifact, self.history_record(&entry)];
                let table = self.table().to_string();
                self.write_records(&table, Vec::new(), records, false, false)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.rollback().await;
            return Err(e);
        }
        self.conn()
            .commit()
            .await
            .map_err(|e| Error::database("committing", e))?;
        Ok(Some(now.value))
    }

    /// The stored files of revision `revision` (an id or a unique prefix of
    /// one in the audit log) as they last ran, with the row that stored them.
    pub async fn stored_files(
        &mut self,
        revision: &str,
    ) -> Result<(HistoryEntry, checksum::Files), Error> {
        let entries = self.audit_log().await?;
        let mut ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.revision.starts_with(revision) && e.artifact.is_some())
            .map(|e| e.revision.as_str())
            .collect();
        ids.sort();
        ids.dedup();
        let id = match ids.as_slice() {
            [id] => id.to_string(),
            [] => return Err(Error::NotStored(revision.to_string())),
            many => {
                return Err(Error::AmbiguousStored {
                    prefix: revision.to_string(),
                    candidates: many.iter().map(|s| s.to_string()).collect(),
                });
            }
        };
        let Some(entry) = entries
            .iter()
            .rev()
            .find(|e| e.revision == id && e.artifact.is_some())
            .cloned()
        else {
            return Err(Error::NotStored(revision.to_string()));
        };
        let hash = entry.artifact.clone().unwrap_or_default();
        match self.load_files(&id, &hash).await? {
            Some(files) => Ok((entry, files)),
            None => Err(Error::NotStored(revision.to_string())),
        }
    }

    /// Creates the audit tables once per run, outside any transaction.
    async fn ensure_audit_tables(&mut self) -> Result<(), Error> {
        if self.audit_ready {
            return Ok(());
        }
        let table = self.table().to_string();
        history::ensure_tables(self.conn().as_mut(), &table)
            .await
            .map_err(|e| Error::database("creating the audit tables", e))?;
        self.audit_ready = true;
        Ok(())
    }

    async fn who(&mut self) -> Who {
        if let Some(who) = &self.who {
            return who.clone();
        }
        let db_user = history::database_user(self.conn().as_mut()).await;
        let (os_user, host) = history::os_identity();
        let who = Who {
            db_user,
            os_user,
            host,
        };
        self.who = Some(who.clone());
        who
    }

    /// A history row for `revision` with who and when filled in; what ran
    /// and how much is the caller's to add.
    async fn entry(
        &mut self,
        revision: &Revision,
        direction: impl Into<Option<Direction>>,
        outcome: &str,
        started_at: &str,
    ) -> HistoryEntry {
        let who = self.who().await;
        HistoryEntry {
            id: 0,
            revision: revision.id.clone(),
            direction: direction
                .into()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "none".to_string()),
            outcome: outcome.to_string(),
            checksum: None,
            artifact: None,
            runner: Some(match &revision.runner {
                Runner::Plugin { name } => format!("plugin {name}"),
                Runner::Component { file, .. } => format!("component {file}"),
            }),
            component_hash: None,
            db_user: who.db_user,
            os_user: who.os_user,
            host: who.host,
            aludel_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: started_at.to_string(),
            finished_at: now_rfc3339(),
            duration_ms: 0,
            statements: 0,
            rows: 0,
            error: None,
        }
    }

    /// The statement that stores the archive of the revision directory
    /// (once: it is keyed by its hash); notes its checksum and hash in
    /// `entry`. The directory is read once for both.
    fn revision_artifact(
        &mut self,
        revision: &Revision,
        entry: &mut HistoryEntry,
    ) -> Result<Record, Error> {
        let files = revision.files()?;
        let archive = checksum::pack(&files);
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&archive));
        entry.checksum = Some(checksum::checksum(&files).value);
        let statement = history::artifact_statement(
            self.conn().dialect(),
            self.table(),
            &hash,
            history::KIND_REVISION,
            &archive,
            &now_rfc3339(),
        );
        entry.artifact = Some(hash);
        Ok(Record {
            statement,
            what: "storing the revision's artifact",
        })
    }

    /// The statement that stores the plugin that ran `revision`, keyed by
    /// its component hash: once, however many revisions it serves.
    fn plugin_artifact(&mut self, revision: &Revision, component: &Prepared) -> Option<Record> {
        let Runner::Plugin { name } = &revision.runner else {
            // A revision's own component is in its archive already.
            return None;
        };
        if self.plugins_stored.contains(&component.hash) {
            return None;
        }
        let bytes = plugins::find(self.project, name).ok()?;
        let statement = history::artifact_statement(
            self.conn().dialect(),
            self.table(),
            &component.hash,
            history::KIND_PLUGIN,
            &bytes,
            &now_rfc3339(),
        );
        // Forgotten on rollback, with the row.
        self.plugins_stored.insert(component.hash.clone());
        Some(Record {
            statement,
            what: "storing the plugin's artifact",
        })
    }

    fn history_record(&mut self, entry: &HistoryEntry) -> Record {
        Record {
            statement: history::record_statement(self.conn().dialect(), self.table(), entry),
            what: "writing the audit log",
        }
    }

    async fn write_history(&mut self, entry: &HistoryEntry) -> Result<(), Error> {
        let table = self.table().to_string();
        history::record(self.conn().as_mut(), &table, entry)
            .await
            .map_err(|e| Error::database("writing the audit log", e))
    }

    /// The `failed` row, written after the rollback so that it survives it.
    async fn record_failed_history(
        &mut self,
        step: &Step,
        component: &Prepared,
        error: &Error,
        writes: &[String],
        started: (String, Instant),
    ) {
        let Ok(revision) = self.revision(&step.revision) else {
            return;
        };
        let mut entry = self
            .entry(&revision, step.direction, history::FAILED, &started.0)
            .await;
        entry.checksum = revision.checksum().ok().map(|c| c.value);
        entry.component_hash = Some(component.hash.clone());
        entry.statements = i64::try_from(writes.len()).unwrap_or(i64::MAX);
        entry.duration_ms = i64::try_from(started.1.elapsed().as_millis()).unwrap_or(i64::MAX);
        entry.error = Some(error.to_string());
        let result = match self.ensure_audit_tables().await {
            Ok(()) => self.write_history(&entry).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The run's own error says the revision failed anyway.
            tracing::error!(
                "cannot record in the audit log that {} failed: {e}",
                step.revision
            );
        }
    }

    async fn rollback(&mut self) {
        // What the transaction stored is gone with it.
        self.plugins_stored.clear();
        if let Err(e) = self.conn().rollback().await {
            tracing::error!("rolling back failed: {e}");
        }
    }
}

/// How a step meets the ends of its transaction (see `run_plan`).
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// The version-table change goes before the revision runs.
    fold: bool,
    /// The step begins the transaction, with its version-table change.
    begin: bool,
    /// The step commits the transaction, with its records.
    commit: bool,
}

/// A statement the host writes beside a step's version-table change, and
/// what it does, for the error that names it.
struct Record {
    statement: Statement,
    what: &'static str,
}

/// The rows of the version table a step changes, in order.
fn head_changes(change: &VersionChange) -> Vec<HeadChange<'_>> {
    match change {
        VersionChange::Insert { id } => vec![HeadChange::Insert(id)],
        VersionChange::Delete { id } => vec![HeadChange::Delete(id)],
        VersionChange::Update { from, to } => vec![HeadChange::Update { from, to }],
        VersionChange::Merge {
            delete,
            update_from,
            to,
        } => delete
            .iter()
            .map(|id| HeadChange::Delete(id))
            .chain([HeadChange::Update {
                from: update_from,
                to,
            }])
            .collect(),
        VersionChange::Unmerge { from, to } => match to.split_first() {
            None => vec![HeadChange::Delete(from)],
            Some((first, rest)) => [HeadChange::Update { from, to: first }]
                .into_iter()
                .chain(rest.iter().map(|id| HeadChange::Insert(id)))
                .collect(),
        },
    }
}

/// Now, in UTC, always with milliseconds: one fixed width, so that stored
/// times sort as text on every database.
fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "unknown".to_string())
}
