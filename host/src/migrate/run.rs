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
use crate::progress::RevisionStart;
use crate::project::{Revision, Runner, TransactionMode, checksum};
use crate::runtime::{FailedStateHook, Job, Prepared, Runtime};

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
    /// The revision ended the transaction aludel opened for it (the
    /// backend's second line found it): what it did before is committed.
    ended: bool,
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
        self.prepare_batched(&plan).await?;
        self.refuse_if_failed().await?;
        self.refuse_if_alembic_manages(&plan).await?;
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
        if !plan.is_empty()
            && !self.dry_run
            && self.offline.is_none()
            && (!transactional_ddl || modes.contains(&TransactionMode::None))
        {
            // The failed state may be recorded before a revision's body
            // (transaction = "none") or inside its transaction (MySQL): the
            // table is made first, outside any transaction.
            let table = self.ledger.sql_table().to_string();
            crate::ledger::failed::ensure_table(self.conn(), &table)
                .await
                .map_err(|e| Error::database("creating the failed-state table", e))?;
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
        let fk_off = self.foreign_keys_off(&plan, &modes)?;
        let mut applied: Vec<Applied> = Vec::with_capacity(plan.len());
        for (g, mut group) in plan::groups(&modes, setting).into_iter().enumerate() {
            let isolate = fk_off[group.steps.clone()].contains(&true);
            if isolate {
                // PRAGMA foreign_keys only takes effect outside a
                // transaction: the group gets BEGIN and COMMIT of its own,
                // with the check between the body and the commit.
                group.fold = false;
                group.begin = super::Begin::Now;
                if group.end == super::End::InBody {
                    group.end = super::End::Commit;
                }
                self.conn()
                    .execute_script("PRAGMA foreign_keys = OFF")
                    .await
                    .map_err(|e| Error::database("turning foreign keys off", e))?;
                self.check_foreign_keys = true;
            }
            let (begin, end) = (group.begin, group.end);
            let result = self
                .transaction(begin, end, async |m: &mut Self| {
                    m.run_group(runtime, &plan, &prepared, &group, &heads, g == 0)
                        .await
                })
                .await;
            if isolate {
                self.check_foreign_keys = false;
                if let Err(e) = self.conn().execute_script("PRAGMA foreign_keys = ON").await {
                    tracing::warn!("turning foreign keys back on failed: {e}");
                }
            }
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
                ended: false,
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
            let message = self.revision(&plan[k].revision).map(|r| r.message);
            self.progress.revision_started(&RevisionStart {
                index: k + 1,
                count: plan.len(),
                revision: &plan[k].revision,
                message: message.as_deref().unwrap_or(""),
                direction: plan[k].direction,
                dry_run: self.dry_run,
            });
            let result = self
                .run_step(
                    runtime,
                    &plan[k],
                    &prepared[k],
                    group.mode,
                    group.ends_of(k),
                    &after,
                )
                .await;
            self.progress
                .revision_finished(&plan[k].revision, result.is_ok());
            match result {
                Ok(step) => {
                    plan[k].apply(&mut group_heads);
                    done.push(step);
                }
                Err((e, writes)) => {
                    let ended = group.in_transaction() && self.transaction_was_ended(&e).await;
                    let mut failed = failure(k, e, writes, started, &done);
                    if let GroupError::Step(f) = &mut failed {
                        f.ended = ended;
                    }
                    return Err(failed);
                }
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
        let online = self.offline.is_none() && !self.dry_run;
        // What a rollback could not undo must not be forgotten. Outside a
        // transaction: any write. On MySQL: whatever an implicit commit
        // carried, which carried the failed state recorded before it, so
        // the row tells (the rollback took it away otherwise).
        let implicit_commit = if in_transaction && !self.conn().transactional_ddl() && online {
            let (conn, ledger) = self.parts();
            match ledger.failures(conn).await {
                Ok(failures) => failures.iter().any(|f| f.revision == step.revision),
                Err(_) => !failure.writes.is_empty(),
            }
        } else {
            false
        };
        let mut failure = failure;
        let mut batches_kept = false;
        if group.mode == TransactionMode::Batched && online {
            let error = std::mem::replace(&mut failure.error, Error::Internal(String::new()));
            (failure.error, batches_kept) = self.batches_kept(step, error).await;
        }
        let partial = failure.ended
            || implicit_commit
            || batches_kept
            || (!failure.writes.is_empty() && !in_transaction);
        if !partial && !in_transaction && online {
            // The failed state recorded before the body: nothing stands.
            let (conn, ledger) = self.parts();
            if let Err(e) = ledger.clear_failure(conn, &step.revision).await {
                tracing::error!("cannot clear the failed state of {}: {e}", step.revision);
            }
        }
        if failure.ended
            && !matches!(&failure.error, Error::Database { source, .. } if source.is_transaction_ended())
        {
            // The failure was found to have ended the transaction: say so
            // first, with what failed.
            let how = format!("found when it failed: {}", failure.error);
            failure.error = Error::database(
                "running the revision",
                crate::db::DbError::transaction_ended(&how),
            );
        }
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
    /// Which steps run with foreign keys off; refused where that cannot
    /// be honoured (not SQLite, or no transaction to check them in).
    fn foreign_keys_off(
        &mut self,
        plan: &[Step],
        modes: &[TransactionMode],
    ) -> Result<Vec<bool>, Error> {
        let mut out = Vec::with_capacity(plan.len());
        for (step, mode) in plan.iter().zip(modes) {
            let off = !self.revision(&step.revision)?.foreign_keys;
            if off && self.dialect != crate::db::Dialect::Sqlite {
                return Err(Error::ForeignKeysOff {
                    revision: step.revision.clone(),
                    why: format!("only SQLite has it, and this database is {}", self.dialect),
                });
            }
            if off && self.offline.is_some() {
                // The script could not check the keys before its COMMIT:
                // applied by hand, a broken key would be committed.
                return Err(Error::ForeignKeysOff {
                    revision: step.revision.clone(),
                    why: "an offline script cannot check foreign keys before it commits; \
                          run this revision online (without --sql)"
                        .into(),
                });
            }
            if off && *mode == TransactionMode::None {
                return Err(Error::ForeignKeysOff {
                    revision: step.revision.clone(),
                    why:
                        "it also sets transaction = \"none\", and the foreign-key check needs the \
                          transaction to roll back"
                            .into(),
                });
            }
            out.push(off);
        }
        Ok(out)
    }

    pub(super) fn mode_of(&mut self, id: &str) -> Result<TransactionMode, Error> {
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
    /// A plan against a database only Alembic manages would start again
    /// from base: refused before anything is written.
    async fn refuse_if_alembic_manages(&mut self, plan: &[Step]) -> Result<(), Error> {
        if plan.is_empty() || self.offline.is_some() {
            return Ok(());
        }
        let (conn, ledger) = self.parts();
        let alembic_only = ledger
            .managed_by_alembic_only(conn)
            .await
            .map_err(|e| Error::database("looking for Alembic's version table", e))?;
        if alembic_only {
            return Err(Error::ManagedByAlembic);
        }
        Ok(())
    }

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
        // Which revision starts is the run's observer's to say (see
        // `Migrator::progress`); this is said however the run is shown,
        // since a failure of such a revision cannot be rolled back.
        if mode == TransactionMode::None && !self.dry_run {
            tracing::info!("{} runs outside a transaction", revision.id);
        }

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
        // in it would block) stops the step before the guest starts. One
        // walk serves the archive and the guest's view of it.
        let (files, gaps) = revision
            .files_noting_gaps()
            .map_err(|e| (e.into(), Vec::new()))?;
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
            artifact = Some(self.artifact_of(&files, &mut e));
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
        // The guest reads only what its checksum and archive cover.
        let view = checksum::guest_view_of(&files, gaps, &revision.shown_dir())
            .map_err(|e| (e.into(), Vec::new()))?;
        drop(files);
        let own_tables = crate::ledger::protected_tables(self.ledger.version_table());
        let failed_state = self
            .failed_state_first(step, mode)
            .await
            .map_err(|e| (e, Vec::new()))?;
        let batching = self
            .batching_of(&revision, step.direction, mode)
            .await
            .map_err(|e| (e, Vec::new()))?;
        let job = Job {
            revision: &revision.id,
            dir: view.as_ref().map_or(revision.dir.as_path(), |v| v.path()),
            direction: step.direction,
            args: &args,
            offline: self.offline.is_some(),
            own_tables: &own_tables,
            failed_state: failed_state.clone(),
            untrusted: self.untrusted,
            progress: self.progress.clone(),
            batching,
        };
        let conn = self.conn.take().expect("the migrator holds its connection");
        let (conn, writes, result) = runtime.run(component, &job, conn).await;
        self.conn = Some(conn);
        let stats = result.map_err(|e| (e.into(), writes.clone()))?;
        if stats.unreadable > 0 && self.offline.is_none() {
            // SQL the judge could not read ran (MySQL): what the history
            // row's check does not cover is checked whole, in the revision's
            // transaction, before anything is written.
            let (conn, ledger) = self.parts();
            ledger
                .deep_check(conn, &revision.id)
                .await
                .map_err(|e| (e, writes.clone()))?;
        }

        // What the audit log keeps of the step (and the version-table change,
        // unless it went first): in the revision's transaction, so a
        // rollback takes the record with it and the log never claims what
        // did not happen.
        let mut records = Vec::new();
        let recorded_before = mode == TransactionMode::None
            || failed_state.as_ref().is_some_and(|hook| hook.written());
        if recorded_before && self.offline.is_none() && !self.dry_run {
            // It succeeded: the failed state recorded for a crash goes, with
            // the records (one more statement, only for such revisions), and
            // first: the history row's check counts the failed state as it
            // was before the revision.
            let table = self.ledger.sql_table().to_string();
            records.push(super::records::Record {
                statement: crate::ledger::failed::clear_statement(
                    self.dialect,
                    &table,
                    &revision.id,
                ),
                what: "clearing the failed state recorded before the revision",
                artifact: false,
                guard: None,
            });
        }
        if mode == TransactionMode::Batched && self.offline.is_none() && !self.dry_run {
            // Done: its position goes with the version-table change.
            records.push(self.batches_done(&revision.id, step.direction));
        }
        if let Some(mut entry) = entry {
            entry.component_hash = Some(component.hash.clone());
            entry.statements = i64::try_from(stats.statements).unwrap_or(i64::MAX);
            entry.rows = i64::try_from(stats.rows).unwrap_or(i64::MAX);
            entry.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            entry.finished_at = now_rfc3339();
            // The history row before the artifacts: it checks that the
            // revision left aludel's tables as they were, before the host
            // adds to them.
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
        // Outside a transaction the records still go in one: a check that
        // fails must leave the version table as it was, not moved by the
        // batch's first statement in autocommit.
        let alone = mode == TransactionMode::None && self.offline.is_none();
        if alone && let Err(e) = self.conn().begin().await {
            return Err((
                Error::database("starting the records' transaction", e),
                writes,
            ));
        }
        let mut written = self
            .write_records(changes, records, false, ends.commit)
            .await;
        if alone {
            written = match written {
                Ok(()) => self
                    .conn()
                    .commit()
                    .await
                    .map_err(|e| Error::database("committing the records", e)),
                Err(e) => {
                    self.rollback().await;
                    Err(e)
                }
            };
        }
        if let Err(e) = written {
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

impl Migrator<'_> {
    /// The failed state a crash must find, for a revision whose effects a
    /// rollback may not undo: written now, before the body, for one that
    /// runs outside a transaction; handed to the broker, to run before the
    /// first statement that may commit implicitly, on MySQL. None for a dry
    /// run, offline, or where a rollback undoes everything.
    async fn failed_state_first(
        &mut self,
        step: &Step,
        mode: TransactionMode,
    ) -> Result<Option<Arc<FailedStateHook>>, Error> {
        if self.offline.is_some() || self.dry_run {
            return Ok(None);
        }
        let outside = mode == TransactionMode::None;
        if !outside && self.conn().transactional_ddl() {
            return Ok(None);
        }
        let failure = FailedRevision {
            revision: step.revision.clone(),
            direction: step.direction,
            failed_at: now_rfc3339(),
            error: format!(
                "revision {} did not finish: it was stopped (the runner was killed or lost its \
                 connection) after {}, so some of its statements may be committed",
                step.revision,
                if outside {
                    "it began outside a transaction (transaction = \"none\")"
                } else {
                    "a statement that commits implicitly (MySQL DDL, CALL or EXECUTE)"
                }
            ),
            statements: Vec::new(),
        };
        if outside {
            let (conn, ledger) = self.parts();
            ledger.record_failure_before_body(conn, &failure).await?;
            return Ok(None);
        }
        let table = self.ledger.sql_table().to_string();
        Ok(Some(FailedStateHook::new(
            crate::ledger::failed::record_statements(self.dialect, &table, &failure),
        )))
    }

    /// Whether the failure `e` of a step, or the backend's check, says the
    /// step's revision ended the transaction aludel opened for it. Asked
    /// before the rollback (a round trip only where a revision failed).
    async fn transaction_was_ended(&mut self, e: &Error) -> bool {
        if let Error::Database { source, .. } = e
            && source.is_transaction_ended()
        {
            return true;
        }
        match self.conn().transaction_ended().await {
            Ok(ended) => ended,
            Err(err) => {
                tracing::debug!("cannot check whether the transaction is the one begun: {err}");
                false
            }
        }
    }
}
