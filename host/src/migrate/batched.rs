//! Batched revisions (`transaction = "batched"`, docs/backfills.md), as the
//! migrator sees them: before a run, a batched revision that stopped with
//! committed batches is taken up again instead of refused; for its run, the
//! position it resumes from; after its failure, what stays committed.

use super::Migrator;
use crate::error::Error;
use crate::graph::{Direction, Step};
use crate::ledger::batches;
use crate::project::{Revision, TransactionMode};
use crate::runtime::Batching;

impl Migrator<'_> {
    /// Before a plan runs: refuses a dry run of a batched revision (its
    /// batches commit), makes the table of positions (outside any
    /// transaction: DDL commits implicitly on MySQL), and clears the failed
    /// state of each batched revision of the plan that has a position to
    /// resume from: it was made to be re-entered, so the run takes it up
    /// again after its last committed batch rather than refusing.
    pub(super) async fn prepare_batched(&mut self, plan: &[Step]) -> Result<(), Error> {
        let mut batched = Vec::new();
        for step in plan {
            if self.mode_of(&step.revision)? == TransactionMode::Batched {
                batched.push(step);
            }
        }
        if batched.is_empty() || self.offline.is_some() {
            return Ok(());
        }
        if self.dry_run {
            return Err(Error::DryRunRefused(format!(
                "revision {} is batched (transaction = \"batched\"): its batches commit as it \
                 runs, so a dry run could not roll it back",
                batched[0].revision
            )));
        }
        let table = self.ledger.sql_table().to_string();
        batches::ensure_table(self.conn(), &table)
            .await
            .map_err(|e| Error::database("creating the table of batch positions", e))?;
        let positions = batches::list(self.conn(), &table)
            .await
            .map_err(|e| Error::database("reading the batch positions", e))?;
        let failures = {
            let (conn, ledger) = self.parts();
            ledger.failures(conn).await?
        };
        for failure in failures {
            let resumable = batched
                .iter()
                .any(|s| s.revision == failure.revision && s.direction == failure.direction)
                && positions
                    .iter()
                    .any(|p| p.revision == failure.revision && p.direction == failure.direction);
            if resumable {
                tracing::info!(
                    "revision {} failed after committing some of its batches: resuming it",
                    failure.revision
                );
                let (conn, ledger) = self.parts();
                ledger.clear_failure(conn, &failure.revision).await?;
            }
        }
        Ok(())
    }

    /// What the runtime needs for a batched revision's run: none for
    /// another mode, offline or in a dry run.
    pub(super) async fn batching_of(
        &mut self,
        revision: &Revision,
        direction: Direction,
        mode: TransactionMode,
    ) -> Result<Option<Batching>, Error> {
        if mode != TransactionMode::Batched || self.offline.is_some() || self.dry_run {
            return Ok(None);
        }
        let table = self.ledger.sql_table().to_string();
        let resume = batches::find(self.conn(), &table, &revision.id, direction)
            .await
            .map_err(|e| Error::database("reading the batch position", e))?;
        if let Some(at) = &resume {
            tracing::info!(
                "revision {}: resuming after batch {} ({} rows committed, position {})",
                revision.id,
                at.batches,
                at.rows,
                batches::position_to_json(&at.position)
            );
        }
        Ok(Some(Batching {
            version_table: table,
            revision: revision.id.clone(),
            direction,
            settings: revision.batch,
            resume,
        }))
    }

    /// The statement that forgets a batched revision's position, for the
    /// records of its last transaction: it is done.
    pub(super) fn batches_done(
        &self,
        revision: &str,
        direction: Direction,
    ) -> super::records::Record {
        super::records::Record {
            statement: batches::clear_statement(
                self.dialect,
                self.ledger.sql_table(),
                revision,
                Some(direction),
            ),
            what: "forgetting the position of the batched revision",
            artifact: false,
            guard: None,
        }
    }

    /// After a batched revision failed and its last batch was rolled back:
    /// if batches of it stay committed, notes the failure on its position
    /// and says so in the error; the caller records the failed state.
    pub(super) async fn batches_kept(&mut self, step: &Step, error: Error) -> (Error, bool) {
        let table = self.ledger.sql_table().to_string();
        let found = batches::find(self.conn(), &table, &step.revision, step.direction).await;
        let Ok(Some(at)) = found else {
            return (error, false);
        };
        let text = error.to_string();
        if let Err(e) = batches::note_failure(
            self.conn(),
            &table,
            &step.revision,
            step.direction,
            &text,
            &crate::ledger::now_rfc3339(),
        )
        .await
        {
            tracing::error!(
                "cannot note the failure on the position of {}: {e}",
                step.revision
            );
        }
        let error = Error::BatchesKept {
            source: Box::new(error),
            revision: step.revision.clone(),
            verb: match step.direction {
                Direction::Upgrade => "upgrade",
                Direction::Downgrade => "downgrade",
            },
            batches: at.batches,
            rows: at.rows,
            position: batches::position_to_json(&at.position),
        };
        (error, true)
    }
}
