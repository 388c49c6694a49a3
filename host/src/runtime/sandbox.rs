//! What a revision is allowed to see and use.
//!
//! The WASI context grants the revision's own directory, read-only, as the
//! guest's `/`, and nothing else: no environment variables, no arguments, no
//! stdin, no network (TCP, UDP and name lookup all refused), no other
//! preopens. Clocks and randomness are granted: wasmtime-wasi cannot remove
//! randomness (only replace it), and a revision stamping rows with the time
//! or generating UUIDs is legitimate; neither reveals anything of the host
//! but the time. Guest stdout and stderr are forwarded, line by line, to
//! aludel's log and the tail of stderr is kept for error messages.
//!
//! What a revision prints is its own text on the operator's terminal: each
//! line is escaped (see [`crate::escape`]), and one [`OutputBudget`] per
//! revision, shared by stdout, stderr and the `log` import, caps how much
//! of it is forwarded ([`MAX_OUTPUT_LINES`] lines, [`MAX_OUTPUT_BYTES`]
//! bytes); past the cap lines are counted, not logged, and one line at the
//! end of the revision says how many were dropped.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// How much of a guest's stderr is kept for an error message.
const STDERR_TAIL: usize = 4 * 1024;
/// The longest line forwarded to the log; a guest must not make the host
/// buffer an unbounded line.
const MAX_LINE: usize = 16 * 1024;
/// The most lines of output (stdout, stderr and `log` together) one
/// revision forwards to aludel's log: a chatty revision is still readable,
/// a flooding one cannot fill the operator's terminal or log store.
pub const MAX_OUTPUT_LINES: u64 = 10_000;
/// The most bytes of output one revision forwards, however long its lines.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// How much output one revision may still forward, and what it dropped.
#[derive(Clone, Default)]
pub struct OutputBudget {
    inner: Arc<Mutex<Spent>>,
}

#[derive(Default)]
struct Spent {
    lines: u64,
    bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl OutputBudget {
    /// Whether a line of `len` bytes may be forwarded; counts it either way.
    pub fn admit(&self, len: usize) -> bool {
        let mut spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let len = len as u64;
        if spent.lines < MAX_OUTPUT_LINES && spent.bytes + len <= MAX_OUTPUT_BYTES {
            spent.lines += 1;
            spent.bytes += len;
            true
        } else {
            spent.dropped_lines += 1;
            spent.dropped_bytes += len;
            false
        }
    }

    /// Says, in one line, how much output `revision` had dropped, if any.
    pub fn report(&self, revision: &str) {
        let spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if spent.dropped_lines > 0 {
            tracing::warn!(
                target: "aludel::guest",
                revision = %revision,
                "dropped {} more lines ({} bytes) of output from revision {revision}: a revision \
                 forwards at most {MAX_OUTPUT_LINES} lines and {} MiB of output (stdout, stderr \
                 and log together)",
                spent.dropped_lines,
                spent.dropped_bytes,
                MAX_OUTPUT_BYTES >> 20
            );
        }
    }
}

/// Memory and table limits of one store.
pub struct Limits {
    memory_limit: usize,
    memory_used: usize,
    /// Set when the guest asked for more memory than allowed, so the trap
    /// that follows is reported as what it is.
    pub(super) memory_exceeded: bool,
}

impl Limits {
    pub fn new(memory_limit: usize) -> Self {
        Limits {
            memory_limit,
            memory_used: 0,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Count every linear memory of the component against one budget.
        let after = self.memory_used - current.min(self.memory_used) + desired;
        if after > self.memory_limit {
            self.memory_exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} MiB exceeded",
                self.memory_limit >> 20
            )));
        }
        self.memory_used = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Builds the WASI context of one revision run.
pub fn wasi_ctx(
    revision_dir: &Path,
    stdout: GuestOutput,
    stderr: GuestOutput,
) -> wasmtime::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        // A revision reads a few small files: doing so on the calling thread
        // costs less than a hop to tokio's blocking pool for each operation.
        .allow_blocking_current_thread(true)
        .preopened_dir(revision_dir, "/", FsPerms::ReadOnly)?;
    Ok(builder.build())
}

