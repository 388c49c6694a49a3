//! Revision directories: each `versions/<dir>/revision.toml`, parsed and
//! validated, and the loading of all of them through `cap-std`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

use super::{MANIFEST_FILE, ProjectError, VERSIONS_DIR, cap_error, collect_errors, open_root};
use crate::graph;

/// One revision: a directory under `versions/` and its `revision.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub id: String,
    /// Empty for a base revision; two or more make a merge.
    pub parents: Vec<String>,
    pub message: String,
    pub branch_labels: Vec<String>,
    /// Revision ids or branch labels this revision needs applied first, as
    /// Alembic's `depends_on`.
    pub depends_on: Vec<String>,
    /// As written: informational, so any string or TOML date-time is kept.
    pub created: Option<String>,
    pub runner: Runner,
    /// The `[args]` table as a JSON object, `{}` when absent.
    pub args: serde_json::Value,
    /// `transaction = "none" | "revision" | "run" | "batched"`: overrides
    /// `[database] transaction` for this revision.
    pub transaction: Option<super::TransactionMode>,
    /// `[batch]`: the batch size and throttle of a batched revision.
    pub batch: BatchSettings,
    /// `foreign_keys = false` (SQLite only): the revision's transaction runs
    /// with foreign-key enforcement off, as sqlite.org's table rebuild
    /// needs, and is checked with `PRAGMA foreign_key_check` before it
    /// commits. True when absent.
    pub foreign_keys: bool,
    /// The revision directory, absolute.
    pub dir: PathBuf,
    /// The directory's name under `versions/`.
    pub dir_name: String,
}

/// `[batch]` of a revision with `transaction = "batched"`
/// (docs/backfills.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Rows per batch, as the revision is told (`size`, 10,000 by default).
    pub size: u32,
    /// At most this many rows a second (`rows_per_second`): after a batch
    /// the host waits until the batch's rows have taken that long.
    pub rows_per_second: Option<u64>,
    /// A pause after each committed batch (`pause_ms`), in milliseconds.
    pub pause_ms: u64,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            size: 10_000,
            rows_per_second: None,
            pause_ms: 0,
        }
    }
}

/// What runs a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// A plugin shipped with aludel or in the project's `plugins/`, e.g. `sql`.
    Plugin { name: String },
    /// The revision's own component: `file` in the revision directory, built
    /// from `source` (only `"rust"` for now) by `aludel build` when set.
    Component {
        file: String,
        source: Option<String>,
    },
}

impl Revision {
    /// Reads the component file of a [`Runner::Component`] revision. Reads
    /// through `cap-std` rooted at the revision directory, so a symlinked
    /// component cannot lead outside it.
    pub fn read_component(&self) -> Result<Vec<u8>, ProjectError> {
        let file = match &self.runner {
            Runner::Component { file, .. } => file,
            Runner::Plugin { name } => {
                return Err(ProjectError::Component {
                    revision: self.id.clone(),
                    path: self.dir.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("it runs plugin `{name}`, not a component of its own"),
                    ),
                });
            }
        };
        let path = self.dir.join(file);
        let fail = |source: io::Error| {
            if super::escaped(&source) {
                ProjectError::OutsideProject { path: path.clone() }
            } else {
                ProjectError::Component {
                    revision: self.id.clone(),
                    path: path.clone(),
                    source,
                }
            }
        };
        let dir = Dir::open_ambient_dir(&self.dir, cap_std::ambient_authority()).map_err(fail)?;
        dir.read(file).map_err(fail)
    }

    /// The revision directory as errors name it: `versions/<dir>`.
    pub fn shown_dir(&self) -> PathBuf {
        Path::new(VERSIONS_DIR).join(&self.dir_name)
    }

    /// Every file of the revision directory as on disk (hidden entries and
    /// `target/` left out), as checksums and stored artifacts see it.
    pub fn files(&self) -> Result<super::Files, ProjectError> {
        super::checksum::read_files(&self.dir, &Path::new(VERSIONS_DIR).join(&self.dir_name))
    }

    /// [`files`](Self::files), and whether the directory holds anything
    /// they leave out (see `checksum::guest_view_of`).
    pub fn files_noting_gaps(&self) -> Result<(super::Files, bool), ProjectError> {
        super::checksum::read_files_noting_gaps(
            &self.dir,
            &Path::new(VERSIONS_DIR).join(&self.dir_name),
        )
    }

    /// The checksum of the revision directory (see docs/revisions.md,
    /// Checksums): `revision.toml` and every other file, normalised.
    pub fn checksum(&self) -> Result<super::Checksum, ProjectError> {
        Ok(super::checksum::checksum(&self.files()?))
    }

    /// `versions/<dir>/revision.toml`, relative to the project root, as
    /// errors name it.
    pub fn manifest_path(&self) -> PathBuf {
        manifest_rel_path(&self.dir_name)
    }
}

