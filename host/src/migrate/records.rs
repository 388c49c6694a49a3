//! What a step writes beside its revision: its version-table change and
//! its audit records (the history row, the revision's archive, the plugin
//! that ran it), sent as one batch so that they cost one round trip.

use super::Migrator;
use crate::db::dialect::is_missing_table;
use crate::db::{BatchStage, DbError, Statement, Value};
use crate::error::Error;
use crate::graph::Direction;
use crate::ledger::{ArtifactKind, HeadChange, HistoryEntry, Outcome, guard, now_rfc3339};
use crate::plugins;
use crate::project::{Files, Revision, Runner, checksum};
use crate::runtime::Prepared;

/// A statement the host writes beside a step's version-table change, and
/// what it does, for the error that names it.
pub(super) struct Record {
    pub statement: Statement,
    pub what: &'static str,
    /// An artifact: the rows it inserts count in the ledger's state.
    pub artifact: bool,
    /// A history row that checks aludel's tables: the revision it records,
    /// and on SQLite and MySQL the query naming the table found changed.
    pub guard: Option<(String, Option<guard::Expected>)>,
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
            row_hash: String::new(),
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
        Ok(self.artifact_of(&files, entry))
    }

    /// [`revision_artifact`](Self::revision_artifact) of files already read.
    pub(super) fn artifact_of(&mut self, files: &Files, entry: &mut HistoryEntry) -> Record {
        let archive = checksum::pack(files);
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&archive));
        entry.checksum = Some(checksum::checksum(files).value);
        let statement =
            self.ledger
                .artifact_statement(self.dialect, &hash, ArtifactKind::Revision, &archive);
        entry.artifact = Some(hash);
        Record {
            statement,
            what: "storing the revision's artifact",
            artifact: true,
            guard: None,
        }
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
            artifact: true,
            guard: None,
        })
    }

    /// The statement of `entry`'s history row. With `heads` (the version
    /// table's rows once the step's change is made), after a revision ran:
    /// the row is written only if the revision left aludel's own tables as
    /// they must be (see [`crate::ledger::guard`]).
    pub(super) fn history_record(
        &mut self,
        entry: &HistoryEntry,
        heads: Option<&[String]>,
    ) -> Result<Record, Error> {
        let (statement, diagnose) = self.ledger.history_statement(self.dialect, entry, heads)?;
        Ok(Record {
            statement,
            what: "writing the audit log",
            artifact: false,
            guard: heads.map(|_| (entry.revision.clone(), diagnose)),
        })
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
        let sql_table = self.ledger.sql_table().to_string();
        let dialect = self.dialect;
        // What each statement of the batch does, for the error naming one.
        let mut what = Vec::with_capacity(changes.len() + records.len() + 1);
        let mut batch = Vec::with_capacity(changes.len() + records.len() + 1);
        let guarded = records.iter().any(|r| r.guard.is_some());
        // After a revision on MySQL: its TEMPORARY tables named like
        // aludel's would take the host's writes.
        let unshadow = if guarded && !offline {
            self.ledger.unshadow(dialect)
        } else {
            None
        };
        let skip = usize::from(unshadow.is_some());
        if let Some(unshadow) = unshadow {
            what.push("dropping temporary tables named like aludel's own");
            batch.push(unshadow);
        }
        for change in &changes {
            what.push("updating the version table");
            batch.push(change.statement(dialect, &sql_table, !offline));
        }
        let first_record = batch.len();
        let mut artifacts = Vec::new();
        let mut guard = None;
        for (i, record) in records.into_iter().enumerate() {
            what.push(record.what);
            if record.artifact {
                artifacts.push(first_record + i);
            }
            if let Some(g) = record.guard {
                guard = Some((first_record + i, g));
            }
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
        let counts = match done {
            Ok(counts) => counts,
            Err(e) => {
                if let (Some((index, (revision, diagnose))), BatchStage::Statement(at)) =
                    (guard, e.at)
                    && (at == index || (at >= skip && is_missing_table(&e.source)))
                {
                    let table = self.changed_table(&e.source, diagnose).await;
                    return Err(Error::OwnTableChanged { revision, table });
                }
                let action = match e.at {
                    BatchStage::Begin => "starting a transaction",
                    BatchStage::Statement(i) => {
                        what.get(i).copied().unwrap_or("writing the records")
                    }
                    BatchStage::Commit => "committing",
                };
                return Err(Error::database(action, e.source));
            }
        };
        let stored: u64 = artifacts
            .iter()
            .filter_map(|&i| counts.get(i))
            .map(|&n| n.min(1))
            .sum();
        self.ledger.note_artifacts_stored(stored);
        // Offline, nothing answers: the SQL is only recorded.
        if !offline {
            for (change, rows) in changes.iter().zip(counts.into_iter().skip(skip)) {
                change
                    .check(&table, rows)
                    .map_err(|e| Error::database("updating the version table", e))?;
            }
        }
        Ok(())
    }

    /// Which of aludel's tables a failed check found changed: named in
    /// PostgreSQL's error, else asked (the transaction is still open on
    /// SQLite and MySQL, and the revision's changes in it).
    async fn changed_table(
        &mut self,
        error: &DbError,
        diagnose: Option<guard::Expected>,
    ) -> String {
        if let Some(table) = guard::named_in(&error.message) {
            return table;
        }
        if is_missing_table(error) {
            return format!(
                "{} (one of them is gone: {})",
                self.ledger.version_table(),
                error.message
            );
        }
        let diagnose =
            diagnose.and_then(|(state, heads)| self.ledger.diagnose(self.dialect, &state, &heads));
        if let Some(diagnose) = diagnose
            && let Ok(rows) = self.conn().query(&diagnose.sql, diagnose.params).await
            && let Some(Some(Value::Text(table))) = rows.rows.first().map(|r| r.first().cloned())
            && !table.is_empty()
        {
            return table;
        }
        format!(
            "{} or the tables beside it ({})",
            self.ledger.version_table(),
            error.message
        )
    }
}
