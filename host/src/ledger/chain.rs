//! The hash chain of the audit log: each row's `row_hash` covers every
//! column of the row and the `row_hash` of the row before it, so that a row
//! altered, deleted or inserted by anything but aludel shows when the log is
//! read (`aludel verify`, and before every run).
//!
//! The bytes hashed (SHA-256, stored as 64 lowercase hex digits) are the tag
//! `aludel-history-v1`, then each of these, in this order, as a field:
//! `id`, `revision`, `direction`, `outcome`, `checksum`, `artifact`,
//! `runner`, `component_hash`, `db_user`, `os_user`, `host`,
//! `aludel_version`, `started_at`, `finished_at`, `duration_ms`,
//! `statements`, `rows_affected`, `error`, and last the previous row's
//! `row_hash` (the empty text for the first row of the chain). A field is
//! the byte 0 for NULL, or the byte 1, the length of its UTF-8 text as 8
//! bytes big-endian, and the text; integers are their decimal text. The
//! length prefix keeps `("ab", "c")` and `("a", "bc")` apart.
//!
//! Ids are given by aludel, one more than the row before (a database's own
//! counter may skip values on rollback), so a gap is a deleted row.
//!
//! Rows written before the chain existed (a history table upgraded in
//! place) keep an empty `row_hash` and are reported as not covered: aludel
//! cannot vouch for what it did not hash when it wrote them. They must all
//! come before the first chained row.
//!
//! A break refuses every later run (see `migrate::verify`) until an
//! operator has looked and accepts the log as it reads
//! (`aludel accept --audit-log`): that appends a `resealed` row whose
//! `checksum` is the [`seal`] of every row before it, the chain computed
//! afresh over what they hold, and whose `error` lists the breaks it
//! accepted. Breaks before a resealed row are then no longer reported, as
//! long as the rows before it still give its seal; a row altered after the
//! reseal breaks the seal, and every break before it counts again.
//!
//! The chain is not a signature: whoever can write the table and compute
//! SHA-256 can rewrite it whole. `aludel verify` prints the head's hash;
//! kept somewhere else (a deploy log), it shows such a rewrite too.

use sha2::{Digest, Sha256};

use super::history::{HistoryEntry, direction_text};

/// Tag of the first version of the hashed bytes.
const TAG: &[u8] = b"aludel-history-v1";

fn field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update([0u8]),
        Some(text) => {
            hasher.update([1u8]);
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
    }
}

/// The `row_hash` of `entry` (with its id set) after a row whose hash is
/// `previous`.
pub fn row_hash(entry: &HistoryEntry, previous: &str) -> String {
    let mut h = Sha256::new();
    h.update(TAG);
    let int = |n: i64| n.to_string();
    field(&mut h, Some(&int(entry.id)));
    field(&mut h, Some(&entry.revision));
    field(&mut h, Some(direction_text(entry.direction)));
    field(&mut h, Some(entry.outcome.as_str()));
    for v in [
        &entry.checksum,
        &entry.artifact,
        &entry.runner,
        &entry.component_hash,
        &entry.db_user,
        &entry.os_user,
        &entry.host,
    ] {
        field(&mut h, v.as_deref());
    }
    field(&mut h, Some(&entry.aludel_version));
    field(&mut h, Some(&entry.started_at));
    field(&mut h, Some(&entry.finished_at));
    field(&mut h, Some(&int(entry.duration_ms)));
    field(&mut h, Some(&int(entry.statements)));
    field(&mut h, Some(&int(entry.rows)));
    field(&mut h, entry.error.as_deref());
    field(&mut h, Some(previous));
    hex::encode(h.finalize())
}

/// The chain computed afresh over what `entries` hold now, ignoring the
/// hashes they store: what a `resealed` row records of the rows before it.
pub fn seal(entries: &[HistoryEntry]) -> String {
    entries
        .iter()
        .fold(String::new(), |previous, entry| row_hash(entry, &previous))
}

/// What is wrong with one row of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Its hash does not cover what it holds: altered, or written by
    /// something other than aludel.
    Altered { id: i64, revision: String },
    /// Ids between two rows are missing.
    Missing { after: i64, before: i64 },
    /// A row without a hash after the chain began.
    Unhashed { id: i64, revision: String },
    /// The rows before a `resealed` row no longer give its seal: one was
    /// altered, deleted or inserted after the log was accepted.
    Resealed { id: i64 },
}