fn manifest_rel_path(dir_name: &str) -> PathBuf {
    Path::new(VERSIONS_DIR).join(dir_name).join(MANIFEST_FILE)
}

/// Loads every revision under `<root>/versions`, sorted by directory name,
/// and reports every invalid one.
pub(crate) fn load_revisions(root: &Path) -> Result<Vec<Revision>, ProjectError> {
    let root_dir = open_root(root)?;
    let versions_rel = Path::new(VERSIONS_DIR);
    let versions = match root_dir.open_dir(VERSIONS_DIR) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(root = %root.display(), "no versions/ directory: no revisions");
            return Ok(Vec::new());
        }
        Err(e) => return Err(cap_error("open", versions_rel, e)),
    };

    let mut names = Vec::new();
    let entries = versions
        .entries()
        .map_err(|e| cap_error("list", versions_rel, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| cap_error("list", versions_rel, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ProjectError::Invalid {
                file: versions_rel.join(&name),
                line: None,
                field: None,
                message: "the name is not valid UTF-8: rename the directory".to_string(),
            });
        };
        if name.starts_with('.') {
            continue;
        }
        names.push(name.to_string());
    }
    names.sort();

    let mut revisions = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let rel = versions_rel.join(&name);
        // `metadata` follows a symlink, but only within `versions/`: one
        // that leads outside fails here, and is refused.
        let is_dir = match versions.metadata(&name) {
            Ok(meta) => meta.is_dir(),
            Err(e) => {
                errors.push(cap_error("inspect", &rel, e));
                continue;
            }
        };
        if !is_dir {
            continue;
        }
        match load_revision(root, &versions, &name) {
            Ok(revision) => revisions.push(revision),
            Err(e) => errors.push(e),
        }
    }

    let mut seen: HashMap<&str, &Revision> = HashMap::new();
    for revision in &revisions {
        if let Some(first) = seen.insert(&revision.id, revision) {
            errors.push(ProjectError::DuplicateId {
                id: revision.id.clone(),
                first: first.manifest_path(),
                second: revision.manifest_path(),
            });
        }
    }
    collect_errors(errors)?;
    Ok(revisions)
}

fn load_revision(root: &Path, versions: &Dir, name: &str) -> Result<Revision, ProjectError> {
    let rel_dir = Path::new(VERSIONS_DIR).join(name);
    let manifest = manifest_rel_path(name);
    let dir = versions
        .open_dir(name)
        .map_err(|e| cap_error("open", &rel_dir, e))?;
    let source = match dir.read_to_string(MANIFEST_FILE) {
        Ok(source) => source,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ProjectError::MissingManifest { dir: rel_dir });
        }
        Err(e) => return Err(cap_error("read", &manifest, e)),
    };
    parse_manifest(&source, &manifest, root.join(&rel_dir), name.to_string())
}

