//! The Python that runs Alembic for an import: the one named, else the
//! first `python3` on PATH that has Alembic, else a virtualenv aludel makes
//! once in its cache directory with pinned packages from PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ImportError;
use crate::project::Project;

/// What aludel's own virtualenv holds: the versions the differential tests
/// run against (scripts/test), and a MySQL driver. Pinned, so an import
/// renders the same SQL on every machine.
pub const PYTHON_PINS: &[&str] = &[
    "alembic==1.20.1",
    "SQLAlchemy==2.0.45",
    "Mako==1.4.3",
    "MarkupSafe==3.0.4",
    "typing_extensions==4.16.0",
    "greenlet==3.5.6",
    "pg8000==1.31.6",
    "scramp==1.5.0",
    "asn1crypto==1.5.1",
    "python-dateutil==4.0.0",
    "tzdata==2026.6",
    "PyMySQL==1.1.1",
];

/// The interpreter to run the import script with.
pub fn find_python(given: Option<&Path>, project: &Project) -> Result<PathBuf, ImportError> {
    if let Some(python) = given {
        return match has_alembic(python) {
            Ok(true) => Ok(python.to_path_buf()),
            Ok(false) => Err(ImportError::NoPython(format!(
                "{} cannot `import alembic, sqlalchemy` (pip install alembic)",
                python.display()
            ))),
            Err(e) => Err(ImportError::NoPython(format!(
                "{} does not run: {e}",
                python.display()
            ))),
        };
    }
    if let Ok(true) = has_alembic(Path::new("python3")) {
        return Ok(PathBuf::from("python3"));
    }
    own_virtualenv(project)
}

/// Whether `python` can import Alembic and SQLAlchemy.
fn has_alembic(python: &Path) -> std::io::Result<bool> {
    let status = Command::new(python)
        .args(["-c", "import alembic, sqlalchemy"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(status.success())
}

/// `<cache>/alembic-venv`, made (or remade when the pins changed) with
/// `python3 -m venv` and pip.
fn own_virtualenv(project: &Project) -> Result<PathBuf, ImportError> {
    let cache = crate::ops::runtime_options(project)
        .cache_dir
        .ok_or_else(|| {
            ImportError::NoPython(
                "no python3 on PATH has Alembic, and there is no cache directory to make a \
             virtualenv in (set ALUDEL_CACHE_DIR)"
                    .into(),
            )
        })?;
    let venv = cache.join("alembic-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".pins");
    let pins = PYTHON_PINS.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(pins.as_str()) && python.exists() {
        return Ok(python);
    }
    tracing::info!(
        "making a virtualenv with Alembic in {} (once)",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| ImportError::NoPython(format!("python3 does not run: {e}")))?;
    if !made.success() {
        return Err(ImportError::NoPython(format!(
            "`python3 -m venv {}` failed ({made})",
            venv.display()
        )));
    }
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PYTHON_PINS)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| ImportError::NoPython(format!("{} does not run: {e}", python.display())))?;
    if !installed.success() {
        return Err(ImportError::NoPython(format!(
            "installing {pins} from PyPI into {} failed ({installed})",
            venv.display()
        )));
    }
    std::fs::write(&stamp, &pins).map_err(|e| ImportError::Io {
        action: "write",
        path: stamp.clone(),
        source: e,
    })?;
    Ok(python)
}