impl Break {
    /// The highest row id the break is about.
    fn last_id(&self) -> i64 {
        match self {
            Break::Altered { id, .. } | Break::Unhashed { id, .. } | Break::Resealed { id } => *id,
            Break::Missing { before, .. } => *before,
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Altered { id, revision } => write!(
                f,
                "audit log row {id} (revision {revision}) does not match its hash: it was \
                 altered, or inserted, by something other than aludel"
            ),
            Break::Missing { after, before } if after + 1 == before - 1 => write!(
                f,
                "audit log row {} is missing (between rows {after} and {before}): it was deleted",
                after + 1
            ),
            Break::Missing { after, before } => write!(
                f,
                "audit log rows {} to {} are missing (between rows {after} and {before}): \
                 they were deleted",
                after + 1,
                before - 1
            ),
            Break::Unhashed { id, revision } => write!(
                f,
                "audit log row {id} (revision {revision}) has no hash although rows before it \
                 do: its hash was removed, or it was inserted by something other than aludel"
            ),
            Break::Resealed { id } => write!(
                f,
                "the audit log was accepted as it read at row {id} (`aludel accept \
                 --audit-log`), and rows before it were changed since"
            ),
        }
    }
}

/// What the chain says about a whole log, oldest row first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows written before the chain existed: not covered.
    pub unchained: usize,
    pub breaks: Vec<Break>,
    /// The hash of the last row, empty when no row is chained.
    pub head: String,
}