/// Parses and validates the text of a `revision.toml`. `file` is the path
/// errors name, `dir` the revision directory.
pub fn parse_manifest(
    source: &str,
    file: &Path,
    dir: PathBuf,
    dir_name: String,
) -> Result<Revision, ProjectError> {
    let doc = TomlDoc { source, file };
    let raw: RawManifest = parse_toml(&doc, MANIFEST_KEYS)?;

    let id_example = dir_name
        .split('_')
        .next()
        .filter(|prefix| check_id(prefix).is_ok())
        .unwrap_or("1975ea83b712");
    let Some(id_value) = raw.id else {
        return Err(doc.invalid(
            None,
            "id",
            format!("`id` is missing: add the revision's id, like `id = \"{id_example}\"`"),
        ));
    };
    let Some(parents_value) = raw.parents else {
        return Err(doc.invalid(
            None,
            "parents",
            "`parents` is missing: add `parents = []` for a base revision, or `parents = [\"<id>\"]` naming the revision this one follows",
        ));
    };
    let Some(message_value) = raw.message else {
        return Err(doc.invalid(
            None,
            "message",
            "`message` is missing: add a short description, like `message = \"add users\"`",
        ));
    };

    let id = doc.string(&id_value, "id", &format!("`id = \"{id_example}\"`"))?;
    if let Err(reason) = check_id(&id) {
        return Err(doc.invalid(
            Some(&id_value),
            "id",
            format!("`id` = {id:?} is not a valid revision id: {reason}"),
        ));
    }

    let parents = doc.string_list(
        &parents_value,
        "parents",
        "`parents = [\"ae1027a6acf0\"]`, or `parents = []` for a base revision",
    )?;
    for (i, parent) in parents.iter().enumerate() {
        if let Err(reason) = check_id(parent) {
            return Err(doc.invalid(
                Some(&parents_value),
                "parents",
                format!("`parents` lists {parent:?}, which is not a valid revision id: {reason}"),
            ));
        }
        if *parent == id {
            return Err(doc.invalid(
                Some(&parents_value),
                "parents",
                "`parents` lists the revision's own id: a revision cannot follow itself; name the revision it follows",
            ));
        }
        if parents[..i].contains(parent) {
            return Err(doc.invalid(
                Some(&parents_value),
                "parents",
                format!("`parents` lists {parent:?} twice: name each parent once"),
            ));
        }
    }

    let message = doc.string(&message_value, "message", "`message = \"add users\"`")?;

    let created = match raw.created {
        None => None,
        Some(v) => match v.get_ref() {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Datetime(d) => Some(d.to_string()),
            _ => {
                return Err(doc.invalid(
                    Some(&v),
                    "created",
                    "`created` must be a date and time, like `created = \"2026-11-21T06:34:00Z\"`",
                ));
            }
        },
    };

    let branch_labels = match raw.branch_labels {
        None => Vec::new(),
        Some(v) => {
            let labels = doc.string_list(&v, "branch_labels", "`branch_labels = [\"auth\"]`")?;
            for label in &labels {
                if let Err(reason) = check_label(label) {
                    return Err(doc.invalid(
                        Some(&v),
                        "branch_labels",
                        format!(
                            "`branch_labels` lists {label:?}, which is not a valid label: {reason}"
                        ),
                    ));
                }
            }
            labels
        }
    };

    let depends_on = match raw.depends_on {
        None => Vec::new(),
        Some(v) => {
            let deps = doc.string_list(&v, "depends_on", "`depends_on = [\"ae1027a6acf0\"]`")?;
            for dep in &deps {
                if check_id(dep).is_err() && check_label(dep).is_err() {
                    return Err(doc.invalid(
                        Some(&v),
                        "depends_on",
                        format!(
                            "`depends_on` lists {dep:?}, which is neither a revision id nor a branch label: use lowercase letters, digits and `_` for an id, or a label's name"
                        ),
                    ));
                }
                if *dep == id {
                    return Err(doc.invalid(
                        Some(&v),
                        "depends_on",
                        "`depends_on` lists the revision's own id: remove it",
                    ));
                }
            }
            deps
        }
    };

    let runner = parse_runner(&doc, raw.plugin, raw.component, raw.source)?;

    let args = match raw.args {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(v) => match v.get_ref() {
            toml::Value::Table(table) => toml_table_to_json(table, "args")
                .map_err(|(field, message)| doc.invalid(Some(&v), &field, message))?,
            _ => {
                return Err(doc.invalid(
                    Some(&v),
                    "args",
                    "`args` must be a table: write `[args]` on its own line, then one `key = value` per line",
                ));
            }
        },
    };

    let transaction = raw
        .transaction
        .map(|v| {
            let text = doc.string(&v, "transaction", "`transaction = \"none\"`")?;
            super::TransactionMode::parse(&text).ok_or_else(|| {
                doc.invalid(
                    Some(&v),
                    "transaction",
                    format!(
                        "`transaction` = {text:?} is not a mode: use \"none\" for statements that cannot run in a transaction, \"batched\" for a backfill that commits batch by batch, or \"revision\" or \"run\""
                    ),
                )
            })
        })
        .transpose()?;

    let batch = parse_batch(&doc, raw.batch, transaction)?;

    let foreign_keys = match raw.foreign_keys {
        None => true,
        Some(v) => match v.get_ref() {
            toml::Value::Boolean(b) => *b,
            other => {
                return Err(doc.invalid(
                    Some(&v),
                    "foreign_keys",
                    format!(
                        "`foreign_keys` must be true or false, not {}: write `foreign_keys = false`",
                        kind(other)
                    ),
                ));
            }
        },
    };

    Ok(Revision {
        id,
        parents,
        message,
        branch_labels,
        depends_on,
        created,
        runner,
        args,
        transaction,
        batch,
        foreign_keys,
        dir,
        dir_name,
    })
}

