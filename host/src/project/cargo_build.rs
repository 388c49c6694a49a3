//! `aludel build`: compiles the revisions with `source = "rust"` into their
//! component files with cargo.
//!
//! Building runs the revision's own code natively, outside the sandbox: its
//! `build.rs` and its dependencies' build scripts and procedural macros. So
//! cargo gets the caller's environment without what would hand it the
//! database: `DATABASE_URL`, aludel's own settings (`ALUDEL_*`), the client
//! variables of PostgreSQL (`PG*`) and MySQL (`MYSQL_*`), and any variable
//! whose name says it holds a password, a secret or a token (cargo's own
//! `CARGO_*` settings stay, registry tokens included). Build revisions you
//! have reviewed; running a built component needs no build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cap_std::fs::Dir;

use super::manifest::{Revision, Runner};
use super::{Project, ProjectError, cap_error, io_error};

/// The wasm target that produces a component directly.
const TARGET: &str = "wasm32-wasip2";

/// One component that `aludel build` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The revision's id.
    pub revision: String,
    /// Where the component was written, absolute.
    pub component_path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

pub(crate) fn build(project: &Project, only: &[String]) -> Result<Vec<Built>, ProjectError> {
    let selected = select(project, only)?;
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    // Shared by every revision, so that the SDK and its dependencies compile
    // once for the whole project.
    let target_dir = project.root.join(".aludel").join("target");
    std::fs::create_dir_all(&target_dir).map_err(|e| io_error("create", &target_dir, e))?;
    ignore_in_git(&project.root.join(".aludel"));

    selected
        .into_iter()
        .map(|(revision, file)| build_one(revision, file, &target_dir))
        .collect()
}

/// The revisions to build: every buildable one, or those named in `only`
/// (full ids or unique prefixes), which must all be buildable.
fn select<'a>(
    project: &'a Project,
    only: &[String],
) -> Result<Vec<(&'a Revision, &'a str)>, ProjectError> {
    let buildable = |revision: &'a Revision| match &revision.runner {
        Runner::Component {
            file,
            source: Some(source),
        } if source == "rust" => Some((revision, file.as_str())),
        _ => None,
    };
    if only.is_empty() {
        return Ok(project.revisions.iter().filter_map(buildable).collect());
    }
    let mut selected = Vec::new();
    for wanted in only {
        let revision = find(project, wanted)?;
        let Some(entry) = buildable(revision) else {
            return Err(ProjectError::NothingToBuild {
                id: revision.id.clone(),
            });
        };
        if !selected
            .iter()
            .any(|(r, _): &(&Revision, &str)| r.id == revision.id)
        {
            selected.push(entry);
        }
    }
    Ok(selected)
}

fn find<'a>(project: &'a Project, wanted: &str) -> Result<&'a Revision, ProjectError> {
    if let Some(revision) = project.revision(wanted) {
        return Ok(revision);
    }
    let matches: Vec<&Revision> = project
        .revisions
        .iter()
        .filter(|r| r.id.starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(ProjectError::UnknownRevision {
            id: wanted.to_string(),
        }),
        many => Err(ProjectError::AmbiguousRevision {
            prefix: wanted.to_string(),
            candidates: many.iter().map(|r| r.id.clone()).collect(),
        }),
    }
}

/// Whether the environment variable `name` is kept from the build: what
/// could reach the database or another secret (see the module doc).
fn withheld_from_builds(name: &str) -> bool {
    if name.starts_with("CARGO_") || name.starts_with("RUSTUP_") {
        return false;
    }
    let upper = name.to_ascii_uppercase();
    upper == "DATABASE_URL"
        || upper.starts_with("ALUDEL_")
        || upper.starts_with("PG")
        || upper.starts_with("MYSQL")
        || ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL"]
            .iter()
            .any(|word| upper.contains(word))
}

fn build_one(revision: &Revision, file: &str, target_dir: &Path) -> Result<Built, ProjectError> {
    let rel_dir = Path::new(super::VERSIONS_DIR).join(&revision.dir_name);
    let dir = Dir::open_ambient_dir(&revision.dir, cap_std::ambient_authority())
        .map_err(|e| io_error("open", &rel_dir, e))?;
    let crate_name = crate_name(&dir, &rel_dir)?;
    let manifest = revision.dir.join("Cargo.toml");

    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str().filter(|n| withheld_from_builds(n)) {
            command.env_remove(name);
        }
    }
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        // From the revision directory, so that rustup honours a
        // rust-toolchain.toml in the project.
        .current_dir(&revision.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let shown = format!(
        "CARGO_TARGET_DIR={} cargo build --release --target {TARGET} --manifest-path {}",
        target_dir.display(),
        manifest.display()
    );
    tracing::info!(revision = %revision.id, command = %shown, "building");
    let status = command.status().map_err(|e| ProjectError::Build {
        revision: revision.id.clone(),
        command: shown.clone(),
        status: format!("could not start: {e}"),
    })?;
    if !status.success() {
        return Err(ProjectError::Build {
            revision: revision.id.clone(),
            command: shown,
            status: format!("failed ({status})"),
        });
    }

    let output = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{crate_name}.wasm"));
    let bytes = std::fs::read(&output).map_err(|e| ProjectError::Build {
        revision: revision.id.clone(),
        command: shown,
        status: format!(
            "succeeded but {} could not be read ({e}); is the crate a cdylib?",
            output.display()
        ),
    })?;
    // Written through the revision directory's handle, so that a symlink in
    // place of the component cannot make the build write outside it.
    dir.write(file, &bytes)
        .map_err(|e| cap_error("write", &rel_dir.join(file), e))?;
    Ok(Built {
        revision: revision.id.clone(),
        component_path: revision.dir.join(file),
        bytes: bytes.len() as u64,
    })
}

