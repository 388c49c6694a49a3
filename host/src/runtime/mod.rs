//! The WebAssembly side of a run: one wasmtime [`Engine`] per process,
//! compiled components cached on disk, and one sandboxed `Store` per
//! revision run with a memory limit and a wall-clock limit.
//!
//! The runtime does not decide when to commit: it runs a revision's
//! `upgrade` or `downgrade` against a connection already inside a
//! transaction and says whether the revision succeeded. A revision fails if
//! it traps, times out, exceeds its memory, returns `err`, or if any of its
//! statements failed, even one whose error the guest ignored.

mod batched;
mod bindings;
mod broker;
mod cache;
mod host;
mod sandbox;
mod v0_1;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

pub use batched::Batching;
pub use broker::{Caps, FailedStateHook, Stats};
pub use cache::{ComponentCache, Origin};

use crate::db::confine::Confinement;
use crate::db::{Canceller, Connection, DbError};
use crate::graph::Direction;
use crate::progress::Progress;
use bindings::{Migration, MigrationPre, types};
use broker::Broker;
use host::HostState;

/// How often the epoch advances; the time limit is checked at this grain.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How long, after a revision's time limit, the runtime waits for the
/// statement it cancelled in the database to come back before it drops the
/// call (and with it the connection's state: see `stop_in_the_database`).
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How often a cancel is sent again during the grace: one that reached the
/// server between two statements (of an `execute-many`, say) cancelled
/// nothing, and the next statement is running.
const CANCEL_AGAIN: Duration = Duration::from_secs(1);

/// Limits and locations a runtime works with.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The most linear memory one revision may use, in bytes.
    pub memory_limit: usize,
    /// The longest one revision may run, statements included.
    pub timeout: Duration,
    /// Where compiled components are kept; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            memory_limit: 256 << 20,
            timeout: Duration::from_secs(600),
            cache_dir: ComponentCache::default_dir(),
        }
    }
}

/// Why a component could not be made ready to run.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "revision {revision}: {origin} is not a WebAssembly component: {detail}\n  \
         rebuild it (`aludel build` for Rust revisions) or point revision.toml at the right file"
    )]
    NotAComponent {
        revision: String,
        origin: String,
        detail: String,
    },
    #[error(
        "revision {revision}: {origin} is a component of the wrong world: {detail}\n  \
         a revision must export aludel:migration/revision@0.2.0 (or the frozen @0.1.0); \
         build it with aludel-sdk or against the WIT package in wit/"
    )]
    WrongWorld {
        revision: String,
        origin: String,
        detail: String,
    },
}

/// Why a revision run failed. In every case the caller rolls back.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(
        "revision {revision} ran past its time limit of {limit:?} and was stopped\n  \
         raise [runtime] timeout_seconds in aludel.toml if it legitimately needs longer"
    )]
    Timeout { revision: String, limit: Duration },
    /// Past the time limit, the statement the revision waited on did not
    /// stop within [`CANCEL_GRACE`] of being cancelled (or the cancel could
    /// not reach the server): the connection was closed rather than waited
    /// on, and the database ends the transaction by itself.
    #[error(
        "revision {revision} ran past its time limit of {limit:?}, and the statement it was \
         waiting on did not stop when cancelled (or the cancel could not reach the server): \
         aludel closed its connection instead of waiting for it\n  \
         raise [runtime] timeout_seconds in aludel.toml if it legitimately needs longer"
    )]
    Abandoned { revision: String, limit: Duration },
    #[error(
        "revision {revision} exceeded its memory limit of {limit_mib} MiB and was stopped\n  \
         process rows in batches (a cursor), or raise [runtime] memory_limit_mib in aludel.toml"
    )]
    MemoryLimit { revision: String, limit_mib: usize },
    #[error(
        "revision {revision} crashed (trap): {message}{}",
        stderr_suffix(stderr)
    )]
    Trap {
        revision: String,
        message: String,
        stderr: String,
    },
    #[error("revision {revision} failed: {message}")]
    Failed { revision: String, message: String },
    #[error(
        "revision {revision} failed: a statement was refused by the database: {error}\n  \
         statement: {}{}",
        abbreviate(sql),
        guest_suffix(guest)
    )]
    StatementFailed {
        revision: String,
        sql: String,
        error: DbError,
        /// What the guest itself returned, if it returned an error.
        guest: Option<String>,
    },
    #[error("revision {revision}: cannot set up its sandbox: {detail}")]
    Sandbox { revision: String, detail: String },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("\n  guest stderr:\n    {}", stderr.replace('\n', "\n    "))
    }
}