/// `[batch]`: only beside `transaction = "batched"`, each key a positive
/// integer.
fn parse_batch(
    doc: &TomlDoc<'_>,
    raw: Option<Spanned<toml::Value>>,
    transaction: Option<super::TransactionMode>,
) -> Result<BatchSettings, ProjectError> {
    let mut settings = BatchSettings::default();
    let Some(v) = raw else {
        return Ok(settings);
    };
    if transaction != Some(super::TransactionMode::Batched) {
        return Err(doc.invalid(
            Some(&v),
            "batch",
            "`[batch]` is for batched revisions: add `transaction = \"batched\"`, or remove `[batch]`",
        ));
    }
    let toml::Value::Table(table) = v.get_ref() else {
        return Err(doc.invalid(
            Some(&v),
            "batch",
            "`batch` must be a table: write `[batch]` on its own line, then `size = 10000`",
        ));
    };
    for (key, value) in table {
        let number = match value {
            toml::Value::Integer(n) if *n > 0 => *n,
            toml::Value::Integer(0) if key == "pause_ms" => 0,
            _ => {
                return Err(doc.invalid(
                    Some(&v),
                    &format!("batch.{key}"),
                    format!(
                        "`batch.{key}` must be a positive integer, not {}",
                        kind(value)
                    ),
                ));
            }
        };
        match key.as_str() {
            // A batch is one transaction's work, and the host and the guest
            // hold it whole: a million rows is more than any backfill needs.
            "size" => {
                settings.size = u32::try_from(number)
                    .ok()
                    .filter(|n| *n <= 1_000_000)
                    .ok_or_else(|| {
                        doc.invalid(
                            Some(&v),
                            "batch.size",
                            "`batch.size` must be at most 1000000 rows",
                        )
                    })?
            }
            "rows_per_second" => settings.rows_per_second = Some(number.unsigned_abs()),
            "pause_ms" => settings.pause_ms = number.unsigned_abs(),
            other => {
                return Err(doc.invalid(
                    Some(&v),
                    &format!("batch.{other}"),
                    format!(
                        "`batch.{other}` is not a batch setting: use `size`, `rows_per_second` or `pause_ms`"
                    ),
                ));
            }
        }
    }
    Ok(settings)
}

fn parse_runner(
    doc: &TomlDoc<'_>,
    plugin: Option<Spanned<toml::Value>>,
    component: Option<Spanned<toml::Value>>,
    source: Option<Spanned<toml::Value>>,
) -> Result<Runner, ProjectError> {
    match (plugin, component) {
        (Some(_), Some(component)) => Err(doc.invalid(
            Some(&component),
            "component",
            "both `plugin` and `component` are set: a revision runs either a plugin (`plugin = \"sql\"`) or its own component (`component = \"revision.wasm\"`); remove one of them",
        )),
        (None, None) => Err(doc.invalid(
            None,
            "plugin",
            "neither `plugin` nor `component` is set: add `plugin = \"sql\"` to run upgrade.sql and downgrade.sql, or `component = \"revision.wasm\"` to run the revision's own component",
        )),
        (Some(plugin), None) => {
            if let Some(source) = source {
                return Err(doc.invalid(
                    Some(&source),
                    "source",
                    "`source` is set with `plugin`: `source` says how `aludel build` makes a revision's own component; remove it, or replace `plugin` with `component = \"revision.wasm\"`",
                ));
            }
            let name = doc.string(&plugin, "plugin", "`plugin = \"sql\"`")?;
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(doc.invalid(
                    Some(&plugin),
                    "plugin",
                    format!(
                        "`plugin` = {name:?} is not a plugin name: use letters, digits, `_` and `-`, like `plugin = \"sql\"`"
                    ),
                ));
            }
            Ok(Runner::Plugin { name })
        }
        (None, Some(component)) => {
            let file = doc.string(&component, "component", "`component = \"revision.wasm\"`")?;
            if let Err(reason) = check_component_file(&file) {
                return Err(doc.invalid(
                    Some(&component),
                    "component",
                    format!(
                        "`component` = {file:?} {reason}: name a file directly in the revision directory, like `component = \"revision.wasm\"`"
                    ),
                ));
            }
            let source = match source {
                None => None,
                Some(v) => {
                    let source = doc.string(&v, "source", "`source = \"rust\"`")?;
                    if source != "rust" {
                        return Err(doc.invalid(
                            Some(&v),
                            "source",
                            format!(
                                "`source` = {source:?} is not supported: `aludel build` only builds \"rust\" for now; build the component yourself and remove `source`"
                            ),
                        ));
                    }
                    Some(source)
                }
            };
            Ok(Runner::Component { file, source })
        }
    }
}

/// Why `id` is not a revision id. Ids are not only 12 hex characters:
/// custom ids are allowed as with Alembic's `--rev-id`. The rule is the
/// graph's, so that what a revision.toml may say is what the graph accepts.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    graph::check_id(id).map_err(|e| e.to_string())
}

