//! What a step writes beside its revision: its version-table change and
//! its audit records (the history row, the revision's archive, the plugin
//! that ran it), sent as one batch so that they cost one round trip.

use super::Migrator;
use crate::db::{BatchStage, Statement};
use crate::error::Error;
use crate::graph::Direction;
use crate::ledger::{ArtifactKind, HeadChange, HistoryEntry, Outcome, now_rfc3339};
use crate::plugins;
use crate::project::{Revision, Runner, checksum};
use crate::runtime::Prepared;

/// A statement the host writes beside a step's version-table change, and
/// what it does, for the error that names it.
pub(super) struct Record {
    pub statement: Statement,
    pub what: &'static str,
}

impl Migrator<'_> {
    /// A history row for `revision` with who and when filled in; what ran
    /// and how much is the caller's to add.
    pub(super) async fn entry(
        &mut self,
        revision: &Revision,
        direction: Option<Direction>,
        outcome: Outcome,
        started_at: &str,
    ) -> HistoryEntry {
        let (conn, ledger) = self.parts();
        let who = ledger.who(conn).await;
        HistoryEntry {
            id: 0,
            revision: revision.id.clone(),
            direction,
            outcome,
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
    pub(super) fn revision_artifact(
        &mut self,
        revision: &Revision,
        entry: &mut HistoryEntry,
    ) -> Result<Record, Error> {
        let files = revision.files()?;
        let archive = checksum::pack(&files);
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&archive));
        entry.checksum = Some(checksum::checksum(&files).value);
        let statement =
            self.ledger
                .artifact_statement(self.dialect, &hash, ArtifactKind::Revision, &archive);
        entry.artifact = Some(hash);
        Ok(Record {
            statement,
            what: "storing the revision's artifact",
        })
    }

    /// The statement that stores the plugin that ran `revision`, keyed by
    /// its component hash: once, however many revisions it serves.
    pub(super) fn plugin_artifact(
        &mut self,
        revision: &Revision,
        component: &Prepared,
    ) -> Option<Record> {
        let Runner::Plugin { name } = &revision.runner else {
            // A revision's own component is in its archive already.
            return None;
        };
        if self.ledger.plugin_stored(&component.hash) {
            return None;
        }
        let bytes = plugins::find(self.project, name).ok()?;
        let statement = self.ledger.artifact_statement(
            self.dialect,
            &component.hash,
            ArtifactKind::Plugin,
            &bytes,
        );
        // Forgotten on rollback, with the row.
        self.ledger.note_plugin_stored(&component.hash);
        Some(Record {
            statement,
            what: "storing the plugin's artifact",
        })
    }

    pub(super) fn history_record(&mut self, entry: &HistoryEntry) -> Record {
        Record {
            statement: self.ledger.history_statement(self.dialect, entry),
            what: "writing the audit log",
        }
    }

    /// Writes a step's version-table `changes` and the `records` that
    /// commit with them as one batch (one round trip where the backend
    /// can), after a BEGIN with `begin` and before a COMMIT with `commit`,
    /// and checks that each change found the row the plan was made from.
    pub(super) async fn write_records(
        &mut self,
        changes: Vec<HeadChange<'_>>,
        records: Vec<Record>,
        begin: bool,
        commit: bool,
    ) -> Result<(), Error> {
        // A step writes its changes and its records apart: never both ends.
        debug_assert!(!(begin && commit));
        let offline = self.offline.is_some();
        let table = self.ledger.version_table().to_string();
        let dialect = self.dialect;
        // What each statement of the batch does, for the error naming one.
        let mut what = Vec::with_capacity(changes.len() + records.len());
        let mut batch = Vec::with_capacity(changes.len() + records.len());
        for change in &changes {
            what.push("updating the version table");
            batch.push(change.statement(dialect, &table));
        }
        for record in records {
            what.push(record.what);
            batch.push(record.statement);
        }
        if !changes.is_empty() {
            let (conn, ledger) = self.parts();
            ledger.ensure_version_table(conn).await?;
        }
        let conn = self.conn();
        let done = if begin {
            conn.begin_with(batch).await
        } else if commit {
            conn.execute_batch_and_commit(batch).await
        } else {
            conn.execute_batch(batch).await
        };
        let counts = done.map_err(|e| {
            let action = match e.at {
                BatchStage::Begin => "starting a transaction",
                BatchStage::Statement(i) => what.get(i).copied().unwrap_or("writing the records"),
                BatchStage::Commit => "committing",
            };
            Error::database(action, e.source)
        })?;
        // Offline, nothing answers: the SQL is only recorded.
        if !offline {
            for (change, rows) in changes.iter().zip(counts) {
                change
                    .check(&table, rows)
                    .map_err(|e| Error::database("updating the version table", e))?;
            }
        }
        Ok(())
    }
}