/// A guest output stream: complete lines go to the log as they arrive.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Mutex<OutputState>>,
}

struct OutputState {
    revision: String,
    stream: &'static str,
    line: Vec<u8>,
    tail: Vec<u8>,
    keep_tail: bool,
    budget: OutputBudget,
}

impl GuestOutput {
    pub fn new(
        revision: &str,
        stream: &'static str,
        keep_tail: bool,
        budget: OutputBudget,
    ) -> Self {
        GuestOutput {
            inner: Arc::new(Mutex::new(OutputState {
                revision: revision.to_string(),
                stream,
                line: Vec::new(),
                tail: Vec::new(),
                keep_tail,
                budget,
            })),
        }
    }

    /// The last few KiB written, with any unfinished line flushed to the log.
    pub fn finish(&self) -> String {
        let mut state = self.lock();
        if !state.line.is_empty() {
            let line = std::mem::take(&mut state.line);
            state.emit(&line);
        }
        // For an error message: escaped when it is printed.
        String::from_utf8_lossy(&state.tail).trim_end().to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        // A poisoned lock only means a panic elsewhere mid-write: the bytes
        // are still fine to log.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut state = self.lock();
        if state.keep_tail {
            state.tail.extend_from_slice(bytes);
            let excess = state.tail.len().saturating_sub(STDERR_TAIL);
            state.tail.drain(..excess);
        }
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            if chunk.ends_with(b"\n") {
                let mut line = std::mem::take(&mut state.line);
                line.extend_from_slice(&chunk[..chunk.len() - 1]);
                state.emit(&line);
            } else if state.line.len() < MAX_LINE {
                let room = MAX_LINE - state.line.len();
                state
                    .line
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
    }
}

impl OutputState {
    fn emit(&self, line: &[u8]) {
        if !self.budget.admit(line.len()) {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let line = crate::escape::line(line.trim_end_matches('\r'));
        tracing::info!(
            target: "aludel::guest",
            revision = %self.revision,
            stream = self.stream,
            "{line}"
        );
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_beyond_the_limit_is_refused_and_remembered() {
        let mut limits = Limits::new(2 << 20);
        assert!(limits.memory_growing(0, 1 << 20, None).unwrap());
        assert!(limits.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limits.memory_growing(2 << 20, 3 << 20, None).is_err());
        assert!(limits.memory_exceeded);
    }

    #[test]
    fn guest_output_keeps_only_the_tail_of_stderr() {
        let out = GuestOutput::new("abc", "stderr", true, OutputBudget::default());
        for _ in 0..1000 {
            out.write_bytes(b"0123456789\n");
        }
        out.write_bytes(b"last words");
        let tail = out.finish();
        assert!(tail.len() <= STDERR_TAIL);
        assert!(tail.ends_with("last words"));
    }

    #[test]
    fn a_revision_forwards_at_most_its_budget_of_lines_and_bytes_and_counts_the_rest() {
        let budget = OutputBudget::default();
        let out = GuestOutput::new("abc", "stdout", false, budget.clone());
        let err = GuestOutput::new("abc", "stderr", true, budget.clone());
        for _ in 0..MAX_OUTPUT_LINES / 2 {
            out.write_bytes(b"line\n");
            err.write_bytes(b"line\n");
        }
        assert!(!budget.admit(1), "the line cap is shared by both streams");
        let spent = budget.inner.lock().unwrap().dropped_lines;
        assert_eq!(spent, 1);

        let budget = OutputBudget::default();
        assert!(budget.admit(MAX_OUTPUT_BYTES as usize - 10));
        assert!(!budget.admit(11), "the byte cap counts each line's length");
        assert!(budget.admit(10));
        let spent = budget.inner.lock().unwrap();
        assert_eq!((spent.dropped_lines, spent.dropped_bytes), (1, 11));
    }
}