fn check_label(label: &str) -> Result<(), String> {
    graph::check_label(label).map_err(|e| e.to_string())
}

fn check_component_file(file: &str) -> Result<(), &'static str> {
    if file.is_empty() {
        return Err("is empty");
    }
    if file == "." || file == ".." {
        return Err("is not a file");
    }
    if file.contains(['/', '\\']) || Path::new(file).is_absolute() {
        return Err("is a path, not a file name");
    }
    if file == MANIFEST_FILE {
        return Err("is the manifest itself");
    }
    Ok(())
}

/// On failure, the dotted path of the bad value and why.
type JsonResult = Result<serde_json::Value, (String, String)>;

fn toml_table_to_json(table: &toml::Table, path: &str) -> JsonResult {
    let mut map = serde_json::Map::new();
    for (key, value) in table {
        let path = format!("{path}.{key}");
        map.insert(key.clone(), toml_to_json(value, &path)?);
    }
    Ok(serde_json::Value::Object(map))
}

// By hand rather than through serde: TOML date-times would otherwise become
// toml's private wrapper objects, and JSON has no NaN or infinity.
fn toml_to_json(value: &toml::Value, path: &str) -> JsonResult {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| {
                (
                    path.to_string(),
                    format!(
                        "`{path}` is {f}, which JSON cannot carry to the revision; use a string"
                    ),
                )
            })?,
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| toml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => toml_table_to_json(table, path)?,
    })
}

const MANIFEST_KEYS: &[&str] = &[
    "id",
    "parents",
    "message",
    "created",
    "branch_labels",
    "depends_on",
    "plugin",
    "component",
    "source",
    "transaction",
    "foreign_keys",
    "[args]",
    "[batch]",
];

// Values are taken as raw TOML and checked by hand so that each error can
// name its key and say what to write instead.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: Option<Spanned<toml::Value>>,
    parents: Option<Spanned<toml::Value>>,
    message: Option<Spanned<toml::Value>>,
    created: Option<Spanned<toml::Value>>,
    branch_labels: Option<Spanned<toml::Value>>,
    depends_on: Option<Spanned<toml::Value>>,
    plugin: Option<Spanned<toml::Value>>,
    component: Option<Spanned<toml::Value>>,
    source: Option<Spanned<toml::Value>>,
    transaction: Option<Spanned<toml::Value>>,
    foreign_keys: Option<Spanned<toml::Value>>,
    args: Option<Spanned<toml::Value>>,
    batch: Option<Spanned<toml::Value>>,
}

/// A TOML file being validated: its text (for line numbers) and the path
/// its errors name.
pub(crate) struct TomlDoc<'a> {
    pub source: &'a str,
    pub file: &'a Path,
}

impl TomlDoc<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        self.source.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub fn invalid(
        &self,
        at: Option<&Spanned<toml::Value>>,
        field: &str,
        message: impl Into<String>,
    ) -> ProjectError {
        ProjectError::Invalid {
            file: self.file.to_path_buf(),
            line: at.map(|v| self.line_of(v.span().start)),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn string(
        &self,
        value: &Spanned<toml::Value>,
        field: &str,
        example: &str,
    ) -> Result<String, ProjectError> {
        match value.get_ref() {
            toml::Value::String(s) => Ok(s.clone()),
            other => Err(self.invalid(
                Some(value),
                field,
                format!(
                    "`{field}` must be a string, not {}: write it like {example}",
                    kind(other)
                ),
            )),
        }
    }

    pub fn string_list(
        &self,
        value: &Spanned<toml::Value>,
        field: &str,
        example: &str,
    ) -> Result<Vec<String>, ProjectError> {
        let wrong = |what: &str| {
            self.invalid(
                Some(value),
                field,
                format!("`{field}` must be a list of strings, not {what}: write it like {example}"),
            )
        };
        let toml::Value::Array(items) = value.get_ref() else {
            return Err(wrong(kind(value.get_ref())));
        };
        items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(wrong(&format!("a list holding {}", kind(other)))),
            })
            .collect()
    }

    pub fn positive(
        &self,
        value: &Spanned<toml::Value>,
        field: &str,
        unit: &str,
    ) -> Result<u64, ProjectError> {
        match value.get_ref() {
            toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
            other => Err(self.invalid(
                Some(value),
                field,
                format!(
                    "`{field}` must be a positive whole number of {unit}, not {}",
                    match other {
                        toml::Value::Integer(i) => i.to_string(),
                        other => kind(other).to_string(),
                    }
                ),
            )),
        }
    }
}

