//! What the audit log says about the revisions applied to a database, and
//! how their directories compare with what was recorded: pure functions
//! over history rows, so the rules are tested without a database.

use std::collections::BTreeMap;

use super::history::{HistoryEntry, Outcome};
use crate::graph::Direction;
use crate::project::FileChange;

/// The applied revisions by id, each with the row that last recorded its
/// content (applied, stamped or accepted). A revision reverted, or stamped
/// down, since is not applied; failures change nothing.
pub fn applied_records(entries: &[HistoryEntry]) -> BTreeMap<String, HistoryEntry> {
    let mut applied = BTreeMap::new();
    for entry in entries {
        match (&entry.outcome, entry.direction) {
            (Outcome::Applied, _) | (Outcome::Stamped, Some(Direction::Upgrade)) => {
                applied.insert(entry.revision.clone(), entry.clone());
            }
            (Outcome::Accepted, _) if applied.contains_key(&entry.revision) => {
                applied.insert(entry.revision.clone(), entry.clone());
            }
            (Outcome::Reverted, _) | (Outcome::Stamped, _) => {
                applied.remove(&entry.revision);
            }
            _ => {}
        }
    }
    applied
}

/// An applied revision whose directory no longer matches its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub revision: String,
    /// `versions/<dir>`.
    pub dir: String,
    pub recorded: String,
    pub found: String,
    /// Empty when the recorded content is not stored (nothing to compare
    /// file by file).
    pub changes: Vec<FileChange>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "revision {} ({}) changed after it was applied",
            self.revision, self.dir
        )?;
        if self.changes.is_empty() {
            write!(
                f,
                ": checksum {} recorded, {} now",
                self.recorded, self.found
            )?;
        } else {
            let list: Vec<String> = self.changes.iter().map(|c| c.to_string()).collect();
            write!(f, ": {}", list.join(", "))?;
        }
        write!(
            f,
            "\n  restore the directory as it was applied (`aludel show {} --stored` prints it), \
             or record the change with `aludel accept {}`",
            self.revision, self.revision
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(revision: &str, direction: &str, outcome: &str, checksum: &str) -> HistoryEntry {
        HistoryEntry {
            revision: revision.into(),
            direction: super::super::history::parse_direction(direction),
            outcome: Outcome::parse(outcome),
            checksum: Some(checksum.into()),
            ..HistoryEntry::default()
        }
    }

    #[test]
    fn the_latest_record_of_each_applied_revision_counts() {
        let rows = [
            row("a", "upgrade", "applied", "1"),
            row("b", "upgrade", "applied", "2"),
            row("b", "downgrade", "reverted", "2"),
            row("c", "upgrade", "stamped", "3"),
            row("a", "none", "accepted", "4"),
            row("d", "upgrade", "failed", "5"),
            row("c", "downgrade", "stamped", "3"),
            row("b", "none", "accepted", "6"),
        ];
        let applied = applied_records(&rows);
        assert_eq!(applied.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(applied["a"].checksum.as_deref(), Some("4"));
    }
}