/// The name of the library cargo builds: `[lib] name`, or the package name
/// with `-` replaced by `_`.
fn crate_name(dir: &Dir, rel_dir: &Path) -> Result<String, ProjectError> {
    let file = rel_dir.join("Cargo.toml");
    let invalid = |message: String| ProjectError::Invalid {
        file: file.clone(),
        line: None,
        field: None,
        message,
    };
    let text = match dir.read_to_string("Cargo.toml") {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(
                "missing: revision.toml says `source = \"rust\"`, so the revision needs a Cargo.toml beside it (the `rust` template makes one)".to_string(),
            ));
        }
        Err(e) => return Err(cap_error("read", &file, e)),
    };
    let manifest: toml::Table =
        toml::from_str(&text).map_err(|e| invalid(format!("invalid TOML: {}", e.message())))?;
    let lib_name = manifest
        .get("lib")
        .and_then(|lib| lib.get("name"))
        .and_then(toml::Value::as_str);
    let package_name = manifest
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str);
    match (lib_name, package_name) {
        (Some(name), _) | (None, Some(name)) => Ok(name.replace('-', "_")),
        (None, None) => Err(invalid(
            "it has no `[package] name`: add one, like `name = \"revision-<id>\"`".to_string(),
        )),
    }
}

/// Keeps build products out of version control, as cargo does for target/.
fn ignore_in_git(dir: &Path) {
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists()
        && let Err(e) = std::fs::write(&gitignore, "# Created by aludel: build products.\n*\n")
    {
        tracing::debug!(path = %gitignore.display(), error = %e, "could not write .gitignore");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_gets_no_database_url_aludel_setting_or_secret_but_keeps_cargos_own() {
        for name in [
            "DATABASE_URL",
            "ALUDEL_CACHE_DIR",
            "PGPASSWORD",
            "PGHOST",
            "MYSQL_PWD",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "db_password",
        ] {
            assert!(withheld_from_builds(name), "{name} reaches the build");
        }
        for name in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "CARGO_REGISTRIES_MINE_TOKEN",
            "RUSTUP_TOOLCHAIN",
            "SSL_CERT_FILE",
        ] {
            assert!(!withheld_from_builds(name), "{name} is kept from the build");
        }
    }

    fn project_with(revisions: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("aludel.toml"), "").unwrap();
        for (id, runner) in revisions {
            let dir = tmp.path().join("versions").join(id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("revision.toml"),
                format!("id = \"{id}\"\nparents = []\nmessage = \"m\"\n{runner}\n"),
            )
            .unwrap();
        }
        let project = Project::open(tmp.path()).unwrap();
        (tmp, project)
    }

    const RUST: &str = "component = \"revision.wasm\"\nsource = \"rust\"";

    #[test]
    fn only_rust_sourced_revisions_are_selected() {
        let (_tmp, project) = project_with(&[
            ("a1", "plugin = \"sql\""),
            ("b1", RUST),
            ("c1", "component = \"c.wasm\""),
        ]);
        let ids: Vec<_> = select(&project, &[])
            .unwrap()
            .iter()
            .map(|(r, _)| r.id.clone())
            .collect();
        assert_eq!(ids, ["b1"]);
    }

    #[test]
    fn selection_by_id_accepts_unique_prefixes_and_refuses_the_rest() {
        let (_tmp, project) =
            project_with(&[("a1", "plugin = \"sql\""), ("b1", RUST), ("b2", RUST)]);
        let ids: Vec<_> = select(&project, &["b1".into(), "b1".into()])
            .unwrap()
            .iter()
            .map(|(r, _)| r.id.clone())
            .collect();
        assert_eq!(ids, ["b1"]);
        let err = select(&project, &["b".into()]).unwrap_err();
        assert!(
            matches!(err, ProjectError::AmbiguousRevision { .. }),
            "{err}"
        );
        let err = select(&project, &["a1".into()]).unwrap_err();
        assert!(matches!(err, ProjectError::NothingToBuild { .. }), "{err}");
        let err = select(&project, &["zz".into()]).unwrap_err();
        assert!(matches!(err, ProjectError::UnknownRevision { .. }), "{err}");
    }

    #[test]
    fn the_crate_name_comes_from_the_package_or_the_lib() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        let rel = Path::new("versions/x");
        let err = crate_name(&dir, rel).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("versions/x/Cargo.toml: missing"),
            "{err}"
        );
        dir.write("Cargo.toml", "[package]\nname = \"revision-ab12\"\n")
            .unwrap();
        assert_eq!(crate_name(&dir, rel).unwrap(), "revision_ab12");
        dir.write(
            "Cargo.toml",
            "[package]\nname = \"p\"\n[lib]\nname = \"my-lib\"\n",
        )
        .unwrap();
        assert_eq!(crate_name(&dir, rel).unwrap(), "my_lib");
    }
}
