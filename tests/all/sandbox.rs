//! The sandbox: a revision sees its own directory read-only and nothing
//! else. Each probe of the `misbehave` fixture returns an error if the
//! forbidden action succeeds, so a passing upgrade means the sandbox held.

use std::fs;

use crate::support::TestProject;

const REV: &str = "probe0000001";

/// Runs probe `name`; each of `refusals` must appear in the guest's log, so a
/// probe that silently did nothing cannot pass.
fn probe(name: &str, refusals: &[&str]) -> (TestProject, String) {
    let p = TestProject::new();
    let dir = p.misbehave(REV, None, name, "ok");
    fs::write(
        dir.parent().unwrap().join("secret.txt"),
        "outside the revision",
    )
    .unwrap();
    std::os::unix::fs::symlink(p.root().join("aludel.toml"), dir.join("link-out")).unwrap();
    let run = p
        .command()
        .args(["upgrade", "head"])
        .env("ALUDEL_TEST_SECRET", "must not reach the guest")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        run.status.success(),
        "probe {name} found a breach:\n{stderr}"
    );
    assert_eq!(p.versions(), vec![REV]);
    for refusal in refusals {
        assert!(
            stderr.contains(refusal),
            "expected {refusal:?} in the log:\n{stderr}"
        );
    }
    (p, stderr)
}

#[test]
fn a_revision_can_read_its_own_directory() {
    probe("read-own", &["read own revision.toml"]);
}

#[test]
fn a_revision_cannot_read_the_parent_directory() {
    probe("read-parent", &["reading ../secret.txt denied"]);
}

#[test]
fn a_revision_cannot_read_absolute_host_paths() {
    probe(
        "read-absolute",
        &[
            "reading /etc/passwd denied",
            "reading /../../etc/passwd denied",
        ],
    );
}

#[test]
fn a_revision_cannot_follow_a_symlink_out_of_its_directory() {
    probe("read-symlink", &["reading the symlink link-out denied"]);
}

#[test]
fn a_revision_cannot_write_inside_its_directory() {
    let (p, _) = probe(
        "write-inside",
        &[
            "creating written.txt denied",
            "opening revision.toml for append denied",
        ],
    );
    let written = fs::read_dir(p.root().join("versions"))
        .unwrap()
        .flatten()
        .any(|d| d.path().join("written.txt").exists());
    assert!(!written, "no file was created");
}

#[test]
fn a_revision_sees_no_environment_variables() {
    probe("env", &["reading $HOME denied"]);
}

#[test]
fn a_revision_cannot_open_a_network_connection() {
    probe(
        "network",
        &[
            "connecting to 127.0.0.1:5432 denied",
            "looking up localhost denied",
        ],
    );
}

#[test]
fn every_probe_in_one_revision_holds_and_logs_what_it_was_refused() {
    probe(
        "sandbox",
        &[
            "reading ../secret.txt denied",
            "reading the symlink link-out denied",
            "creating written.txt denied",
            "connecting to 127.0.0.1:5432 denied",
            "read own revision.toml",
        ],
    );
}
