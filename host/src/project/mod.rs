//! The project on disk: `aludel.toml`, the revision directories under
//! `versions/`, the templates that `aludel revision` renders, and the cargo
//! builds of Rust revisions.
//!
//! Everything inside the project is read through `cap-std`, rooted at the
//! project directory, so a symlink in `versions/` cannot make the host read
//! (or a build write) outside the project.

mod cargo_build;
pub mod checksum;
mod config;
mod manifest;
mod template;

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

pub use cargo_build::Built;
pub use checksum::{CHECKSUM_VERSION, Checksum, FileChange, Files};
pub use config::{
    Config, ModelSource, ModelsConfig, RuntimeConfig, TransactionMode, resolve_sqlite_url,
};
pub use manifest::{BatchSettings, Revision, Runner, parse_manifest};
pub use template::{NewRevision, Operation, Operations, new_revision_id, sdk_dependency, slugify};

/// The name of the configuration file at the root of a project.
pub const CONFIG_FILE: &str = "aludel.toml";
/// The directory, relative to the project root, that holds the revisions.
pub const VERSIONS_DIR: &str = "versions";
/// The directory, relative to the project root, that holds the templates.
pub const TEMPLATES_DIR: &str = "templates";
/// The file in each revision directory that describes the revision.
pub const MANIFEST_FILE: &str = "revision.toml";

/// A project: its root directory, its configuration and its revisions.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `aludel.toml`, absolute.
    pub root: PathBuf,
    pub config: Config,
    /// Every revision under `versions/`, sorted by directory name.
    pub revisions: Vec<Revision>,
}

impl Project {
    /// Creates a project in `dir` (created if missing): `aludel.toml` with a
    /// SQLite database `sqlite://aludel.db`, an empty `versions/`, and the
    /// built-in templates under `templates/sql/` and `templates/rust/` so
    /// that users can edit them.
    ///
    /// Refuses when `dir` already has an `aludel.toml`. Template files that
    /// already exist are kept as they are: they are the user's.
    pub fn init(dir: &Path) -> Result<(), ProjectError> {
        let config_path = dir.join(CONFIG_FILE);
        if config_path.exists() {
            return Err(ProjectError::AlreadyInitialized { path: config_path });
        }
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        let root = open_root(dir)?;

        create_dir_all(&root, dir, Path::new(VERSIONS_DIR))?;
        for builtin in template::BUILTIN_TEMPLATES {
            let rel = Path::new(TEMPLATES_DIR).join(builtin.path);
            if let Some(parent) = rel.parent() {
                create_dir_all(&root, dir, parent)?;
            }
            match write_new(&root, &rel, builtin.contents.as_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    tracing::info!(path = %rel.display(), "kept the existing template");
                }
                Err(e) => return Err(io_error("write", &dir.join(&rel), e)),
            }
        }
        // Written last and with create_new, so that a concurrent `init` or a
        // failure above never leaves a half-made project that looks complete.
        write_new(
            &root,
            Path::new(CONFIG_FILE),
            template::CONFIG_TEMPLATE.as_bytes(),
        )
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => ProjectError::AlreadyInitialized {
                path: config_path.clone(),
            },
            _ => io_error("write", &config_path, e),
        })
    }

    /// Opens the project whose configuration is `config_path`, or
    /// `config_path/aludel.toml` when it is a directory: parses the
    /// configuration and loads every revision under `versions/`.
    ///
    /// A project without a `versions/` directory has no revisions (git does
    /// not keep empty directories). Every invalid revision is reported, not
    /// only the first.
    pub fn open(config_path: &Path) -> Result<Project, ProjectError> {
        let config_path = if config_path.is_dir() {
            config_path.join(CONFIG_FILE)
        } else {
            config_path.to_path_buf()
        };
        let source = match std::fs::read_to_string(&config_path) {
            Ok(source) => source,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ProjectError::ConfigNotFound { path: config_path });
            }
            Err(e) => return Err(io_error("read", &config_path, e)),
        };
        let root = config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Canonical, so that the absolute revision directories handed to the
        // runtime do not depend on the working directory.
        let root = std::fs::canonicalize(root).map_err(|e| io_error("open", root, e))?;
        let file_name = config_path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(CONFIG_FILE));
        let config = Config::parse(&source, &file_name)?;
        let revisions = manifest::load_revisions(&root)?;
        Ok(Project {
            root,
            config,
            revisions,
        })
    }

    /// Renders `templates/<kind>/` into `versions/<id>_<slug>/` and returns
    /// the new directory. See [`NewRevision`] for the template variables.
    pub fn new_revision(&self, req: &NewRevision) -> Result<PathBuf, ProjectError> {
        template::new_revision(self, req)
    }

    /// Builds every revision with `source = "rust"` (or only those in
    /// `only`: full ids or unique prefixes) into its component file with
    /// cargo, and returns what it built. Stops at the first failure.
    pub fn build(&self, only: &[String]) -> Result<Vec<Built>, ProjectError> {
        cargo_build::build(self, only)
    }

    /// The database URL of the configuration, with a relative SQLite path
    /// made absolute against the project root.
    pub fn database_url(&self) -> Option<String> {
        self.config.resolved_database_url(&self.root)
    }

    /// `<root>/versions`.
    pub fn versions_dir(&self) -> PathBuf {
        self.root.join(VERSIONS_DIR)
    }

    /// The revision whose id is exactly `id`.
    pub fn revision(&self, id: &str) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.id == id)
    }
}

