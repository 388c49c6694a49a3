//! Checksums and archives of revision directories: what makes an applied
//! revision immutable (its checksum is recorded and verified on every run)
//! and what lets a revision run without its directory (its archive is
//! stored in the database).
//!
//! The algorithm is pinned as [`CHECKSUM_VERSION`] and documented in
//! docs/revisions.md: checksums are compared with values recorded years
//! earlier, so any change to it is a new version, never an edit.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

use super::{ProjectError, cap_error, io_error};

/// The version of the checksum algorithm, the prefix of every checksum.
pub const CHECKSUM_VERSION: &str = "v1";

/// The first line of an archive (format documented in docs/revisions.md).
const ARCHIVE_MAGIC: &[u8] = b"aludel-archive v1\n";

/// The files of a revision directory: relative paths (`/`-separated) to
/// their bytes as on disk, sorted by path.
pub type Files = BTreeMap<String, Vec<u8>>;

/// A revision directory's checksum, and the digest of each file so that a
/// mismatch can name the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// `v1:<64 hex>`.
    pub value: String,
    /// Relative path → SHA-256 (hex) of its normalised content.
    pub files: BTreeMap<String, String>,
}

/// How one file differs between a recorded checksum and the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Added(String),
    Edited(String),
    Removed(String),
}

impl std::fmt::Display for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileChange::Added(p) => write!(f, "{p} (added)"),
            FileChange::Edited(p) => write!(f, "{p} (edited)"),
            FileChange::Removed(p) => write!(f, "{p} (removed)"),
        }
    }
}