fn guest_suffix(guest: &Option<String>) -> String {
    match guest {
        Some(g) => format!("\n  the revision returned: {g}"),
        None => String::new(),
    }
}

/// The first lines of a statement, enough to find it in a file.
fn abbreviate(sql: &str) -> String {
    const MAX: usize = 400;
    let sql = sql.trim();
    if sql.len() <= MAX {
        return sql.to_string();
    }
    let mut end = MAX;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} …", &sql[..end])
}

/// A component linked against the contract version it was built for.
enum Pre {
    Current(MigrationPre<HostState>),
    /// Built against the frozen aludel:migration@0.1.0.
    V0_1(bindings::v0_1::MigrationPre<HostState>),
}

/// A component compiled, linked and ready to instantiate.
pub struct Prepared {
    pre: Pre,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub origin: Origin,
}

/// One revision run, as the runtime needs to know it.
pub struct Job<'a> {
    pub revision: &'a str,
    pub dir: &'a Path,
    pub direction: Direction,
    /// The revision's `[args]` as a JSON object.
    pub args: &'a str,
    pub offline: bool,
    /// aludel's own tables (`ledger::own_tables`): a statement naming one
    /// is refused.
    pub own_tables: &'a [String],
    /// The failed state to record before the revision's first statement
    /// that may commit implicitly (MySQL), if any.
    pub failed_state: Option<Arc<FailedStateHook>>,
    /// `--untrusted`: SQL the judge cannot read is refused (MySQL).
    pub untrusted: bool,
    /// Where the revision's progress reports go.
    pub progress: Progress,
    /// A batched revision's batches (`transaction = "batched"`), online.
    pub batching: Option<Batching>,
}

/// The engine, linker and caches of one process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ComponentCache,
    options: RuntimeOptions,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Revisions run one at a time, each in a fresh instance: a pool of