/// What went wrong with the project on disk. Each message names the file
/// (relative to the project root where there is one) and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// A configuration file or a revision manifest is invalid.
    #[error("{}", located(file, *line, message))]
    Invalid {
        /// Relative to the project root, e.g. `versions/1975ea83b712_add_users/revision.toml`.
        file: PathBuf,
        /// 1-based, when the error has a place in the file.
        line: Option<usize>,
        /// The key at fault, e.g. `parents` or `database.url`.
        field: Option<String>,
        message: String,
    },
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} not found: run `aludel init` to create a project there, or point to an existing project's aludel.toml",
        path.display()
    )]
    ConfigNotFound { path: PathBuf },
    #[error(
        "{} already exists: `aludel init` never overwrites a project; edit it, or init another directory",
        path.display()
    )]
    AlreadyInitialized { path: PathBuf },
    #[error(
        "{} has no revision.toml: every directory in versions/ is a revision; add its revision.toml, or move the directory out of versions/ (hidden directories are ignored)",
        dir.display()
    )]
    MissingManifest { dir: PathBuf },
    #[error(
        "{} leads outside the project (a symlink?): aludel reads a project only inside its directory; replace the symlink with the directory or file itself",
        path.display()
    )]
    OutsideProject { path: PathBuf },
    #[error(
        "revision id `{id}` is used by both {} and {}: ids must be unique; give one of them a new id (and update the parents that name it)",
        first.display(), second.display()
    )]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}", invalid_id_message(id, reason))]
    InvalidId { id: String, reason: String },
    #[error("revision `{id}` already exists in {}: choose another id", dir.display())]
    RevisionExists { id: String, dir: PathBuf },
    #[error(
        "parent `{parent}` is not a revision of this project: name the full id of an existing revision"
    )]
    UnknownParent { parent: String },
    #[error(
        "there is no template `{kind}`: the templates are {}",
        list_or_none(available)
    )]
    UnknownTemplate {
        kind: String,
        available: Vec<String>,
    },
    #[error("template {}: {message}", template.display())]
    Template { template: PathBuf, message: String },
    #[error("no revision `{id}` in versions/")]
    UnknownRevision { id: String },
    #[error("`{prefix}` matches several revisions: {}; give more of the id", candidates.join(", "))]
    AmbiguousRevision {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error(
        "revision `{id}` has nothing to build: only revisions with `component` and `source = \"rust\"` in their revision.toml are built"
    )]
    NothingToBuild { id: String },
    #[error(
        "building revision `{revision}` failed: `{command}` {status}{}",
        build_hint(status)
    )]
    Build {
        revision: String,
        command: String,
        status: String,
    },
    #[error(
        "could not read the component of revision `{revision}` ({}): {source}{}",
        path.display(), component_hint(source)
    )]
    Component {
        revision: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Several of the above, e.g. one per invalid revision.
    #[error("{}", join_errors(.0))]
    Many(Vec<ProjectError>),
}

fn located(file: &Path, line: Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("{}:{line}: {message}", file.display()),
        None => format!("{}: {message}", file.display()),
    }
}

fn invalid_id_message(id: &str, reason: &str) -> String {
    format!("`{id}` is not a valid revision id: {reason}")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none (templates/ is empty)".to_string()
    } else {
        items.join(", ")
    }
}

