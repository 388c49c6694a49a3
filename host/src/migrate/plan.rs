//! How the steps of a plan share transactions: a pure function of each
//! step's transaction mode and of what the connection can do, so that the
//! rules are tested without a database.
//!
//! - A step in mode `revision` is a group of its own; consecutive steps in
//!   mode `run` share one; a step in mode `none` runs outside any
//!   transaction. A dry run is one group, rolled back at the end.
//! - Where DDL is transactional (SQLite, PostgreSQL) and the run is real, a
//!   step writes its version-table change before its revision runs,
//!   together with the BEGIN of a transaction it opens, and its audit
//!   records after, together with the COMMIT of one it closes: three round
//!   trips a revision, as many as its SQL alone would take. The first
//!   transaction begins on its own, so that the heads are checked before
//!   anything is written. MySQL (DDL commits implicitly), dry runs and
//!   offline scripts keep begin, revision, records, commit, and so does a
//!   batched revision (its batches commit as it runs; the version table
//!   changes with the last).

use std::ops::Range;

use super::{Begin, End};
use crate::project::TransactionMode;

/// What the grouping depends on besides the modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub dry_run: bool,
    pub offline: bool,
    /// Whether a rollback undoes DDL on this connection.
    pub transactional_ddl: bool,
}

/// Steps that share one transaction (or, in mode `none`, none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Indices into the plan.
    pub steps: Range<usize>,
    /// The mode of its first step (all of a group's steps share it, but in
    /// a dry run).
    pub mode: TransactionMode,
    /// The version-table change goes before the revision runs, and the
    /// transaction's ends travel in the steps' own batches.
    pub fold: bool,
    pub begin: Begin,
    pub end: End,
}

/// How one step meets the ends of its group's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    /// The version-table change goes before the revision runs.
    pub fold: bool,
    /// The step begins the transaction, with its version-table change.
    pub begin: bool,
    /// The step commits the transaction, with its records.
    pub commit: bool,
}

impl Group {
    /// Whether the group's steps run inside a transaction.
    pub fn in_transaction(&self) -> bool {
        self.begin != Begin::Outside
    }

    /// How step `k` of the plan (one of this group's) meets the ends.
    pub fn ends_of(&self, k: usize) -> Ends {
        Ends {
            fold: self.fold,
            begin: self.begin == Begin::InBody && k == self.steps.start,
            commit: self.end == End::InBody && k + 1 == self.steps.end,
        }
    }
}

/// The groups of a plan whose steps have `modes`, in order; they cover
/// every step exactly once.
pub fn groups(modes: &[TransactionMode], setting: Setting) -> Vec<Group> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < modes.len() {
        let mode = modes[start];
        let mut end = start + 1;
        if mode == TransactionMode::Run || setting.dry_run {
            while end < modes.len() && (setting.dry_run || modes[end] == TransactionMode::Run) {
                end += 1;
            }
        }
        let in_transaction = mode != TransactionMode::None || setting.dry_run;
        // A batched revision commits before it ends: its version-table
        // change must wait for the last batch, not ride in the first.
        let fold = in_transaction
            && !setting.dry_run
            && !setting.offline
            && setting.transactional_ddl
            && mode != TransactionMode::Batched;
        let begin = match (in_transaction, fold && start > 0) {
            (false, _) => Begin::Outside,
            (true, true) => Begin::InBody,
            (true, false) => Begin::Now,
        };
        let end_kind = if !in_transaction {
            End::Outside
        } else if setting.dry_run {
            End::Rollback
        } else if fold {
            End::InBody
        } else {
            End::Commit
        };
        out.push(Group {
            steps: start..end,
            mode,
            fold,
            begin,
            end: end_kind,
        });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionMode::{None as Outside, Revision, Run};

    const ONLINE: Setting = Setting {
        dry_run: false,
        offline: false,
        transactional_ddl: true,
    };

    fn ranges(groups: &[Group]) -> Vec<Range<usize>> {
        groups.iter().map(|g| g.steps.clone()).collect()
    }

    #[test]
    fn each_revision_is_its_own_transaction_whose_ends_ride_with_its_batches() {
        let groups = groups(&[Revision, Revision, Revision], ONLINE);
        assert_eq!(ranges(&groups), vec![0..1, 1..2, 2..3]);
        // The first begins on its own, so the heads are checked first.
        assert_eq!((groups[0].begin, groups[0].end), (Begin::Now, End::InBody));
        for g in &groups[1..] {
            assert_eq!((g.begin, g.end), (Begin::InBody, End::InBody));
        }
        assert_eq!(
            groups[1].ends_of(1),
            Ends {
                fold: true,
                begin: true,
                commit: true
            }
        );
        assert!(!groups[0].ends_of(0).begin);
    }

    #[test]
    fn a_batched_revision_begins_and_commits_on_its_own_with_nothing_folded() {
        let groups = groups(&[Revision, TransactionMode::Batched, Revision], ONLINE);
        assert_eq!(ranges(&groups), vec![0..1, 1..2, 2..3]);
        let batched = &groups[1];
        assert!(!batched.fold);
        assert_eq!((batched.begin, batched.end), (Begin::Now, End::Commit));
        // The one after it folds again: its BEGIN rides with its batch.
        assert_eq!(
            (groups[2].begin, groups[2].end),
            (Begin::InBody, End::InBody)
        );
    }

    #[test]
    fn consecutive_run_steps_share_one_transaction_and_none_runs_outside() {
        let groups = groups(&[Revision, Run, Run, Outside, Run], ONLINE);
        assert_eq!(ranges(&groups), vec![0..1, 1..3, 3..4, 4..5]);
        let shared = &groups[1];
        assert_eq!(shared.mode, Run);
        assert!(shared.ends_of(1).begin && !shared.ends_of(1).commit);
        assert!(!shared.ends_of(2).begin && shared.ends_of(2).commit);
        let outside = &groups[2];
        assert!(!outside.in_transaction());
        assert!(!outside.fold);
        assert_eq!((outside.begin, outside.end), (Begin::Outside, End::Outside));
    }

    #[test]
    fn a_dry_run_is_one_transaction_rolled_back_with_nothing_folded() {
        let setting = Setting {
            dry_run: true,
            ..ONLINE
        };
        let groups = groups(&[Revision, Run, Revision], setting);
        assert_eq!(ranges(&groups), vec![0..3]);
        assert_eq!(
            (groups[0].begin, groups[0].end),
            (Begin::Now, End::Rollback)
        );
        assert!(!groups[0].fold);
    }

    #[test]
    fn without_transactional_ddl_or_offline_each_transaction_has_its_own_ends() {
        for setting in [
            Setting {
                transactional_ddl: false,
                ..ONLINE
            },
            Setting {
                offline: true,
                ..ONLINE
            },
        ] {
            for g in groups(&[Revision, Revision], setting) {
                assert_eq!((g.begin, g.end, g.fold), (Begin::Now, End::Commit, false));
            }
        }
    }

    #[test]
    fn an_empty_plan_has_no_groups() {
        assert!(groups(&[], ONLINE).is_empty());
    }
}
