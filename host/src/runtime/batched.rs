//! The `batches` interface (aludel:migration@0.2.0): a revision in
//! `transaction = "batched"` commits its work a batch at a time.

use super::bindings::{batches, types};
use super::host::HostState;

/// The batch size a revision is told when its revision.toml names none.
pub const DEFAULT_BATCH_SIZE: u32 = 10_000;

impl batches::Host for HostState {
    async fn resume_position(&mut self) -> wasmtime::Result<Option<types::Value>> {
        Ok(None)
    }

    async fn batch_size(&mut self) -> wasmtime::Result<u32> {
        Ok(DEFAULT_BATCH_SIZE)
    }

    async fn commit_batch(
        &mut self,
        _position: types::Value,
        _rows: u64,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        Ok(Err(types::DbError {
            message: format!(
                "revision {}: commit-batch is only for revisions with transaction = \"batched\" \
                 in their revision.toml; this one runs in one transaction",
                self.broker.revision()
            ),
            code: None,
        }))
    }
}
