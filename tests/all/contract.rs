//! The contract's versions: a component built against the frozen
//! aludel:migration@0.1.0 (tests/fixtures/guests/contract-v0_1, wit-bindgen
//! on wit/v0.1.0/ without the SDK) runs unchanged beside one built with
//! the SDK against the current 0.2.0, up and down, and from its stored
//! artifact once its directory is gone.

use std::path::Path;

use crate::support::{TestProject, fixtures};

const BASE: &str = "c0a000000001";
const OLD: &str = "c0a000000002";
const NEW: &str = "c0a000000003";

/// Whether the component's bytes name an interface of `version`: a
/// component records the full names of the instances it imports.
fn imports_version(wasm: &Path, version: &str) -> bool {
    let bytes = std::fs::read(wasm).expect("read the component");
    let needle = format!("aludel:migration/database@{version}");
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_fixtures_are_built_against_the_versions_this_file_claims() {
    let f = fixtures();
    assert!(imports_version(&f.contract_v0_1, "0.1.0"));
    assert!(!imports_version(&f.contract_v0_1, "0.2.0"));
    assert!(imports_version(&f.seed, "0.2.0"));
    assert!(!imports_version(&f.seed, "0.1.0"));
}

#[test]
fn a_component_built_against_0_1_0_upgrades_and_downgrades_beside_a_0_2_0_one() {
    let p = TestProject::new();
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE base (x INTEGER);",
        "DROP TABLE base;",
    );
    p.component_revision(OLD, Some(BASE), &fixtures().contract_v0_1, "");
    p.component_revision(NEW, Some(OLD), &fixtures().seed, "");

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec![NEW]);
    assert_eq!(
        p.query("SELECT id, name FROM v01_items ORDER BY id"),
        vec![
            vec!["1".to_string(), "one".to_string()],
            vec!["2".to_string(), "item 2".to_string()],
            vec!["3".to_string(), "item 3".to_string()],
        ]
    );
    assert_eq!(p.query("SELECT note FROM v01_log"), vec![vec!["upgraded"]]);
    assert_eq!(p.query("SELECT COUNT(*) FROM seeded"), vec![vec!["3"]]);
    let logged = p.query(&format!(
        "SELECT outcome, checksum FROM aludel_version_history WHERE revision = '{OLD}'"
    ));
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0][0], "applied");
    assert!(logged[0][1].starts_with("v1:"), "{logged:?}");
    p.ok(&["verify"]);

    p.ok(&["downgrade", BASE]);
    assert_eq!(p.versions(), vec![BASE]);
    assert!(!p.has_table("v01_items"));
    assert!(!p.has_table("v01_log"));
    assert!(!p.has_table("seeded"));
}

#[test]
fn a_0_1_0_component_whose_directory_is_gone_downgrades_from_its_stored_artifact() {
    let p = TestProject::new();
    let dir = p.component_revision(OLD, None, &fixtures().contract_v0_1, "");
    p.ok(&["upgrade", "head"]);
    let stored = p.ok(&["show", OLD, "--stored"]);
    assert!(stored.contains("revision.wasm"), "{stored}");

    std::fs::remove_dir_all(dir).expect("remove the revision's directory");
    p.ok(&["downgrade", "base"]);
    assert!(p.versions().is_empty());
    assert!(!p.has_table("v01_items"));
}

/// Every file under `dir`, relative to it, with its bytes.
fn wit_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read the WIT directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn the_crates_copies_of_the_contract_are_the_contract_in_wit() {
    // A published crate cannot reach ../wit: each holds its own copy, and
    // a copy that drifts from the workspace's wit/ fails here.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let contract = wit_files(&root.join("wit"));
    assert!(
        contract.contains_key("migration.wit"),
        "{:?}",
        contract.keys()
    );
    assert_eq!(
        wit_files(&root.join("host/wit")),
        contract,
        "host/wit differs from wit/: copy wit/ over it (cp -r wit/. host/wit/)"
    );
    let sdk = wit_files(&root.join("sdk/wit"));
    assert_eq!(
        sdk.keys().collect::<Vec<_>>(),
        ["migration.wit"],
        "the SDK builds against the current contract only"
    );
    assert_eq!(
        sdk["migration.wit"], contract["migration.wit"],
        "sdk/wit/migration.wit differs from wit/migration.wit: copy it over"
    );
}
