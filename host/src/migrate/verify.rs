//! Applied revisions against their recorded checksums: `verify`, `accept`,
//! and the check every run makes before it plans.

use std::collections::BTreeMap;

use super::{Begin, End, Migrator};
use crate::error::Error;
use crate::ledger::{HistoryEntry, Integrity, Mismatch, Outcome, applied_records, now_rfc3339};
use crate::project::checksum;

impl Migrator<'_> {
    /// Every row of the audit log, oldest first.
    pub async fn audit_log(&mut self) -> Result<Vec<HistoryEntry>, Error> {
        let (conn, ledger) = self.parts();
        ledger.audit_log(conn).await
    }

    /// Every applied revision present on disk whose directory no longer
    /// matches the checksum recorded last.
    pub async fn verify(&mut self) -> Result<Vec<Mismatch>, Error> {
        let entries = self.audit_log().await?;
        let applied = applied_records(&entries);
        self.mismatches(&applied).await
    }

    /// `aludel verify`'s check of the ledger itself: the audit log's hash
    /// chain and every stored artifact against its hash.
    pub async fn verify_ledger(&mut self) -> Result<Integrity, Error> {
        let (conn, ledger) = self.parts();
        ledger.check_integrity(conn).await
    }

    /// Before a run: reads the audit log, refuses when an applied
    /// revision's directory changed, and adds the applied revisions whose
    /// directory is gone to the graph from their stored artifacts. Offline
    /// there is no log to read: nothing is verified (see docs/operations.md).
    pub(super) async fn check_history(&mut self) -> Result<(), Error> {
        if self.offline.is_some() {
            return Ok(());
        }
        // Asked before any transaction: who runs goes into every row.
        let (conn, ledger) = self.parts();
        ledger.who(conn).await;
        let entries = self.audit_log().await?;
        // Read anyway: checking its chain costs no round trip. A break is
        // refused: the log is what says which revisions ran, and a log
        // that something else changed may have changed what the version
        // table says too (a revision on MySQL whose SQL aludel could not
        // read, anything outside aludel).
        let breaks = crate::ledger::chain::check(&entries).breaks;
        if !breaks.is_empty() {
            return Err(Error::AuditLogAltered(
                breaks.iter().map(ToString::to_string).collect(),
            ));
        }
        let applied = applied_records(&entries);
        let mismatches = self.mismatches(&applied).await?;
        if !mismatches.is_empty() {
            return Err(Error::Changed(mismatches));
        }
        self.add_stored(&applied).await
    }

    async fn mismatches(
        &mut self,
        applied: &BTreeMap<String, HistoryEntry>,
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

    /// `aludel accept --audit-log`: accepts the audit log as it reads now,
    /// with a `resealed` row that seals every row before it and lists the
    /// breaks it accepts (see [`crate::ledger::chain`]). Returns those
    /// breaks; none (and nothing written) when the chain is whole.
    pub async fn accept_audit_log(&mut self) -> Result<Vec<String>, Error> {
        let entries = self.audit_log().await?;
        let breaks: Vec<String> = crate::ledger::chain::check(&entries)
            .breaks
            .iter()
            .map(ToString::to_string)
            .collect();
        if breaks.is_empty() {
            return Ok(breaks);
        }
        let (conn, ledger) = self.parts();
        ledger.ensure_audit_tables(conn).await?;
        let who = ledger.who(conn).await;
        let now = now_rfc3339();
        let entry = HistoryEntry {
            revision: crate::ledger::AUDIT_LOG_ROW.to_string(),
            direction: None,
            outcome: Outcome::Resealed,
            checksum: Some(crate::ledger::chain::seal(&entries)),
            db_user: who.db_user,
            os_user: who.os_user,
            host: who.host,
            aludel_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now.clone(),
            finished_at: now,
            error: Some(format!("accepted as it read:\n{}", breaks.join("\n"))),
            ..HistoryEntry::default()
        };
        self.transaction(Begin::Now, End::Commit, async |m: &mut Self| {
            let records = vec![m.history_record(&entry, None)?];
            m.write_records(Vec::new(), records, false, false).await
        })
        .await?;
        Ok(breaks)
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
        let applied = applied_records(&entries);
        let Some(recorded) = applied.get(id) else {
            return Err(Error::NotApplied(id.clone()));
        };
        let now = revision.checksum()?;
        if recorded.checksum.as_deref() == Some(now.value.as_str()) {
            return Ok(None);
        }
        let (conn, ledger) = self.parts();
        ledger.ensure_audit_tables(conn).await?;
        ledger.who(conn).await;
        self.transaction(Begin::Now, End::Commit, async |m: &mut Self| {
            let started = now_rfc3339();
            let mut entry = m.entry(&revision, None, Outcome::Accepted, &started).await;
            let artifact = m.revision_artifact(&revision, &mut entry)?;
            let records = vec![m.history_record(&entry, None)?, artifact];
            m.write_records(Vec::new(), records, false, false).await
        })
        .await?;
        Ok(Some(now.value))
    }
}
