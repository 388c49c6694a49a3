//! What a run tells an observer while it goes: which revision of how many
//! is running, and how far a revision that reports progress has come. The
//! library only emits these events; how they are shown (a bar on a
//! terminal, log lines, nothing) is the observer's choice. The binary's
//! observers are in `cli/progress.rs`; a program embedding aludel passes its
//! own through [`crate::ops::Options::progress`].
//!
//! Events come in order, one revision at a time: `revision_started`, any
//! number of `report`s, then `revision_finished`. `report` may be called
//! very often (once per row, by a careless guest) from inside a revision's
//! run, so an observer must make it cheap and rate-limit what it shows.

use std::fmt;
use std::sync::Arc;

use crate::graph::Direction;

/// A revision of the plan about to run.
#[derive(Debug, Clone, Copy)]
pub struct RevisionStart<'a> {
    /// Its place in the plan, from 1.
    pub index: usize,
    /// How many revisions the plan runs.
    pub count: usize,
    pub revision: &'a str,
    /// The revision's message, as its `revision.toml` gives it (the
    /// operator's text: escape it before printing it to a terminal).
    pub message: &'a str,
    pub direction: Direction,
    pub dry_run: bool,
}

impl RevisionStart<'_> {
    /// What the revision is doing, as a log line says it: `applying`,
    /// `reverting`, `applying (dry run)`, `reverting (dry run)`.
    pub fn verb(&self) -> &'static str {
        match (self.direction, self.dry_run) {
            (Direction::Upgrade, false) => "applying",
            (Direction::Downgrade, false) => "reverting",
            (Direction::Upgrade, true) => "applying (dry run)",
            (Direction::Downgrade, true) => "reverting (dry run)",
        }
    }
}

/// Receives a run's progress events. Every method does nothing by default.
pub trait ProgressSink: Send + Sync {
    /// A revision starts (its component is about to run).
    fn revision_started(&self, _start: &RevisionStart<'_>) {}

    /// The running revision has finished `done` units of work (rows, for a
    /// data migration), out of `total` when it is known. Values come from
    /// the revision: `done` may go backwards or pass `total`.
    fn report(&self, _done: u64, _total: Option<u64>) {}

    /// The revision started last has finished: `succeeded` is false when it
    /// failed (its error comes back from the run, not through here).
    fn revision_finished(&self, _revision: &str, _succeeded: bool) {}
}

/// The observer of a run: a cheap, shareable handle on a [`ProgressSink`].
/// The default logs (through `tracing`) an info line as each revision
/// starts, `applying 1975ea83b712 (add users)`, and each report at debug
/// level; [`Progress::none`] tells nobody.
#[derive(Clone)]
pub struct Progress(Arc<dyn ProgressSink>);

struct Nobody;

impl ProgressSink for Nobody {}

/// The sink of [`Progress::default`].
struct Logged;

impl ProgressSink for Logged {
    fn revision_started(&self, start: &RevisionStart<'_>) {
        tracing::info!("{} {} ({})", start.verb(), start.revision, start.message);
    }

    fn report(&self, done: u64, total: Option<u64>) {
        match total {
            Some(total) => tracing::debug!("progress {done}/{total}"),
            None => tracing::debug!("progress {done}"),
        }
    }
}

impl Progress {
    pub fn new(sink: impl ProgressSink + 'static) -> Self {
        Progress(Arc::new(sink))
    }

    /// An observer that tells nobody anything.
    pub fn none() -> Self {
        Progress::new(Nobody)
    }

    pub fn revision_started(&self, start: &RevisionStart<'_>) {
        self.0.revision_started(start);
    }

    pub fn report(&self, done: u64, total: Option<u64>) {
        self.0.report(done, total);
    }

    pub fn revision_finished(&self, revision: &str, succeeded: bool) {
        self.0.revision_finished(revision, succeeded);
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new(Logged)
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}