/// instance slots reused from one to the next spares an mmap and munmap of
/// its memory and fiber stack per revision. The munmap is the expensive
/// part: it interrupts the CPU running sqlx's SQLite worker thread to flush
/// its TLB (measured: 60 µs of a revision's ~180 µs guest overhead on a
/// 2-core VM). Pages kept resident are reset with memset rather than
/// returned to the kernel, for the same reason.
fn pooling(memory_limit: usize) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool
        // A few at once: a runner runs one revision at a time, a library
        // user may run several runtimes' worth in threads.
        .total_component_instances(16)
        // The interpreter plugins hold a dozen core instances each.
        .total_core_instances(512)
        .max_core_instances_per_component(64)
        .total_memories(64)
        .max_memories_per_component(16)
        .max_memories_per_module(2)
        .total_tables(512)
        .max_tables_per_component(64)
        .max_tables_per_module(4)
        // CPython's function table is large.
        .table_elements(200_000)
        .total_stacks(16)
        .max_memory_size(memory_limit)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(256 << 10);
    pool
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> wasmtime::Result<Runtime> {
        // Said at debug level so that a test can tell which verbs start an
        // engine (only those that run revisions should).
        tracing::debug!("starting the WebAssembly engine");
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(
            options.memory_limit,
        )));
        let engine = Engine::new(&config)?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Migration::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        // Every published version is served: a revision is an immutable
        // artifact (wit/v0.1.0/README.md).
        v0_1::add_to_linker(&mut linker)?;

        // One thread advances the epoch for every store of this engine.
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("aludel-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?;
        }

        let cache = ComponentCache::new(options.cache_dir.clone(), &engine);
        Ok(Runtime {
            engine,
            linker,
            cache,
            options,
            prepared: Mutex::new(HashMap::new()),
            ticker_stop,
        })
    }

    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// Compiles (or loads from the cache) and links a component. `origin`
    /// names it in messages: a file path or `plugin sql`.
    pub fn prepare(
        &self,
        revision: &str,
        origin: &str,
        bytes: &[u8],
    ) -> Result<Arc<Prepared>, LoadError> {
        let hash = hex::encode(Sha256::digest(bytes));
        if let Some(p) = self.lock_prepared().get(&hash) {
            return Ok(p.clone());
        }
        let short = &hash[..12];
        let started = Instant::now();
        let (component, origin_kind) =
            self.cache
                .load(&self.engine, bytes, &hash)
                .map_err(|e| LoadError::NotAComponent {
                    revision: revision.to_string(),
                    origin: origin.to_string(),
                    detail: format!("{e:#}"),
                })?;
        match origin_kind {
            Origin::Cache => {
                tracing::debug!("component {short} ({origin}) loaded from cache")
            }
            Origin::Compiled => tracing::debug!(
                "compiled component {short} ({origin}) in {} ms",
                started.elapsed().as_millis()
            ),
        }
        let pre = self
            .link(&component)
            .map_err(|detail| LoadError::WrongWorld {
                revision: revision.to_string(),
                origin: origin.to_string(),
                detail,
            })?;
        let prepared = Arc::new(Prepared {
            pre,
            hash: hash.clone(),
            origin: origin_kind,
        });
        self.lock_prepared().insert(hash, prepared.clone());
        Ok(prepared)
    }

    fn link(&self, component: &Component) -> Result<Pre, String> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| format!("{e:#}"))?;
        match MigrationPre::new(pre.clone()) {
            Ok(current) => Ok(Pre::Current(current)),
            // The current version's error is the one worth showing: it is
            // what a new component should be built against.
            Err(e) => bindings::v0_1::MigrationPre::new(pre)
                .map(Pre::V0_1)
                .map_err(|_| format!("{e:#}")),
        }
    }

    fn lock_prepared(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Prepared>>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a revision's `upgrade` or `downgrade` against `conn`, which the
    /// caller has usually put inside a transaction. The connection always
    /// comes back, so the caller can commit or roll back, and so do the
    /// writes that succeeded, for the report of a revision that fails
    /// part-way where a rollback cannot undo them.
    pub async fn run(
        &self,
        prepared: &Prepared,
        job: &Job<'_>,
        mut conn: Box<dyn Connection>,
    ) -> (Box<dyn Connection>, Vec<String>, Result<Stats, RunError>) {
        let revision = job.revision.to_string();
        // Guest mode spans exactly the broker's life: every statement the
        // guest sends goes through the broker, and the host's own (begin,
        // the version-table and audit batches, commit or rollback, the
        // ledger's reads) are sent before the broker takes the connection
        // or after it gives it back. So the switch is flipped here, once per
        // revision, rather than per statement in the broker; the backend
        // confines what the guest sends while it is on (SQLite: see
        // db::sqlite_guard).
        if let Err(e) = conn.guest_statements(true).await {
            let err = RunError::Sandbox {
                revision,
                detail: format!("cannot confine its statements: {e}"),
            };
            return (conn, Vec::new(), Err(err));
        }
        let (mut conn, writes, result) = self.run_guest(prepared, job, conn).await;
        if let Err(e) = conn.guest_statements(false).await {
            // The backend's own statements switch it off again if need be;
            // the revision fails either way, and is rolled back.
            let err = RunError::Sandbox {
                revision: job.revision.to_string(),
                detail: format!("cannot end the confinement of its statements: {e}"),
            };
            return (conn, writes, result.and(Err(err)));
        }
        (conn, writes, result)
    }

    async fn run_guest(
        &self,
        prepared: &Prepared,
        job: &Job<'_>,
        conn: Box<dyn Connection>,
    ) -> (Box<dyn Connection>, Vec<String>, Result<Stats, RunError>) {
        let revision = job.revision.to_string();
        let dialect = conn.dialect();
        let budget = sandbox::OutputBudget::default();
        let stdout = sandbox::GuestOutput::new(&revision, "stdout", false, budget.clone());
        let stderr = sandbox::GuestOutput::new(&revision, "stderr", true, budget.clone());
        let wasi = match sandbox::wasi_ctx(job.dir, stdout.clone(), stderr.clone()) {
            Ok(w) => w,
            Err(e) => {
                let err = RunError::Sandbox {
                    revision,
                    detail: format!("{e:#}"),
                };
                return (conn, Vec::new(), Err(err));
            }
        };
        // Taken before the broker takes the connection: the runtime cancels
        // the connection's statement while the broker waits on it.
        let canceller = conn.canceller();
        let mut state = HostState::new(
            wasi,
            sandbox::Limits::new(self.options.memory_limit),
            Broker::new(conn, &revision)
                .confined(Confinement::new(dialect, job.own_tables).untrusted(job.untrusted))
                .recording_failure(job.failed_state.clone())
                .capped(Caps::for_memory_limit(self.options.memory_limit))
                .reporting_to(job.progress.clone()),
        );
        state.output = budget.clone();
        state.batches = job.batching.clone().map(batched::Batches::new);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = self.options.timeout.as_millis() / EPOCH_TICK.as_millis() + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();

        let ctx = types::Context {
            revision: revision.clone(),
            direction: match job.direction {
                Direction::Upgrade => types::Direction::Upgrade,
                Direction::Downgrade => types::Direction::Downgrade,
            },
            args: job.args.to_string(),
            offline: job.offline,
        };

        // The epoch deadline stops wasm code; the database side stops a
        // revision waiting on a statement (see `stop_in_the_database`).
        let deadline = Instant::now() + self.options.timeout;
        if let Some(c) = &canceller {
            c.arm(deadline);
        }
        let guest = async {
            match &prepared.pre {
                Pre::Current(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let api = instance.aludel_migration_revision();
                    match job.direction {
                        Direction::Upgrade => api.call_upgrade(&mut store, &ctx).await,
                        Direction::Downgrade => api.call_downgrade(&mut store, &ctx).await,
                    }
                }
                Pre::V0_1(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let api = instance.aludel_migration_revision();
                    match job.direction {
                        Direction::Upgrade => api.call_upgrade(&mut store, &ctx).await,
                        Direction::Downgrade => api.call_downgrade(&mut store, &ctx).await,
                    }
                }
            }
        };
        let outcome = stop_in_the_database(guest, deadline, canceller.as_deref(), &revision).await;
        if let Some(c) = &canceller {
            c.disarm();
        }
        let stuck = matches!(outcome, Err(Stopped::Stuck));
        // Past the limit the outcome is the limit's, whatever the guest saw:
        // the database's "cancelled" or "interrupted" error, the trap, or
        // even success (MySQL's SLEEP() returns 1 when killed, and the
        // statements after it in a script then run).
        let outcome = match outcome {
            Ok(_) if Instant::now() >= deadline => Err(Stopped::Dropped),
            other => other,
        };

        let stderr_tail = stderr.finish();
        stdout.finish();
        budget.report(&revision);
        let data = store.data();
        let result = match outcome {
            Err(Stopped::Stuck) => Err(RunError::Abandoned {
                revision: revision.clone(),
                limit: self.options.timeout,
            }),
            Err(Stopped::Dropped) => Err(RunError::Timeout {
                revision: revision.clone(),
                limit: self.options.timeout,
            }),
            Ok(Err(trap)) => {
                Err(self.classify_trap(&revision, trap, data.limits.memory_exceeded, stderr_tail))
            }
            Ok(Ok(guest_result)) => match (data.broker.failed(), guest_result) {
                (Some(failed), guest) => Err(RunError::StatementFailed {
                    revision: revision.clone(),
                    sql: failed.sql.clone(),
                    error: failed.error.clone(),
                    guest: guest.err(),
                }),
                (None, Err(message)) => Err(RunError::Failed {
                    revision: revision.clone(),
                    message,
                }),
                (None, Ok(())) => Ok(Stats {
                    batches: data.batches.as_ref().map_or(0, |b| b.committed),
                    ..data.broker.stats()
                }),
            },
        };
        let mut broker = store.into_data().broker;
        if result.is_ok() {
            broker.close_leftover_cursors().await;
        }
        let (conn, writes) = broker.finish();
        // Its next statement, the ROLLBACK, would wait behind the one that
        // did not stop: closed instead, the server ends the transaction.
        let conn: Box<dyn Connection> = if stuck {
            Box::new(crate::db::abandoned::Abandoned::replacing(conn))
        } else {
            conn
        };
        (conn, writes, result)
    }

    fn classify_trap(
        &self,
        revision: &str,
        trap: wasmtime::Error,
        memory_exceeded: bool,
        stderr: String,
    ) -> RunError {
        if memory_exceeded {
            return RunError::MemoryLimit {
                revision: revision.to_string(),
                limit_mib: self.options.memory_limit >> 20,
            };
        }
        if matches!(trap.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return RunError::Timeout {
                revision: revision.to_string(),
                limit: self.options.timeout,
            };
        }
        RunError::Trap {
            revision: revision.to_string(),
            message: format!("{trap:#}"),
            stderr,
        }
    }
}

