//! `upgrade` and `downgrade`: a plan's steps run group by group, each group
//! one transaction (see [`super::plan`]), each step its revision's
//! component beside its version-table change and its audit records.

use std::sync::Arc;
use std::time::Instant;

use super::plan::{self, Ends, Group, Setting};
use super::{Applied, Migrator};
use crate::error::Error;
use crate::graph::{Direction, Step};
use crate::ledger::{FailedRevision, Outcome, head_changes, now_rfc3339};
use crate::plugins;
use crate::project::{Revision, Runner, TransactionMode};
use crate::runtime::{Job, Prepared, RunError, Runtime};

/// Why a group stopped: its transaction could not begin or commit (an
/// error of its own), or one of its steps failed.
enum GroupError {
    Database(Error),
    Step(Box<StepFailure>),
}

impl From<Error> for GroupError {
    fn from(e: Error) -> Self {
        GroupError::Database(e)
    }
}

/// A step that failed, with what the report and the failed state need.
struct StepFailure {
    /// Its index in the plan.
    at: usize,
    error: Error,
    /// The revision's statements that succeeded before it failed.
    writes: Vec<String>,
    started: (String, Instant),
    /// The steps of the same group that had succeeded, rolled back with it.
    done: Vec<String>,
}

impl Migrator<'_> {
    /// Applies every revision up to `target` (an upgrade), or reverts
    /// every revision above it (a downgrade).
    pub async fn migrate(
        &mut self,
        runtime: &Runtime,
        direction: Direction,
        target: &str,
    ) -> Result<Vec<Applied>, Error> {
        self.check_history().await?;
        let current = self.current().await?;
        let plan = match direction {
            Direction::Upgrade => self.graph.upgrade_plan(&current, target)?,
            Direction::Downgrade => self.graph.downgrade_plan(&current, target)?,
        };
        self.run_plan(runtime, current, plan).await
    }

    async fn run_plan(
        &mut self,
        runtime: &Runtime,
        mut heads: Vec<String>,
        plan: Vec<Step>,
    ) -> Result<Vec<Applied>, Error> {
        self.refuse_if_failed().await?;
        // Compile and link everything first: a broken component is found
        // before the database is touched at all.
        let mut prepared = Vec::with_capacity(plan.len());
        for step in &plan {
            let revision = self.revision(&step.revision)?;
            prepared.push(self.prepare(runtime, &revision)?);
        }
        let modes: Vec<TransactionMode> = plan
            .iter()
            .map(|step| self.mode_of(&step.revision))
            .collect::<Result<_, _>>()?;
        if self.dry_run {
            self.refuse_dishonest_dry_run(&plan, &modes)?;
        }
        let transactional_ddl = self.conn().transactional_ddl();
        if !plan.is_empty() && !transactional_ddl {
            // Creating a table commits implicitly on MySQL: do it before the
            // first revision's transaction rather than in the middle of it.
            let (conn, ledger) = self.parts();
            ledger.ensure_version_table(conn).await?;
        }
        if !plan.is_empty() && !self.dry_run && self.offline.is_none() {
            // Outside any transaction, for the same reason; a dry run
            // creates them inside its own, so that it keeps nothing.
            let (conn, ledger) = self.parts();
            ledger.ensure_audit_tables(conn).await?;
        }
        let setting = Setting {
            dry_run: self.dry_run,
            offline: self.offline.is_some(),
            transactional_ddl,
        };
        let mut applied: Vec<Applied> = Vec::with_capacity(plan.len());
        for (g, group) in plan::groups(&modes, setting).into_iter().enumerate() {
            let (begin, end) = (group.begin, group.end);
            let result = self
                .transaction(begin, end, async |m: &mut Self| {
                    m.run_group(runtime, &plan, &prepared, &group, &heads, g == 0)
                        .await
                })
                .await;
            match result {
                Ok((group_heads, done)) => {
                    heads = group_heads;
                    applied.extend(done);
                }
                Err(GroupError::Database(e)) => return Err(e),
                Err(GroupError::Step(failure)) => {
                    return Err(self
                        .failed(&plan, &prepared, &group, *failure, &applied)
                        .await);
                }
            }
        }
        Ok(applied)
    }

    /// Runs the steps of one group inside its transaction; returns the
    /// heads after it and what it did.
    async fn run_group(
        &mut self,
        runtime: &Runtime,
        plan: &[Step],
        prepared: &[Arc<Prepared>],
        group: &Group,
        heads: &[String],
        first: bool,
    ) -> Result<(Vec<String>, Vec<Applied>), GroupError> {
        let start = group.steps.start;
        let mut started = (now_rfc3339(), Instant::now());
        let failure = |at, error, writes, started, done: &[Applied]| {
            GroupError::Step(Box::new(StepFailure {
                at,
                error,
                writes,
                started,
                done: done.iter().map(|d| d.revision.clone()).collect(),
            }))
        };
        // The plan was made from heads read moments ago under the run
        // lock; checking them again in the first transaction catches a
        // runner that holds no lock (a library user, an older aludel).
        // Later groups follow from our own commits.
        if first
            && group.in_transaction()
            && let Err(e) = self.check_heads(heads).await
        {
            return Err(failure(start, e, Vec::new(), started, &[]));
        }
        if self.dry_run && self.offline.is_none() {
            let (conn, ledger) = self.parts();
            if let Err(e) = ledger.ensure_audit_tables(conn).await {
                return Err(failure(start, e, Vec::new(), started, &[]));
            }
        }
        let mut group_heads = heads.to_vec();
        let mut done = Vec::with_capacity(group.steps.len());
        for k in group.steps.clone() {
            started = (now_rfc3339(), Instant::now());
            let mut after = group_heads.clone();
            plan[k].apply(&mut after);
            after.sort();
            match self
                .run_step(
                    runtime,
                    &plan[k],
                    &prepared[k],
                    group.mode,
                    group.ends_of(k),
                    &after,
                )
                .await
            {
                Ok(step) => {
                    plan[k].apply(&mut group_heads);
                    done.push(step);
                }
                Err((e, writes)) => return Err(failure(k, e, writes, started, &done)),
            }
        }
        Ok((group_heads, done))
    }

    /// After a group's rollback: records what must not be forgotten of the
    /// failed step, and says what happened to the run.
    async fn failed(
        &mut self,
        plan: &[Step],
        prepared: &[Arc<Prepared>],
        group: &Group,
        failure: StepFailure,
        applied: &[Applied],
    ) -> Error {
        let step = &plan[failure.at];
        let in_transaction = group.in_transaction();
        // What a rollback could not undo must not be forgotten. A revision
        // stopped at its time limit may have been stopped inside a
        // statement (a script whose DDL had committed, then a SLEEP): that
        // statement is in no list of writes, so it counts as one.
        let interrupted = matches!(failure.error, Error::Run(RunError::Timeout { .. }));
        let partial = (!failure.writes.is_empty() || interrupted)
            && (!in_transaction || !self.conn().transactional_ddl());
        if self.offline.is_none() && !self.dry_run {
            self.record_failed_history(
                step,
                &prepared[failure.at],
                &failure.error,
                &failure.writes,
                failure.started,
            )
            .await;
        }
        if partial {
            self.record_failure(step, &failure.error, failure.writes)
                .await;
        }
        Error::Step {
            source: Box::new(failure.error),
            revision: step.revision.clone(),
            applied: applied.iter().map(|a| a.revision.clone()).collect(),
            rolled_back: if in_transaction {
                failure.done
            } else {
                Vec::new()
            },
            partial,
        }
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
        let (conn, ledger) = self.parts();
        let failures = ledger.failures(conn).await?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Unresolved(failures))
        }
    }

    async fn record_failure(&mut self, step: &Step, error: &Error, statements: Vec<String>) {
        let failure = FailedRevision {
            revision: step.revision.clone(),
            direction: step.direction,
            failed_at: now_rfc3339(),
            error: error.to_string(),
            statements,
        };
        let (conn, ledger) = self.parts();
        if let Err(e) = ledger.record_failure(conn, &failure).await {
            // The error of the run says the revision failed part-way anyway.
            tracing::error!("cannot record that revision {} failed: {e}", step.revision);
        }
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
            .entry(&revision, Some(step.direction), Outcome::Failed, &started.0)
            .await;
        entry.checksum = revision.checksum().ok().map(|c| c.value);
        entry.component_hash = Some(component.hash.clone());
        entry.statements = i64::try_from(writes.len()).unwrap_or(i64::MAX);
        entry.duration_ms = i64::try_from(started.1.elapsed().as_millis()).unwrap_or(i64::MAX);
        entry.error = Some(error.to_string());
        let (conn, ledger) = self.parts();
        if let Err(e) = ledger.write_history(conn, &entry).await {
            // The run's own error says the revision failed anyway.
            tracing::error!(
                "cannot record in the audit log that {} failed: {e}",
                step.revision
            );
        }
    }

    fn prepare(&mut self, runtime: &Runtime, revision: &Revision) -> Result<Arc<Prepared>, Error> {
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
                let prepared = runtime.prepare(&revision.id, &format!("plugin {name}"), &plugin)?;
                self.plugins_prepared.insert(name.clone(), prepared.clone());
                Ok(prepared)
            }
            Runner::Component { file, .. } => {
                let bytes = revision.read_component()?;
                let origin = format!("versions/{}/{file}", revision.dir_name);
                Ok(runtime.prepare(&revision.id, &origin, &bytes)?)
            }
        }
    }

    /// Runs one step inside whatever transaction the caller opened (or the
    /// step opens and closes, by `ends`): its version-table change, the
    /// revision's component and its audit records. On failure the writes
    /// that succeeded come back with the error.
    async fn run_step(
        &mut self,
        runtime: &Runtime,
        step: &Step,
        component: &Prepared,
        mode: TransactionMode,
        ends: Ends,
        heads_after: &[String],
    ) -> Result<Applied, (Error, Vec<String>)> {
        let revision = self.revision(&step.revision).map_err(|e| (e, Vec::new()))?;
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
        // The directory is read and archived before the revision runs: what
        // is stored is what ran, and a directory that cannot be read (a FIFO
        // in it would block) stops the step before the guest starts.
        let mut entry = None;
        let mut artifact = None;
        if self.offline.is_none() {
            let outcome = match step.direction {
                Direction::Upgrade => Outcome::Applied,
                Direction::Downgrade => Outcome::Reverted,
            };
            let mut e = self
                .entry(&revision, Some(step.direction), outcome, &started_at)
                .await;
            artifact = Some(
                self.revision_artifact(&revision, &mut e)
                    .map_err(|e| (e, Vec::new()))?,
            );
            entry = Some(e);
        }
        if ends.fold {
            // Checked before the revision runs: a version table another
            // runner moved stops the step before it does anything.
            self.write_records(head_changes(&step.change), Vec::new(), ends.begin, false)
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
        let (conn, writes, result) = runtime.run(component, &job, conn).await;
        self.conn = Some(conn);
        let stats = result.map_err(|e| (e.into(), writes.clone()))?;

        // What the audit log keeps of the step (and the version-table change,
        // unless it went first): in the revision's transaction, so a
        // rollback takes the record with it and the log never claims what
        // did not happen.
        let mut records = Vec::new();
        if let Some(mut entry) = entry {
            entry.component_hash = Some(component.hash.clone());
            entry.statements = i64::try_from(stats.statements).unwrap_or(i64::MAX);
            entry.rows = i64::try_from(stats.rows).unwrap_or(i64::MAX);
            entry.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            entry.finished_at = now_rfc3339();
            // The history row first: it checks that the revision left
            // aludel's tables as they were, before the host adds to them.
            let history = self
                .history_record(&entry, Some(heads_after))
                .map_err(|e| (e, writes.clone()))?;
            records.push(history);
            records.extend(artifact);
            records.extend(self.plugin_artifact(&revision, component));
        }
        let changes = if ends.fold {
            Vec::new()
        } else {
            head_changes(&step.change)
        };
        if let Err(e) = self
            .write_records(changes, records, false, ends.commit)
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
        let found = self.current().await?;
        let mut expected = expected.to_vec();
        expected.sort();
        if found != expected {
            return Err(Error::ConcurrentChange { expected, found });
        }
        Ok(())
    }
}
