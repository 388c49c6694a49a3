//! The `batches` interface (aludel:migration@0.2.0): a revision with
//! `transaction = "batched"` commits its work a batch at a time, each
//! commit carrying the batch's position into aludel's table of positions
//! (ledger::batches), so that a run stopped by a failure or a crash resumes
//! after the last committed batch (docs/backfills.md).
//!
//! The migrator opens the first transaction and commits the last (with the
//! version-table change and the audit records); `commit-batch` commits the
//! ones between, here, on the broker's connection.

use std::time::{Duration, Instant};

use super::bindings::{batches, types};
use super::host::HostState;
use crate::db::DbError;
use crate::graph::Direction;
use crate::ledger::batches::{Position, record_statements};
use crate::project::BatchSettings;

/// What the migrator tells the runtime of a batched revision's run.
#[derive(Debug, Clone)]
pub struct Batching {
    /// The version table as aludel's statements name it (`Ledger::sql_table`).
    pub version_table: String,
    pub revision: String,
    pub direction: Direction,
    pub settings: BatchSettings,
    /// Where an earlier run of this revision and direction stopped.
    pub resume: Option<Position>,
}

/// The batches of one run, as the store holds them.
pub struct Batches {
    job: Batching,
    /// Rows and batches committed, earlier runs included.
    rows: u64,
    batches: u64,
    /// Batches this run committed.
    pub(super) committed: u64,
    /// When the current batch began, for `rows_per_second`.
    since: Instant,
}

impl Batches {
    pub fn new(job: Batching) -> Self {
        let (rows, batches) = job.resume.as_ref().map_or((0, 0), |p| (p.rows, p.batches));
        Batches {
            job,
            rows,
            batches,
            committed: 0,
            since: Instant::now(),
        }
    }

    /// How long to wait after a batch of `rows` that took `took`.
    fn throttle(&self, rows: u64, took: Duration) -> Duration {
        let pause = Duration::from_millis(self.job.settings.pause_ms);
        let paced = match self.job.settings.rows_per_second {
            Some(rate) if rate > 0 => {
                Duration::from_secs_f64(rows as f64 / rate as f64).saturating_sub(took)
            }
            _ => Duration::ZERO,
        };
        pause + paced
    }
}

fn refused(message: String) -> types::DbError {
    types::DbError {
        message,
        code: None,
    }
}

impl batches::Host for HostState {
    async fn resume_position(&mut self) -> wasmtime::Result<Option<types::Value>> {
        Ok(self
            .batches
            .as_ref()
            .and_then(|b| b.job.resume.as_ref())
            .map(|p| p.position.clone().into()))
    }

    async fn batch_size(&mut self) -> wasmtime::Result<u32> {
        Ok(self
            .batches
            .as_ref()
            .map_or(BatchSettings::default().size, |b| b.job.settings.size))
    }

    async fn commit_batch(
        &mut self,
        position: types::Value,
        rows: u64,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        let revision = self.broker.revision().to_string();
        let Some(batches) = self.batches.as_mut() else {
            return Ok(Err(refused(format!(
                "revision {revision}: commit-batch is only for revisions with \
                 transaction = \"batched\" in their revision.toml (and not offline or in a dry \
                 run); this one runs in one transaction"
            ))));
        };
        if let Some(failed) = self.broker.failed() {
            // Committing now would keep half of a failed batch.
            return Ok(Err(refused(format!(
                "revision {revision}: a statement of this batch failed ({}), so the batch \
                 cannot be committed",
                failed.error.message
            ))));
        }
        if self.broker.has_open_cursors() {
            // PostgreSQL closes a cursor at COMMIT; none may outlive its batch.
            return Ok(Err(refused(format!(
                "revision {revision}: close its cursors before committing a batch"
            ))));
        }
        batches.rows = batches.rows.saturating_add(rows);
        batches.batches += 1;
        let at = Position {
            revision: batches.job.revision.clone(),
            direction: batches.job.direction,
            position: position.into(),
            rows: batches.rows,
            batches: batches.batches,
            updated_at: crate::ledger::now_rfc3339(),
            failure: None,
        };
        let took = batches.since.elapsed();
        let wait = batches.throttle(rows, took);
        let conn = self.broker.connection();
        let statements = record_statements(conn.dialect(), &batches.job.version_table, &at);
        // The host's own statements: the guest's confinement (SQLite's
        // authorizer refuses COMMIT and writes to aludel's tables) is off
        // for them, and on again before the guest's next statement. A
        // failure here traps: the revision fails and is rolled back to its
        // last committed batch.
        let host = |what: &str, e: DbError| {
            wasmtime::Error::msg(format!("revision {revision}: {what}: {e}"))
        };
        conn.guest_statements(false)
            .await
            .map_err(|e| host("ending the confinement of its batch", e))?;
        for s in statements {
            conn.execute(&s.sql, s.params)
                .await
                .map_err(|e| host("recording the position of its batch", e))?;
        }
        conn.commit()
            .await
            .map_err(|e| host("committing its batch", e))?;
        batches.committed += 1;
        tracing::info!(
            "revision {revision}: batch {} committed ({} rows so far)",
            batches.batches,
            batches.rows
        );
        let rows_so_far = batches.rows;
        // The batched mode reports its progress by itself: rows committed.
        super::bindings::progress::Host::report(self, rows_so_far, None).await?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let conn = self.broker.connection();
        conn.begin()
            .await
            .map_err(|e| host("starting its next batch", e))?;
        conn.guest_statements(true)
            .await
            .map_err(|e| host("confining its next batch", e))?;
        if let Some(batches) = self.batches.as_mut() {
            batches.since = Instant::now();
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(rows_per_second: Option<u64>, pause_ms: u64) -> Batches {
        Batches::new(Batching {
            version_table: "aludel_version".into(),
            revision: "r".into(),
            direction: Direction::Upgrade,
            settings: BatchSettings {
                size: 100,
                rows_per_second,
                pause_ms,
            },
            resume: None,
        })
    }

    #[test]
    fn the_throttle_paces_rows_per_second_and_adds_the_pause() {
        let b = batches(Some(100), 0);
        assert_eq!(
            b.throttle(100, Duration::from_millis(250)),
            Duration::from_millis(750)
        );
        assert_eq!(b.throttle(100, Duration::from_secs(2)), Duration::ZERO);
        let b = batches(Some(100), 50);
        assert_eq!(b.throttle(50, Duration::ZERO), Duration::from_millis(550));
        assert_eq!(
            batches(None, 0).throttle(1_000_000, Duration::ZERO),
            Duration::ZERO
        );
    }
}