/// Checks every row of `entries` (in id order) against its hash and the
/// row before it. Each row is checked against the hash its predecessor
/// stores, so one altered row is one break, not every row after it.
pub fn check(entries: &[HistoryEntry]) -> ChainReport {
    let mut report = ChainReport::default();
    let mut previous: Option<&HistoryEntry> = None;
    for entry in entries {
        let chained = previous.is_some_and(|p| !p.row_hash.is_empty());
        if entry.row_hash.is_empty() {
            if chained {
                report.breaks.push(Break::Unhashed {
                    id: entry.id,
                    revision: entry.revision.clone(),
                });
            } else {
                report.unchained += 1;
            }
            previous = Some(entry);
            continue;
        }
        let previous_hash = previous.map(|p| p.row_hash.as_str()).unwrap_or("");
        if let Some(p) = previous.filter(|p| !p.row_hash.is_empty())
            && entry.id != p.id + 1
        {
            report.breaks.push(Break::Missing {
                after: p.id,
                before: entry.id,
            });
        } else if row_hash(entry, previous_hash) != entry.row_hash {
            report.breaks.push(Break::Altered {
                id: entry.id,
                revision: entry.revision.clone(),
            });
        }
        report.head = entry.row_hash.clone();
        previous = Some(entry);
    }
    // The last reseal accepts the breaks before it, if the rows before it
    // still read as it sealed them.
    if let Some(at) = entries
        .iter()
        .rposition(|e| e.outcome == super::Outcome::Resealed)
    {
        let resealed = &entries[at];
        if resealed.checksum.as_deref() == Some(seal(&entries[..at]).as_str()) {
            report.breaks.retain(|b| b.last_id() >= resealed.id);
        } else {
            report.breaks.push(Break::Resealed { id: resealed.id });
            report.breaks.sort_by_key(Break::last_id);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Outcome;

    fn chain(n: i64) -> Vec<HistoryEntry> {
        let mut out: Vec<HistoryEntry> = Vec::new();
        for id in 1..=n {
            let mut e = HistoryEntry {
                id,
                revision: format!("rev{id}"),
                outcome: Outcome::Applied,
                ..HistoryEntry::default()
            };
            let previous = out.last().map(|p| p.row_hash.clone()).unwrap_or_default();
            e.row_hash = row_hash(&e, &previous);
            out.push(e);
        }
        out
    }

    #[test]
    fn a_chain_as_written_has_no_break_and_its_head_is_the_last_hash() {
        let rows = chain(3);
        let report = check(&rows);
        assert_eq!(report.breaks, vec![]);
        assert_eq!(report.head, rows[2].row_hash);
        assert_eq!(report.head.len(), 64);
    }

    #[test]
    fn an_altered_row_is_one_break_named_by_id_and_revision() {
        let mut rows = chain(3);
        rows[1].error = Some("edited".into());
        assert_eq!(
            check(&rows).breaks,
            vec![Break::Altered {
                id: 2,
                revision: "rev2".into()
            }]
        );
    }

    #[test]
    fn a_deleted_row_shows_as_missing() {
        let mut rows = chain(4);
        rows.remove(1);
        assert_eq!(
            check(&rows).breaks,
            vec![Break::Missing {
                after: 1,
                before: 3
            }]
        );
        assert!(
            check(&rows).breaks[0]
                .to_string()
                .contains("row 2 is missing")
        );
    }

    #[test]
    fn a_row_appended_without_the_chain_is_named() {
        let mut rows = chain(2);
        let mut forged = rows[1].clone();
        forged.id = 3;
        forged.revision = "fake".into();
        rows.push(forged);
        assert_eq!(
            check(&rows).breaks,
            vec![Break::Altered {
                id: 3,
                revision: "fake".into()
            }]
        );
    }

    #[test]
    fn rows_before_the_chain_are_counted_but_not_after_it() {
        let mut rows = chain(2);
        for r in &mut rows {
            r.id += 2;
        }
        // Rechained from ids 3 and 4 after two unhashed rows.
        let mut previous = String::new();
        for r in &mut rows {
            r.row_hash = row_hash(r, &previous);
            previous = r.row_hash.clone();
        }
        let old = |id| HistoryEntry {
            id,
            revision: format!("old{id}"),
            ..HistoryEntry::default()
        };
        let mut log = vec![old(1), old(2)];
        log.extend(rows.clone());
        let report = check(&log);
        assert_eq!((report.unchained, report.breaks.len()), (2, 0));
        log.push(old(5));
        assert_eq!(
            check(&log).breaks,
            vec![Break::Unhashed {
                id: 5,
                revision: "old5".into()
            }]
        );
    }

    /// Appends to `rows` the row `aludel accept --audit-log` writes.
    fn reseal(rows: &mut Vec<HistoryEntry>) {
        let last = rows.last().expect("a row to follow");
        let mut e = HistoryEntry {
            id: last.id + 1,
            revision: "(audit log)".into(),
            outcome: Outcome::Resealed,
            checksum: Some(seal(rows)),
            ..HistoryEntry::default()
        };
        e.row_hash = row_hash(&e, &last.row_hash);
        rows.push(e);
    }

    #[test]
    fn a_reseal_accepts_the_breaks_before_it_and_no_later_change() {
        let mut rows = chain(4);
        rows[1].error = Some("edited".into());
        rows.remove(2);
        assert_eq!(check(&rows).breaks.len(), 2);
        reseal(&mut rows);
        assert_eq!(check(&rows).breaks, vec![]);
        // A row after the reseal still chains to it.
        let mut next = HistoryEntry {
            id: rows.last().unwrap().id + 1,
            revision: "rev9".into(),
            ..HistoryEntry::default()
        };
        next.row_hash = row_hash(&next, &rows.last().unwrap().row_hash);
        rows.push(next);
        assert_eq!(check(&rows).breaks, vec![]);
        // Changed after the reseal: the seal breaks, and what it had
        // accepted counts again.
        rows[0].error = Some("edited later".into());
        let breaks = check(&rows).breaks;
        assert!(breaks.contains(&Break::Resealed { id: 5 }), "{breaks:?}");
        assert!(breaks.len() >= 3, "{breaks:?}");
    }

    #[test]
    fn a_forged_reseal_row_accepts_nothing() {
        let mut rows = chain(3);
        rows[1].error = Some("edited".into());
        reseal(&mut rows);
        rows[3].checksum = Some("0".repeat(64));
        let breaks = check(&rows).breaks;
        assert!(breaks.contains(&Break::Resealed { id: 4 }), "{breaks:?}");
        assert!(
            breaks
                .iter()
                .any(|b| matches!(b, Break::Altered { id: 2, .. }))
        );
    }

    #[test]
    fn the_length_prefix_keeps_adjacent_fields_apart() {
        let a = HistoryEntry {
            id: 1,
            revision: "ab".into(),
            aludel_version: "c".into(),
            ..HistoryEntry::default()
        };
        let b = HistoryEntry {
            revision: "a".into(),
            aludel_version: "bc".into(),
            ..a.clone()
        };
        assert_ne!(row_hash(&a, ""), row_hash(&b, ""));
        let c = HistoryEntry {
            checksum: Some(String::new()),
            ..a.clone()
        };
        assert_ne!(row_hash(&a, ""), row_hash(&c, ""), "NULL is not empty");
    }
}