fn build_hint(status: &str) -> &'static str {
    if status.contains("could not start") {
        "; is cargo installed and on PATH?"
    } else {
        "; cargo's output above says why (a missing target is added with `rustup target add wasm32-wasip2`)"
    }
}

fn component_hint(source: &io::Error) -> &'static str {
    if source.kind() == io::ErrorKind::NotFound {
        "; if it is built from source, run `aludel build`"
    } else {
        ""
    }
}

fn join_errors(errors: &[ProjectError]) -> String {
    let mut out = format!("{} problems:", errors.len());
    for e in errors {
        out.push_str("\n  ");
        out.push_str(&e.to_string().replace('\n', "\n    "));
    }
    out
}

/// Returns the one error, or [`ProjectError::Many`].
fn collect_errors(mut errors: Vec<ProjectError>) -> Result<(), ProjectError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(ProjectError::Many(errors)),
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> ProjectError {
    ProjectError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// cap-std reports a path that escapes its root as PermissionDenied; this
/// turns that into an error that names the cause.
fn cap_error(action: &'static str, shown: &Path, source: io::Error) -> ProjectError {
    if escaped(&source) {
        ProjectError::OutsideProject {
            path: shown.to_path_buf(),
        }
    } else {
        io_error(action, shown, source)
    }
}

fn escaped(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && e.to_string().contains("outside")
}

fn open_root(root: &Path) -> Result<Dir, ProjectError> {
    Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| io_error("open", root, e))
}

fn create_dir_all(root: &Dir, root_path: &Path, rel: &Path) -> Result<(), ProjectError> {
    root.create_dir_all(rel)
        .map_err(|e| cap_error("create", &root_path.join(rel), e))
}

fn write_new(dir: &Dir, rel: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = cap_std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = dir.open_with(rel, &options)?;
    file.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_open_gives_an_empty_project_with_the_default_config() {
        let tmp = tempfile::tempdir().unwrap();
        Project::init(tmp.path()).unwrap();
        for file in [
            "aludel.toml",
            "templates/sql/revision.toml.j2",
            "templates/sql/upgrade.sql.j2",
            "templates/sql/downgrade.sql.j2",
            "templates/rust/revision.toml.j2",
            "templates/rust/Cargo.toml.j2",
            "templates/rust/src/lib.rs.j2",
        ] {
            assert!(tmp.path().join(file).is_file(), "{file} missing");
        }
        assert!(tmp.path().join("versions").is_dir());

        let project = Project::open(tmp.path()).unwrap();
        assert_eq!(project.root, std::fs::canonicalize(tmp.path()).unwrap());
        assert_eq!(project.config, Config::default());
        assert_eq!(
            project.config.database_url.as_deref(),
            Some("sqlite://aludel.db")
        );
        assert!(project.revisions.is_empty());
        let url = project.database_url().unwrap();
        assert_eq!(
            url,
            format!("sqlite:{}", project.root.join("aludel.db").display())
        );
    }

    #[test]
    fn open_accepts_the_config_file_path_itself() {
        let tmp = tempfile::tempdir().unwrap();
        Project::init(tmp.path()).unwrap();
        let project = Project::open(&tmp.path().join("aludel.toml")).unwrap();
        assert_eq!(project.config.version_table, "aludel_version");
    }

    #[test]
    fn init_refuses_to_overwrite_an_existing_config() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("aludel.toml"), "# mine\n").unwrap();
        let err = Project::init(tmp.path()).unwrap_err();
        assert!(
            matches!(err, ProjectError::AlreadyInitialized { .. }),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("aludel.toml")).unwrap(),
            "# mine\n"
        );
    }

    #[test]
    fn init_keeps_templates_the_user_already_has() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("templates/sql")).unwrap();
        std::fs::write(tmp.path().join("templates/sql/upgrade.sql.j2"), "-- mine\n").unwrap();
        Project::init(tmp.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("templates/sql/upgrade.sql.j2")).unwrap(),
            "-- mine\n"
        );
    }

    #[test]
    fn open_without_a_config_says_to_run_init() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Project::open(tmp.path()).unwrap_err();
        assert!(matches!(err, ProjectError::ConfigNotFound { .. }));
        assert!(err.to_string().contains("aludel init"), "{err}");
    }

    #[test]
    fn a_project_without_a_versions_directory_has_no_revisions() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("aludel.toml"), "").unwrap();
        let project = Project::open(tmp.path()).unwrap();
        assert!(project.revisions.is_empty());
        assert_eq!(project.config.database_url, None);
    }
}