/// Text is normalised so that what git's `autocrlf` or an editor's BOM does
/// to a file does not count as a change; anything that is not text (a NUL
/// byte, or not UTF-8) is hashed as it is.
fn normalise(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if bytes.contains(&0) || std::str::from_utf8(bytes).is_err() {
        return bytes.into();
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if !text.windows(2).any(|w| w == b"\r\n") {
        return text.into();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    out.into()
}

/// Checksum `v1` of a set of files: SHA-256 of each normalised file, then
/// SHA-256 of `aludel-checksum v1\n` followed by `<path>\0<file digest>\n`
/// per file in byte order of the paths.
pub fn checksum(files: &Files) -> Checksum {
    let digests: BTreeMap<String, String> = files
        .iter()
        .map(|(path, bytes)| (path.clone(), hex::encode(Sha256::digest(normalise(bytes)))))
        .collect();
    let mut total = Sha256::new();
    total.update(b"aludel-checksum v1\n");
    for (path, digest) in &digests {
        total.update(path.as_bytes());
        total.update([0]);
        total.update(digest.as_bytes());
        total.update(b"\n");
    }
    Checksum {
        value: format!("{CHECKSUM_VERSION}:{}", hex::encode(total.finalize())),
        files: digests,
    }
}

/// The files that changed from `recorded` to `now`, sorted by path.
pub fn diff(recorded: &Checksum, now: &Checksum) -> Vec<FileChange> {
    let mut changes = Vec::new();
    for (path, digest) in &now.files {
        match recorded.files.get(path) {
            None => changes.push(FileChange::Added(path.clone())),
            Some(d) if d != digest => changes.push(FileChange::Edited(path.clone())),
            Some(_) => {}
        }
    }
    for path in recorded.files.keys() {
        if !now.files.contains_key(path) {
            changes.push(FileChange::Removed(path.clone()));
        }
    }
    changes.sort_by(|a, b| change_path(a).cmp(change_path(b)));
    changes
}

fn change_path(c: &FileChange) -> &str {
    match c {
        FileChange::Added(p) | FileChange::Edited(p) | FileChange::Removed(p) => p,
    }
}

/// Whether a directory entry is left out of checksums and archives: hidden
/// entries (`.git`, editor files) and `target/` (a cargo build in place)
/// are not part of what runs.
fn skipped(name: &str, is_dir: bool) -> bool {
    name.starts_with('.') || (is_dir && name == "target")
}

/// Every file of the directory `dir` (absolute), read through cap-std so
/// that a symlink cannot lead outside it. `shown` is the directory as
/// errors name it.
pub fn read_files(dir: &Path, shown: &Path) -> Result<Files, ProjectError> {
    read_files_noting_gaps(dir, shown).map(|(files, _)| files)
}

/// [`read_files`], and whether the directory holds anything they leave out
/// (a hidden entry, a `target/`, a symlink, at any depth), in one walk.
pub fn read_files_noting_gaps(dir: &Path, shown: &Path) -> Result<(Files, bool), ProjectError> {
    let root = Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .map_err(|e| cap_error("open", shown, e))?;
    let mut files = Files::new();
    let mut gaps = false;
    walk(&root, "", shown, &mut files, &mut gaps)?;
    Ok((files, gaps))
}

fn walk(
    dir: &Dir,
    prefix: &str,
    shown: &Path,
    files: &mut Files,
    gaps: &mut bool,
) -> Result<(), ProjectError> {
    let here = shown.join(prefix);
    let entries = dir.entries().map_err(|e| cap_error("list", &here, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| cap_error("list", &here, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| !n.contains('\n')) else {
            return Err(ProjectError::Invalid {
                file: here.join(&name),
                line: None,
                field: None,
                message: "the name is not valid UTF-8 or holds a line break: rename the file"
                    .to_string(),
            });
        };
        let rel = format!("{prefix}{name}");
        let meta = dir
            .symlink_metadata(name)
            .map_err(|e| cap_error("inspect", &shown.join(&rel), e))?;
        // A symlink is not content of the revision: one inside it points at
        // what is hashed anyway, and the guest cannot follow one out of it.
        if meta.file_type().is_symlink() || skipped(name, meta.is_dir()) {
            *gaps = true;
            continue;
        }
        if meta.is_dir() {
            let sub = dir
                .open_dir(name)
                .map_err(|e| cap_error("open", &shown.join(&rel), e))?;
            walk(&sub, &format!("{rel}/"), shown, files, gaps)?;
        } else if !meta.is_file() {
            // Opening a FIFO blocks until something writes to it, and a
            // device or socket is no content either: refused before anything
            // reads it, the host or the guest.
            return Err(ProjectError::Invalid {
                file: shown.join(&rel),
                line: None,
                field: None,
                message: "is not a regular file (a FIFO, socket or device): a revision holds \
                          only files and directories; remove it"
                    .to_string(),
            });
        } else {
            let bytes = dir
                .read(name)
                .map_err(|e| cap_error("read", &shown.join(&rel), e))?;
            files.insert(rel, bytes);
        }
    }
    Ok(())
}

/// The directory a revision's guest sees as `/`: its own directory when
/// that holds exactly what its checksum and archive cover (the common
/// case, at the cost of listing it), else a temporary copy of just those
/// files. So a guest never reads a hidden file, a `target/` or the far end
/// of a symlink that no checksum or stored archive covers (see
/// docs/revisions.md, "What a revision can read"). The copy is removed when
/// the returned directory is dropped.
pub fn guest_view(dir: &Path, shown: &Path) -> Result<Option<tempfile::TempDir>, ProjectError> {
    let (files, gaps) = read_files_noting_gaps(dir, shown)?;
    guest_view_of(&files, gaps, shown)
}

/// [`guest_view`] of a directory already read by [`read_files_noting_gaps`]
/// (its `files`, and whether it held anything they leave out): the host
/// reads a revision's directory once, for its archive and for this.
pub fn guest_view_of(
    files: &Files,
    gaps: bool,
    shown: &Path,
) -> Result<Option<tempfile::TempDir>, ProjectError> {
    if !gaps {
        return Ok(None);
    }
    let view = tempfile::Builder::new()
        .prefix("aludel-revision-")
        .tempdir()
        .map_err(|e| io_error("create a temporary directory for", shown, e))?;
    for (path, bytes) in files {
        let target = view.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
        }
        std::fs::write(&target, bytes).map_err(|e| io_error("write", &target, e))?;
    }
    Ok(Some(view))
}

/// Packs files into one archive: `aludel-archive v1\n`, then per file in
/// path order `<path>\n<length in bytes, decimal>\n<bytes>\n`. The bytes are
/// kept as on disk, not normalised: the archive is what ran.
pub fn pack(files: &Files) -> Vec<u8> {
    let size: usize = files.iter().map(|(p, b)| p.len() + b.len() + 24).sum();
    let mut out = Vec::with_capacity(ARCHIVE_MAGIC.len() + size);
    out.extend_from_slice(ARCHIVE_MAGIC);
    for (path, bytes) in files {
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(bytes.len().to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    out
}

/// Reads an archive made by [`pack`]. Paths that could lead out of the
/// directory they are unpacked into are refused: an archive comes from the
/// database, which a revision's author may have written to.
pub fn unpack(archive: &[u8]) -> Result<Files, String> {
    let mut rest = archive
        .strip_prefix(ARCHIVE_MAGIC)
        .ok_or("not an aludel archive (no `aludel-archive v1` header)")?;
    let mut files = Files::new();
    let line = |rest: &mut &[u8]| -> Result<String, String> {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("truncated archive")?;
        let text = std::str::from_utf8(&rest[..end])
            .map_err(|_| "a path in the archive is not UTF-8".to_string())?
            .to_string();
        *rest = &rest[end + 1..];
        Ok(text)
    };
    while !rest.is_empty() {
        let path = line(&mut rest)?;
        let unsafe_path = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if unsafe_path {
            return Err(format!("unsafe path `{path}` in the archive"));
        }
        let len: usize = line(&mut rest)?
            .parse()
            .map_err(|_| format!("bad length for `{path}` in the archive"))?;
        if rest.len() < len + 1 || rest[len] != b'\n' {
            return Err(format!("truncated archive at `{path}`"));
        }
        files.insert(path, rest[..len].to_vec());
        rest = &rest[len + 1..];
    }
    Ok(files)
}

/// Writes `files` under `dir`, creating subdirectories.
pub fn write_files(dir: &Path, files: &Files) -> io::Result<()> {
    for (path, bytes) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &[u8])]) -> Files {
        list.iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect()
    }

    #[test]
    fn line_endings_and_a_bom_do_not_change_the_checksum() {
        let lf = files(&[
            ("revision.toml", b"id = \"a\"\n"),
            ("up.sql", b"SELECT 1;\nSELECT 2;\n"),
        ]);
        let crlf = files(&[
            ("revision.toml", b"id = \"a\"\r\n"),
            ("up.sql", b"\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\r\n"),
        ]);
        assert_eq!(checksum(&lf), checksum(&crlf));
    }

    #[test]
    fn an_edit_changes_the_checksum_and_names_the_file() {
        let before = files(&[("revision.toml", b"x"), ("up.sql", b"SELECT 1;")]);
        let after = files(&[
            ("revision.toml", b"x"),
            ("up.sql", b"SELECT 2;"),
            ("new.sql", b""),
        ]);
        let (a, b) = (checksum(&before), checksum(&after));
        assert_ne!(a.value, b.value);
        assert_eq!(
            diff(&a, &b),
            vec![
                FileChange::Added("new.sql".into()),
                FileChange::Edited("up.sql".into())
            ]
        );
        assert_eq!(diff(&b, &a)[0], FileChange::Removed("new.sql".into()));
    }

    #[test]
    fn binary_files_are_hashed_raw() {
        // A lone CR before LF inside binary data is data, not a line ending.
        let a = files(&[("revision.wasm", b"\0asm\r\n")]);
        let b = files(&[("revision.wasm", b"\0asm\n")]);
        assert_ne!(checksum(&a), checksum(&b));
        let invalid_utf8 = files(&[("x.bin", b"\xff\r\n")]);
        let invalid_utf8_lf = files(&[("x.bin", b"\xff\n")]);
        assert_ne!(checksum(&invalid_utf8), checksum(&invalid_utf8_lf));
    }

    #[test]
    fn the_v1_checksum_is_pinned() {
        // Recorded checksums must stay comparable forever: this value may
        // never change; a new algorithm is a new version.
        let c = checksum(&files(&[("revision.toml", b"id = \"a\"\n")]));
        let file = hex::encode(Sha256::digest(b"id = \"a\"\n"));
        let mut total = Sha256::new();
        total.update(format!("aludel-checksum v1\nrevision.toml\0{file}\n"));
        assert_eq!(c.value, format!("v1:{}", hex::encode(total.finalize())));
    }

    #[test]
    fn read_files_sorts_paths_and_skips_hidden_entries_and_target() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("revision.toml"), "id").unwrap();
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::write(d.join("src/lib.rs"), "fn x() {}").unwrap();
        std::fs::create_dir_all(d.join("target/release")).unwrap();
        std::fs::write(d.join("target/release/x"), "built").unwrap();
        std::fs::write(d.join(".swp"), "editor").unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join(".git/HEAD"), "ref").unwrap();
        let read = read_files(d, Path::new("versions/x")).unwrap();
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            vec!["revision.toml", "src/lib.rs"]
        );
    }

    #[test]
    fn an_archive_round_trips_and_refuses_paths_that_escape() {
        let f = files(&[
            ("a\nb", b"x"),
            ("revision.toml", b"id\n\n"),
            ("src/lib.rs", b""),
        ]);
        // A newline in a path would break the format: such a path is
        // refused on unpack rather than misread.
        assert!(unpack(&pack(&f)).is_err());
        let f = files(&[
            ("revision.toml", b"id\n\n"),
            ("src/lib.rs", b""),
            ("w", b"\0\n1\n"),
        ]);
        assert_eq!(unpack(&pack(&f)).unwrap(), f);
        let evil = pack(&files(&[("../etc/passwd", b"x")]));
        assert!(unpack(&evil).unwrap_err().contains("unsafe path"));
        assert!(unpack(b"garbage").is_err());
    }

    #[test]
    fn a_guest_sees_its_own_directory_only_when_the_checksum_covers_all_of_it() {
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join("revision.toml"), "id = \"a\"\n").unwrap();
        std::fs::create_dir(plain.path().join("sql")).unwrap();
        std::fs::write(plain.path().join("sql/up.sql"), "SELECT 1;").unwrap();
        assert!(
            guest_view(plain.path(), Path::new("v/a"))
                .unwrap()
                .is_none()
        );

        for (hidden, make) in [
            (
                ".env",
                &(|d: &Path| std::fs::write(d.join(".env"), "SECRET=1"))
                    as &dyn Fn(&Path) -> std::io::Result<()>,
            ),
            ("sql/.swp", &|d: &Path| {
                std::fs::write(d.join("sql/.swp"), "x")
            }),
            ("target/out", &|d: &Path| {
                std::fs::create_dir(d.join("target"))?;
                std::fs::write(d.join("target/out"), "x")
            }),
            ("link", &|d: &Path| {
                std::os::unix::fs::symlink("revision.toml", d.join("link"))
            }),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("revision.toml"), "id = \"a\"\n").unwrap();
            std::fs::create_dir(dir.path().join("sql")).unwrap();
            std::fs::write(dir.path().join("sql/up.sql"), "SELECT 1;").unwrap();
            make(dir.path()).unwrap();
            let view = guest_view(dir.path(), Path::new("v/a"))
                .unwrap()
                .unwrap_or_else(|| panic!("{hidden}: no view"));
            let seen = read_files(view.path(), Path::new("view")).unwrap();
            assert_eq!(
                seen,
                read_files(dir.path(), Path::new("v/a")).unwrap(),
                "{hidden}"
            );
            assert!(!view.path().join(hidden).exists(), "{hidden} is visible");
        }
    }
}
