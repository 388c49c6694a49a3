//! Compiled components cached on disk, so a second run compiles nothing.
//!
//! A file is named after the SHA-256 of the component and a key of the
//! engine (wasmtime's version and its precompile compatibility hash), and
//! holds a header of aludel's own: a magic string and the SHA-256 of the
//! serialized component that follows. Deserializing is `unsafe` in wasmtime
//! (a crafted file is native code), so a file is only deserialized when its
//! digest matches: a corrupt or truncated file, or one not written by aludel,
//! is recompiled and overwritten, never trusted. The digest guards against
//! accidents, not against an attacker who can write to the cache directory;
//! that directory is created private to the user (mode 0700).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"ALUDELC1";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// Where compiled components live, if anywhere.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained, for the log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
}

impl ComponentCache {
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        // `DefaultHasher::new()` uses fixed keys, so the key is stable for a
        // given build of aludel, which is all a cache needs.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("wasmtime{}-{:016x}", wasmtime_version(), hasher.finish());
        ComponentCache { dir, engine_key }
    }

    /// The default location: `$XDG_CACHE_HOME/aludel/components`, else
    /// `~/.cache/aludel/components`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("aludel").join("components"))
    }

    fn path_for(&self, content_hash: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{content_hash}-{}.cwasm", self.engine_key)))
    }

    /// Loads the compiled form of `bytes`, compiling and storing it if the
    /// cache has no trustworthy copy.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        content_hash: &str,
    ) -> wasmtime::Result<(Component, Origin)> {
        if let Some(path) = self.path_for(content_hash) {
            match read_verified(&path) {
                Ok(Some(payload)) => {
                    // SAFETY: the payload's digest matches the header that
                    // aludel wrote when it serialized this component with an
                    // engine of the same compatibility key.
                    match unsafe { Component::deserialize(engine, &payload) } {
                        Ok(component) => return Ok((component, Origin::Cache)),
                        Err(e) => tracing::warn!(
                            "cached component {} is unusable ({e}); recompiling",
                            path.display()
                        ),
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!("cache file {} {reason}; recompiling it", path.display())
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = self.path_for(content_hash)
            && let Err(e) = store(&path, &component.serialize()?)
        {
            // A cache that cannot be written costs time, not correctness.
            tracing::warn!("cannot write the component cache {}: {e}", path.display());
        }
        Ok((component, Origin::Compiled))
    }
}

fn wasmtime_version() -> &'static str {
    // Kept in step with the `=` pin in host/Cargo.toml.
    "48.0.8"
}

/// `Ok(None)` when there is no file; `Err` with a reason when there is one
/// that must not be trusted.
fn read_verified(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if data.len() < HEADER_LEN || &data[..MAGIC.len()] != MAGIC {
        return Err("was not written by aludel".into());
    }
    let (header, payload) = data.split_at(HEADER_LEN);
    if Sha256::digest(payload)[..] != header[MAGIC.len()..] {
        return Err("is corrupt (its digest does not match)".into());
    }
    Ok(Some(payload.to_vec()))
}

/// Writes atomically: a reader sees the old file or the whole new one.
fn store(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(MAGIC)?;
    file.write_all(&Sha256::digest(payload))?;
    file.write_all(payload)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_aludels_header_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        fs::write(&path, b"\0asm not ours").unwrap();
        assert!(
            read_verified(&path)
                .unwrap_err()
                .contains("not written by aludel")
        );
    }

    #[test]
    fn a_flipped_byte_is_detected_by_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("x.cwasm");
        store(&path, b"payload bytes").unwrap();
        assert_eq!(read_verified(&path).unwrap().unwrap(), b"payload bytes");
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, data).unwrap();
        assert!(read_verified(&path).unwrap_err().contains("corrupt"));
    }

    #[test]
    fn a_missing_file_is_simply_absent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_verified(&dir.path().join("none")).unwrap(), None);
    }
}
