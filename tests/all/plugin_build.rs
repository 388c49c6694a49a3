//! `aludel build` makes the interpreter plugin a revision needs: in a new
//! project with no plugin anywhere in it, `revision --kind python|js`, then
//! `build`, then `upgrade head` runs the revision's code, with the plugin
//! built into the project's plugins/ from the sources inside the binary.

use std::path::PathBuf;

use crate::support::TestProject;

/// The build tools (componentize-py, componentize-qjs) are installed once
/// per checkout, as a user's cache holds them once per machine.
fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-build-cache")
}

fn revision_file(p: &TestProject, name: &str) -> PathBuf {
    std::fs::read_dir(p.root().join("versions"))
        .expect("versions/")
        .map(|e| e.expect("an entry").path().join(name))
        .find(|f| f.is_file())
        .unwrap_or_else(|| panic!("no revision has {name}"))
}

fn builds_and_runs(kind: &str, file: &str, body: &str) {
    let p = TestProject::new();
    let plugin = p.root().join("plugins").join(format!("{kind}.wasm"));
    assert!(!plugin.exists());
    p.ok(&["revision", "--kind", kind, "-m", "make a table"]);
    std::fs::write(revision_file(&p, file), body).unwrap();

    let build = p
        .command()
        .env("ALUDEL_CACHE_DIR", shared_cache())
        .env_remove("ALUDEL_PLUGIN_DIR")
        .arg("build")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("plugin {kind}")) && stderr.contains("built"),
        "{stderr}"
    );
    let bytes = std::fs::read(&plugin).expect("the plugin is in the project's plugins/");
    assert_eq!(&bytes[..4], b"\0asm", "a WebAssembly binary");

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.query("SELECT x FROM made"), [["7"]]);
    // A second build finds the plugin and leaves it as it is.
    let again = p.aludel(&["build"]);
    assert!(again.success, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to build"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&plugin).unwrap(), bytes);
}

#[test]
fn a_python_revision_gets_its_plugin_built_by_aludel_build_and_runs() {
    builds_and_runs(
        "python",
        "migration.py",
        "from aludel import db\n\n\
         def upgrade(ctx):\n    db.execute(\"CREATE TABLE made (x INTEGER)\")\n    \
         db.execute(\"INSERT INTO made (x) VALUES (7)\")\n\n\
         def downgrade(ctx):\n    db.execute(\"DROP TABLE made\")\n",
    );
}

#[test]
fn a_js_revision_gets_its_plugin_built_by_aludel_build_and_runs() {
    builds_and_runs(
        "js",
        "migration.js",
        "import { db } from \"aludel\";\n\
         export function upgrade(ctx) {\n  db.execute(\"CREATE TABLE made (x INTEGER)\");\n  \
         db.execute(\"INSERT INTO made (x) VALUES (7)\");\n}\n\
         export function downgrade(ctx) {\n  db.execute(\"DROP TABLE made\");\n}\n",
    );
}
