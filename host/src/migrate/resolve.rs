//! `resolve`: the end of a revision's failed state, after an operator has
//! looked at the database and completed or undone what it left.

use super::{Begin, End, Migrator};
use crate::error::Error;
use crate::graph::{Direction, GraphError, Step, resolve_prefix};
use crate::ledger::{FailedRevision, Outcome, head_changes, now_rfc3339};

impl Migrator<'_> {
    /// Clears the failure of `revision` (an id or a unique prefix of a
    /// failed one) after an operator dealt with it: `applied` when they
    /// completed it by hand (the version table then records it as the step
    /// it was), otherwise when they undid what it applied (the version
    /// table stays as it is). Returns the heads after it, sorted.
    pub async fn resolve(&mut self, revision: &str, applied: bool) -> Result<Vec<String>, Error> {
        let (conn, ledger) = self.parts();
        let failures = ledger.failures(conn).await?;
        let id = resolve_prefix(revision, failures.iter().map(|f| f.revision.as_str()))
            .map_err(|e| match e {
                GraphError::UnknownRevision(_) => Error::NotFailed(revision.to_string()),
                other => other.into(),
            })?
            .to_string();
        let Some(failure) = failures.into_iter().find(|f| f.revision == id) else {
            return Err(Error::NotFailed(revision.to_string()));
        };
        let mut heads = self.current().await?;
        let step = if applied {
            Some(self.completed_step(&failure, &heads)?)
        } else {
            None
        };
        let (conn, ledger) = self.parts();
        ledger.ensure_audit_tables(conn).await?;
        self.transaction(Begin::Now, End::Commit, async |m: &mut Self| {
            m.record_resolution(&failure, step.as_ref()).await
        })
        .await?;
        if let Some(step) = step {
            step.apply(&mut heads);
        }
        heads.sort();
        Ok(heads)
    }

    /// The one step a revision completed by hand stands for: its upgrade,
    /// or its downgrade to its parents. Refused unless it is the next step
    /// from the version table as it is.
    fn completed_step(&self, failure: &FailedRevision, heads: &[String]) -> Result<Step, Error> {
        let plan = match failure.direction {
            Direction::Upgrade => self.graph.upgrade_plan(heads, &failure.revision)?,
            Direction::Downgrade => {
                let node = self.graph.get(&failure.revision);
                let target = match node.map(|n| n.parents.as_slice()) {
                    Some([]) | None => "base".to_string(),
                    Some([parent]) => parent.clone(),
                    Some(_) => format!("{}-1", failure.revision),
                };
                self.graph.downgrade_plan(heads, &target)?
            }
        };
        match <[Step; 1]>::try_from(plan) {
            Ok([step]) => Ok(step),
            Err(plan) => Err(Error::ResolveNotNext {
                revision: failure.revision.clone(),
                steps: plan.iter().map(|s| s.revision.clone()).collect(),
            }),
        }
    }

    /// In one transaction: the version-table change of a revision completed
    /// by hand (`step`), an audit row saying how the failure was resolved,
    /// and the end of the failed state.
    async fn record_resolution(
        &mut self,
        failure: &FailedRevision,
        step: Option<&Step>,
    ) -> Result<(), Error> {
        let started_at = now_rfc3339();
        let revision = self.revision(&failure.revision)?;
        let direction = failure.direction;
        let mut entry = self
            .entry(&revision, Some(direction), Outcome::Resolved, &started_at)
            .await;
        if let Some(step) = step {
            let mut records = Vec::new();
            if direction == Direction::Upgrade {
                records.push(self.revision_artifact(&revision, &mut entry)?);
            }
            entry.error = Some("resolved by hand: completed (--applied)".to_string());
            records.push(self.history_record(&entry, None)?);
            self.write_records(head_changes(&step.change), records, false, false)
                .await?;
        } else {
            entry.error = Some("resolved by hand: undone (--rolled-back)".to_string());
            let (conn, ledger) = self.parts();
            ledger.write_history(conn, &entry).await?;
        }
        let (conn, ledger) = self.parts();
        ledger.clear_failure(conn, &failure.revision).await?;
        // A batched revision resolved by hand does not resume: undone, it
        // starts over; completed, it has nothing left to do.
        let table = self.ledger.sql_table().to_string();
        crate::ledger::batches::discard(self.conn(), &table, &failure.revision)
            .await
            .map_err(|e| Error::database("discarding the batch position", e))?;
        Ok(())
    }
}