/// Runs `guest` until it returns or `deadline` passes. Wasm code stops itself
/// at the deadline (the epoch trap); a guest still running then is waiting on
/// the host, that is on a statement running or waiting in the database.
/// Dropping the call would not stop that statement: the server runs it to its
/// end (SQLite's worker too), and the next statement on the connection, the
/// ROLLBACK, waits behind it. So the statement is cancelled in the database
/// (`canceller`), and the call is driven on until the cancelled statement has
/// come back and the guest, back in wasm, met its deadline: the connection is
/// then in a clean state and serves the rollback and the failed-history row.
///
/// Only if it does not come back within [`CANCEL_GRACE`] (a cancel that
/// could not reach the server, a statement that ignores it) is the call
/// dropped, and the connection with it ([`Stopped::Stuck`]): a ROLLBACK
/// on it would wait for the statement's end.
async fn stop_in_the_database<F: std::future::Future>(
    guest: F,
    deadline: Instant,
    canceller: Option<&dyn Canceller>,
    revision: &str,
) -> Result<F::Output, Stopped> {
    let mut guest = std::pin::pin!(guest);
    if let Ok(done) = tokio::time::timeout_at(deadline.into(), &mut guest).await {
        return Ok(done);
    }
    let Some(canceller) = canceller else {
        // Offline: nothing runs in a database.
        tracing::debug!(
            "revision {revision} ran past its time limit; nothing can cancel its statement"
        );
        return Err(Stopped::Dropped);
    };
    tracing::debug!(
        "revision {revision} ran past its time limit while waiting on the database: \
         cancelling its statement in the server"
    );
    let give_up = tokio::time::Instant::from_std(deadline + CANCEL_GRACE);
    let driven = tokio::time::timeout_at(give_up, async {
        loop {
            // The guest is driven while the cancel is on its way: a statement
            // that ends by itself lets the guest reach its epoch trap at once.
            // A cancel under way is finished even then, so that none reaches
            // the server after the host's own ROLLBACK was sent.
            let mut cancel = std::pin::pin!(tokio::time::timeout(CANCEL_AGAIN, canceller.cancel()));
            let sent = tokio::select! {
                done = &mut guest => {
                    let _ = cancel.await;
                    return done;
                }
                sent = &mut cancel => sent,
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    "revision {revision}: cannot cancel its statement in the database: {e}"
                ),
                Err(_) => tracing::warn!(
                    "revision {revision}: cancelling its statement in the database took \
                     longer than {CANCEL_AGAIN:?}"
                ),
            }
            // Sent again a while later if the guest is still waiting.
            tokio::select! {
                done = &mut guest => return done,
                () = tokio::time::sleep(CANCEL_AGAIN) => {}
            }
        }
    })
    .await;
    driven.map_err(|_| {
        tracing::warn!(
            "revision {revision}: its statement did not stop within {CANCEL_GRACE:?} \
             of its time limit; closing the connection, so that the database ends it"
        );
        Stopped::Stuck
    })
}

/// Why [`stop_in_the_database`] dropped a revision's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// Past its time limit, with nothing left running in a database.
    Dropped,
    /// Its statement still runs in the server: the connection is closed.
    Stuck,
}