fn kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// Deserializes a TOML document, turning toml's errors into
/// [`ProjectError::Invalid`] with the line, and naming an unknown key with
/// the keys that are allowed (`allowed` is how the message lists them).
pub(crate) fn parse_toml<T: DeserializeOwned>(
    doc: &TomlDoc<'_>,
    allowed: &[&str],
) -> Result<T, ProjectError> {
    toml::from_str(doc.source).map_err(|e| {
        let line = e.span().map(|span| doc.line_of(span.start));
        let raw = e.message().trim_end();
        let (field, message) = match unknown_field(raw) {
            Some((key, expected)) => {
                let suggestion = expected
                    .iter()
                    .filter(|candidate| edit_distance(&key, candidate) <= 2)
                    .min_by_key(|candidate| edit_distance(&key, candidate))
                    .map(|candidate| format!("did you mean `{candidate}`? "))
                    .unwrap_or_default();
                let is_manifest = allowed.contains(&"[args]");
                let args_hint = if is_manifest {
                    "; values for the revision itself go under [args]"
                } else {
                    ""
                };
                let message = format!(
                    "unknown key `{key}`: {suggestion}the keys allowed here are {}{args_hint}",
                    allowed.join(", ")
                );
                (Some(key), message)
            }
            None => (None, format!("invalid TOML: {raw}")),
        };
        ProjectError::Invalid {
            file: doc.file.to_path_buf(),
            line,
            field,
            message,
        }
    })
}

