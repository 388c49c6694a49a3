//! A revision's time limit inside SQLite: a progress handler that
//! interrupts the running statement (`SQLITE_INTERRUPT`) once the deadline
//! the runtime armed has passed.
//!
//! SQLite runs a statement to its end on sqlx's worker thread whatever
//! happens to the future that asked for it, so dropping that future stops
//! nothing (a recursive CTE ran for minutes). The handler is installed once,
//! when the connection opens, and reads the deadline from an atomic: arming
//! and disarming it per revision is a store, not a message to the worker
//! (the pattern of `sqlite_guard`). It is called every
//! [`CHECK_EVERY`] virtual-machine instructions, and costs a clock read.
//!
//! What it cannot interrupt: a statement sleeping in SQLite's busy handler,
//! waiting for another connection's lock (at most the busy timeout, which is
//! `--lock-timeout`); the interrupt lands when it wakes and steps again.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use sqlx::sqlite::LockedSqliteHandle;

use super::{Canceller, DbError};

/// Instructions between two looks at the clock: a few microseconds of work,
/// so an interrupt lands at once, and a clock read per thousand
/// instructions is not measurable next to the statement.
const CHECK_EVERY: i32 = 1000;

/// No deadline.
const UNARMED: u64 = u64::MAX;

/// The instant deadlines are counted from, in nanoseconds, so that one fits
/// in an atomic.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn nanos_since_origin(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin()).as_nanos()).unwrap_or(UNARMED - 1)
}

/// The deadline of one SQLite connection, shared with its progress handler.
pub(super) struct Deadline {
    at: Arc<AtomicU64>,
}

impl Deadline {
    /// Installs the progress handler on the connection behind `handle`,
    /// unarmed.
    pub(super) fn install(handle: &mut LockedSqliteHandle<'_>) -> Self {
        let at = Arc::new(AtomicU64::new(UNARMED));
        let seen = at.clone();
        // Origin fixed before any deadline is computed from it.
        let _ = origin();
        handle.set_progress_handler(CHECK_EVERY, move || {
            let deadline = seen.load(Ordering::Relaxed);
            // false interrupts the statement.
            deadline == UNARMED || nanos_since_origin(Instant::now()) < deadline
        });
        Deadline { at }
    }

    pub(super) fn canceller(&self) -> Arc<dyn Canceller> {
        Arc::new(DeadlineCanceller {
            at: self.at.clone(),
        })
    }
}

struct DeadlineCanceller {
    at: Arc<AtomicU64>,
}

#[async_trait]
impl Canceller for DeadlineCanceller {
    fn arm(&self, deadline: Instant) {
        self.at.store(
            nanos_since_origin(deadline).min(UNARMED - 1),
            Ordering::Relaxed,
        );
    }

    fn disarm(&self) {
        self.at.store(UNARMED, Ordering::Relaxed);
    }

    async fn cancel(&self) -> Result<(), DbError> {
        // A deadline in the past: the next look at the clock interrupts.
        self.at.store(0, Ordering::Relaxed);
        Ok(())
    }
}
