//! Revisions as they were stored when they ran: shown (`show --stored`),
//! and rebuilt into the graph when their directory is gone (a branch
//! switch), so that they can still be reverted.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Migrator, graph_of_revisions};
use crate::error::Error;
use crate::graph::{GraphError, resolve_prefix};
use crate::ledger::HistoryEntry;
use crate::project::{MANIFEST_FILE, checksum, parse_manifest};

impl Migrator<'_> {
    /// The stored files of revision `revision` (an id or a unique prefix of
    /// one in the audit log) as they last ran, with the row that stored them.
    pub async fn stored_files(
        &mut self,
        revision: &str,
    ) -> Result<(HistoryEntry, checksum::Files), Error> {
        let entries = self.audit_log().await?;
        let stored = entries
            .iter()
            .filter(|e| e.artifact.is_some())
            .map(|e| e.revision.as_str());
        let id = resolve_prefix(revision, stored).map_err(|e| match e {
            GraphError::UnknownRevision(_) => Error::NotStored(revision.to_string()),
            other => other.into(),
        })?;
        let Some(entry) = entries
            .iter()
            .rev()
            .find(|e| e.revision == id && e.artifact.is_some())
            .cloned()
        else {
            return Err(Error::NotStored(revision.to_string()));
        };
        let hash = entry.artifact.clone().unwrap_or_default();
        match self.load_files(&entry.revision, &hash).await? {
            Some(files) => Ok((entry, files)),
            None => Err(Error::NotStored(revision.to_string())),
        }
    }

    pub(super) async fn load_files(
        &mut self,
        revision: &str,
        hash: &str,
    ) -> Result<Option<checksum::Files>, Error> {
        let (conn, ledger) = self.parts();
        let Some(bytes) = ledger.load_artifact(conn, hash).await? else {
            return Ok(None);
        };
        // Content-addressed: whatever reads an artifact checks it is what
        // was stored, so a rewritten archive is never unpacked, shown or run.
        let found = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if found != hash {
            return Err(Error::ForgedArtifact {
                revision: revision.to_string(),
                hash: hash.to_string(),
                found,
            });
        }
        checksum::unpack(&bytes)
            .map(Some)
            .map_err(|detail| Error::BadArtifact {
                revision: revision.to_string(),
                hash: hash.to_string(),
                detail,
            })
    }

    /// Rebuilds, from their stored archives, the applied revisions missing
    /// from `versions/` (a branch switch), so that they can be reverted.
    pub(super) async fn add_stored(
        &mut self,
        applied: &BTreeMap<String, HistoryEntry>,
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
                .get(MANIFEST_FILE)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| Error::BadArtifact {
                    revision: id.clone(),
                    hash: entry.artifact.clone().unwrap_or_default(),
                    detail: "it has no readable revision.toml".to_string(),
                })?;
            let shown = PathBuf::from(format!("<stored {id}>/revision.toml"));
            let revision = parse_manifest(
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
}