/// Picks serde's "unknown field `x`, expected one of `a`, `b`" apart.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), expected))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "versions/1975ea83b712_add_users/revision.toml";

    fn parse(source: &str) -> Result<Revision, ProjectError> {
        parse_manifest(
            source,
            Path::new(FILE),
            PathBuf::from("/p/versions/1975ea83b712_add_users"),
            "1975ea83b712_add_users".to_string(),
        )
    }

    /// The error for `source`, checked to name the file and `field`.
    fn error(source: &str, field: &str) -> String {
        let err = parse(source).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(FILE), "does not name the file: {msg}");
        assert!(
            msg.contains(&format!("`{field}`")),
            "does not name `{field}`: {msg}"
        );
        match err {
            ProjectError::Invalid { field: f, .. } => assert_eq!(f.as_deref(), Some(field)),
            other => panic!("not Invalid: {other:?}"),
        }
        msg
    }

    const BASE: &str = "id = \"1975ea83b712\"\nparents = []\nmessage = \"add users\"\n";

    #[test]
    fn a_full_manifest_is_read() {
        let revision = parse(
            "id = \"1975ea83b712\"\nparents = [\"ae1027a6acf0\", \"b2\"]\nmessage = \"add users\"\n\
             created = \"2026-11-21T06:34:00Z\"\nbranch_labels = [\"auth\"]\ndepends_on = [\"c3\"]\n\
             plugin = \"sql\"\n[args]\nbatch = 500\nwhen = 2026-01-01\nnested = { a = [1.5, true] }\n",
        )
        .unwrap();
        assert_eq!(revision.id, "1975ea83b712");
        assert_eq!(revision.parents, ["ae1027a6acf0", "b2"]);
        assert_eq!(revision.message, "add users");
        assert_eq!(revision.created.as_deref(), Some("2026-11-21T06:34:00Z"));
        assert_eq!(revision.branch_labels, ["auth"]);
        assert_eq!(revision.depends_on, ["c3"]);
        assert_eq!(revision.runner, Runner::Plugin { name: "sql".into() });
        assert_eq!(
            revision.args,
            serde_json::json!({"batch": 500, "when": "2026-01-01", "nested": {"a": [1.5, true]}})
        );
        assert_eq!(revision.dir_name, "1975ea83b712_add_users");
        assert_eq!(revision.manifest_path(), Path::new(FILE));
    }

    #[test]
    fn optional_keys_default_to_empty() {
        let revision = parse(&format!(
            "{BASE}component = \"revision.wasm\"\nsource = \"rust\"\n"
        ))
        .unwrap();
        assert!(revision.branch_labels.is_empty() && revision.depends_on.is_empty());
        assert_eq!(revision.created, None);
        assert_eq!(revision.args, serde_json::json!({}));
        assert_eq!(
            revision.runner,
            Runner::Component {
                file: "revision.wasm".into(),
                source: Some("rust".into())
            }
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_a_suggestion() {
        let msg = error(
            "id = \"a1\"\nparent = []\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parent",
        );
        assert!(msg.starts_with(&format!("{FILE}:2: ")), "{msg}");
        assert!(msg.contains("did you mean `parents`?"), "{msg}");
        assert!(msg.contains("[args]"), "{msg}");
    }

    #[test]
    fn each_missing_required_key_is_named() {
        let msg = error("parents = []\nmessage = \"m\"\nplugin = \"sql\"\n", "id");
        // The directory name suggests the id.
        assert!(msg.contains("id = \"1975ea83b712\""), "{msg}");
        error(
            "id = \"a1\"\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parents",
        );
        error("id = \"a1\"\nparents = []\nplugin = \"sql\"\n", "message");
    }

    #[test]
    fn ids_with_uppercase_whitespace_or_slashes_are_refused() {
        for bad in ["", "ABC", "a b", "a/b", "..", "head"] {
            let msg = error(
                &format!("id = {bad:?}\nparents = []\nmessage = \"m\"\nplugin = \"sql\"\n"),
                "id",
            );
            assert!(msg.starts_with(&format!("{FILE}:1: ")), "{msg}");
        }
    }

    #[test]
    fn custom_ids_are_allowed() {
        let revision =
            parse("id = \"0001_initial\"\nparents = []\nmessage = \"m\"\nplugin = \"sql\"\n")
                .unwrap();
        assert_eq!(revision.id, "0001_initial");
    }

    #[test]
    fn current_is_as_reserved_as_head() {
        let msg = error(
            "id = \"current\"\nparents = []\nmessage = \"m\"\nplugin = \"sql\"\n",
            "id",
        );
        assert!(msg.contains("reserved word"), "{msg}");
        let msg = error(
            &format!("{BASE}plugin = \"sql\"\nbranch_labels = [\"current\"]\n"),
            "branch_labels",
        );
        assert!(msg.contains("reserved word"), "{msg}");
    }

    #[test]
    fn a_label_may_contain_a_dash_unless_it_spells_a_relative_step() {
        let revision = parse(&format!(
            "{BASE}plugin = \"sql\"\nbranch_labels = [\"release-1\"]\ndepends_on = [\"release-1\"]\n"
        ))
        .unwrap();
        assert_eq!(revision.branch_labels, ["release-1"]);
        assert_eq!(revision.depends_on, ["release-1"]);
        for bad in ["head-1", "-1"] {
            let msg = error(
                &format!("{BASE}plugin = \"sql\"\nbranch_labels = [{bad:?}]\n"),
                "branch_labels",
            );
            assert!(msg.contains("relative step"), "{msg}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named() {
        let msg = error(
            "id = 5\nparents = []\nmessage = \"m\"\nplugin = \"sql\"\n",
            "id",
        );
        assert!(msg.contains("must be a string, not an integer"), "{msg}");
        let msg = error(
            "id = \"a1\"\nparents = \"b2\"\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parents",
        );
        assert!(msg.starts_with(&format!("{FILE}:2: ")), "{msg}");
        error(
            "id = \"a1\"\nparents = [\"B2\"]\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parents",
        );
        error(
            "id = \"a1\"\nparents = [\"a1\"]\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parents",
        );
        error(
            "id = \"a1\"\nparents = [\"b\", \"b\"]\nmessage = \"m\"\nplugin = \"sql\"\n",
            "parents",
        );
        error(&format!("{BASE}plugin = \"sql\"\ncreated = 5\n"), "created");
        error(
            &format!("{BASE}plugin = \"sql\"\nbranch_labels = [\"a@b\"]\n"),
            "branch_labels",
        );
        error(
            &format!("{BASE}plugin = \"sql\"\ndepends_on = [\"x y\"]\n"),
            "depends_on",
        );
        error(&format!("{BASE}plugin = \"sql\"\nargs = 3\n"), "args");
        error(
            &format!("{BASE}plugin = \"sql\"\n[args]\nx = nan\n"),
            "args.x",
        );
    }

    #[test]
    fn exactly_one_of_plugin_and_component_is_required() {
        let msg = error(BASE, "plugin");
        assert!(msg.contains("neither `plugin` nor `component`"), "{msg}");
        let msg = error(
            &format!("{BASE}plugin = \"sql\"\ncomponent = \"r.wasm\"\n"),
            "component",
        );
        assert!(msg.contains("both `plugin` and `component`"), "{msg}");
        assert!(msg.starts_with(&format!("{FILE}:5: ")), "{msg}");
        error(&format!("{BASE}plugin = \"../x\"\n"), "plugin");
    }

    #[test]
    fn source_needs_a_component_and_must_be_rust() {
        let msg = error(
            &format!("{BASE}plugin = \"sql\"\nsource = \"rust\"\n"),
            "source",
        );
        assert!(msg.contains("remove it"), "{msg}");
        let msg = error(
            &format!("{BASE}component = \"r.wasm\"\nsource = \"go\"\n"),
            "source",
        );
        assert!(msg.contains("only builds \"rust\""), "{msg}");
    }

    #[test]
    fn the_component_must_be_a_plain_file_name() {
        for bad in [
            "../r.wasm",
            "/tmp/r.wasm",
            "sub/r.wasm",
            "..",
            "",
            "revision.toml",
        ] {
            let msg = error(&format!("{BASE}component = {bad:?}\n"), "component");
            assert!(msg.starts_with(&format!("{FILE}:4: ")), "{msg}");
        }
    }

    #[test]
    fn a_toml_syntax_error_names_the_file_and_line() {
        let err = parse("id = \"a1\nparents = []\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{FILE}:1: invalid TOML")), "{msg}");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("parent", "parents"), 1);
        assert_eq!(edit_distance("plgin", "plugin"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
    fn write_revision(root: &Path, dir_name: &str, id: &str) {
        let dir = root.join("versions").join(dir_name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("revision.toml"),
            format!("id = \"{id}\"\nparents = []\nmessage = \"m\"\nplugin = \"sql\"\n"),
        )
        .unwrap();
    }

    #[test]
    fn revisions_load_sorted_by_directory_skipping_files_and_hidden_directories() {
        let tmp = tempfile::tempdir().unwrap();
        write_revision(tmp.path(), "b2_second", "b2");
        write_revision(tmp.path(), "a1_first", "a1");
        std::fs::create_dir_all(tmp.path().join("versions/.trash")).unwrap();
        std::fs::write(tmp.path().join("versions/README.md"), "notes").unwrap();
        std::fs::write(tmp.path().join("versions/.gitkeep"), "").unwrap();
        let revisions = load_revisions(tmp.path()).unwrap();
        let ids: Vec<_> = revisions.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a1", "b2"]);
        assert_eq!(revisions[0].dir, tmp.path().join("versions/a1_first"));
        assert_eq!(revisions[0].dir_name, "a1_first");
    }

    #[test]
    fn a_directory_without_a_manifest_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("versions/a1_first")).unwrap();
        let err = load_revisions(tmp.path()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("versions/a1_first has no revision.toml"),
            "{err}"
        );
    }

    #[test]
    fn every_invalid_revision_is_reported_and_duplicate_ids_name_both_files() {
        let tmp = tempfile::tempdir().unwrap();
        write_revision(tmp.path(), "a1_first", "a1");
        write_revision(tmp.path(), "a1_again", "a1");
        std::fs::create_dir_all(tmp.path().join("versions/c3")).unwrap();
        let msg = load_revisions(tmp.path()).unwrap_err().to_string();
        assert!(msg.starts_with("2 problems:"), "{msg}");
        assert!(msg.contains("versions/c3 has no revision.toml"), "{msg}");
        assert!(
            msg.contains("versions/a1_again/revision.toml and versions/a1_first/revision.toml"),
            "{msg}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_revision_directory_leading_outside_the_project_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        write_revision(outside.path(), "x1_evil", "x1");
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("versions")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("versions/x1_evil"),
            tmp.path().join("versions/x1_evil"),
        )
        .unwrap();
        let err = load_revisions(tmp.path()).unwrap_err();
        assert!(
            matches!(err, ProjectError::OutsideProject { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("versions/x1_evil leads outside the project"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_manifest_or_component_leading_outside_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "id = \"s1\"").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("versions/s1");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.join("revision.toml"))
            .unwrap();
        let err = load_revisions(tmp.path()).unwrap_err();
        assert!(
            matches!(err, ProjectError::OutsideProject { .. }),
            "{err:?}"
        );

        std::fs::remove_file(dir.join("revision.toml")).unwrap();
        std::fs::write(
            dir.join("revision.toml"),
            "id = \"s1\"\nparents = []\nmessage = \"m\"\ncomponent = \"r.wasm\"\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.join("r.wasm")).unwrap();
        let revisions = load_revisions(tmp.path()).unwrap();
        let err = revisions[0].read_component().unwrap_err();
        assert!(
            matches!(err, ProjectError::OutsideProject { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_component_is_read_from_the_revision_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("versions/s1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("revision.toml"),
            "id = \"s1\"\nparents = []\nmessage = \"m\"\ncomponent = \"r.wasm\"\nsource = \"rust\"\n",
        )
        .unwrap();
        let revisions = load_revisions(tmp.path()).unwrap();
        let err = revisions[0].read_component().unwrap_err();
        assert!(err.to_string().contains("aludel build"), "{err}");
        std::fs::write(dir.join("r.wasm"), b"\0asm").unwrap();
        assert_eq!(revisions[0].read_component().unwrap(), b"\0asm");
    }
}
