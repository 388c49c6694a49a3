//! `stamp`: the version table set to targets without running any revision,
//! as the same steps a migration would take, only their version-table
//! changes and audit rows applied (Alembic's stamp).

use super::{Begin, End, Migrator};
use crate::error::Error;
use crate::graph::Direction;
use crate::ledger::{Outcome, head_changes, now_rfc3339};

impl Migrator<'_> {
    /// Sets the version table to `targets` without running any revision, in
    /// one transaction. With `purge` the table is emptied first, even of
    /// ids this project does not know. Returns the heads after it, sorted.
    pub async fn stamp(&mut self, targets: &[String], purge: bool) -> Result<Vec<String>, Error> {
        // Before the transaction: creating a table commits on MySQL.
        let (conn, ledger) = self.parts();
        ledger.ensure_audit_tables(conn).await?;
        self.transaction(Begin::Now, End::Commit, async |m: &mut Self| {
            m.stamp_in_transaction(targets, purge).await
        })
        .await
    }

    async fn stamp_in_transaction(
        &mut self,
        targets: &[String],
        purge: bool,
    ) -> Result<Vec<String>, Error> {
        let mut heads = if purge {
            let (conn, ledger) = self.parts();
            ledger.purge_version_table(conn).await?;
            Vec::new()
        } else {
            self.current().await?
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
                    .entry(&revision, Some(step.direction), Outcome::Stamped, &started)
                    .await;
                // The directory as it is now: what the stamp declares applied.
                if step.direction == Direction::Upgrade {
                    records.push(self.revision_artifact(&revision, &mut entry)?);
                }
                records.push(self.history_record(&entry, None)?);
            }
            self.write_records(head_changes(&step.change), records, false, false)
                .await?;
            step.apply(&mut heads);
        }
        if plan.is_empty() {
            // Creating the table is the one write a no-op stamp still makes,
            // as Alembic's: the database is then marked as managed.
            let (conn, ledger) = self.parts();
            ledger.ensure_version_table(conn).await?;
        }
        heads.sort();
        Ok(heads)
    }
}
