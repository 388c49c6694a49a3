//! A branched project end to end: two heads, refusals that name the fix,
//! `upgrade heads`, `merge`, labels, `stamp`, `history -r`.
//!
//! ```text
//!            ┌── L1 (left) ── L2
//!   A ───────┤
//!            └── R1 (right)
//! ```

use std::fs;

use crate::support::TestProject;

const A: &str = "aaaa00000001";
const L1: &str = "bbbb00000002";
const L2: &str = "bbbb00000003";
const R1: &str = "cccc00000004";

fn labelled(p: &TestProject, dir: std::path::PathBuf, label: &str) {
    let manifest = dir.join("revision.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(&manifest, format!("branch_labels = [\"{label}\"]\n{text}")).unwrap();
    let _ = p;
}

fn branched() -> TestProject {
    let p = TestProject::new();
    p.sql_revision(A, None, "CREATE TABLE a (x);", "DROP TABLE a;");
    let l1 = p.sql_revision(L1, Some(A), "CREATE TABLE l1 (x);", "DROP TABLE l1;");
    labelled(&p, l1, "left");
    p.sql_revision(L2, Some(L1), "CREATE TABLE l2 (x);", "DROP TABLE l2;");
    let r1 = p.sql_revision(R1, Some(A), "CREATE TABLE r1 (x);", "DROP TABLE r1;");
    labelled(&p, r1, "right");
    p
}

#[test]
fn upgrade_head_with_two_heads_is_refused_with_the_ways_out() {
    let p = branched();
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains(L2) && stderr.contains(R1), "{stderr}");
    for fix in ["heads", "@head", "merge"] {
        assert!(stderr.contains(fix), "expected {fix:?} in: {stderr}");
    }
    assert_eq!(
        p.dump(),
        "",
        "nothing was written, not even the version table"
    );
}

#[test]
fn upgrade_heads_applies_every_branch() {
    let p = branched();
    p.ok(&["upgrade", "heads"]);
    assert_eq!(p.versions(), vec![L2, R1]);
    for table in ["a", "l1", "l2", "r1"] {
        assert!(p.has_table(table), "{table}");
    }
}

#[test]
fn upgrade_of_one_label_leaves_the_other_branch_alone() {
    let p = branched();
    p.ok(&["upgrade", "right@head"]);
    assert_eq!(p.versions(), vec![R1]);
    assert!(!p.has_table("l1"));
    p.ok(&["upgrade", "left@head"]);
    assert_eq!(p.versions(), vec![L2, R1]);
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn heads_and_branches_show_the_shape_of_the_graph() {
    let p = branched();
    assert_eq!(
        sorted_lines(&p.ok(&["heads"])),
        vec![format!("{L2} (head)"), format!("{R1} (right) (head)")]
    );
    let branches = p.ok(&["branches"]);
    assert!(
        branches.starts_with(&format!("<base> -> {A} (branchpoint), revision {A}\n")),
        "{branches}"
    );
    assert!(
        branches.contains(&format!("-> {L1} (left), revision {L1}")),
        "{branches}"
    );
    assert!(
        branches.contains(&format!("-> {R1} (right) (head), revision {R1}")),
        "{branches}"
    );
}

#[test]
fn merge_heads_joins_the_branches_into_one_head() {
    let p = branched();
    p.ok(&["upgrade", "heads"]);
    let dir = p.ok(&[
        "merge",
        "heads",
        "-m",
        "join branches",
        "--rev-id",
        "dddd00000005",
    ]);
    let manifest =
        fs::read_to_string(std::path::Path::new(dir.trim()).join("revision.toml")).unwrap();
    assert!(
        manifest.contains(&format!("parents = [\"{R1}\", \"{L2}\"]")),
        "{manifest}"
    );
    assert_eq!(p.ok(&["heads"]).trim(), "dddd00000005 (head)");

    p.ok(&["upgrade", "head"]);
    assert_eq!(p.versions(), vec!["dddd00000005"]);
    let history = p.ok(&["history"]);
    assert!(
        history.starts_with(&format!(
            "{R1}, {L2} -> dddd00000005 (head) (mergepoint), join branches\n"
        )),
        "{history}"
    );

    // `-1` from a merge point is an ambiguous walk, as in Alembic.
    let stderr = p.fails(&["downgrade", "-1"]);
    assert!(stderr.contains("forks there"), "{stderr}");
    // Downgrading to one parent splits the version table back into two heads.
    p.ok(&["downgrade", L2]);
    assert_eq!(p.versions(), vec![L2, R1]);
}

#[test]
fn downgrade_label_minus_one_reverts_only_that_branch() {
    let p = branched();
    p.ok(&["upgrade", "heads"]);
    p.ok(&["downgrade", "left@-1"]);
    assert_eq!(p.versions(), vec![L1, R1]);
    assert!(!p.has_table("l2"));
    assert!(p.has_table("l1") && p.has_table("r1"));
}

#[test]
fn revision_on_a_non_head_needs_splice() {
    let p = branched();
    let stderr = p.fails(&["revision", "-m", "from a", "--head", A]);
    assert!(stderr.contains("--splice"), "{stderr}");
    let dir = p.ok(&[
        "revision",
        "-m",
        "from a",
        "--head",
        A,
        "--splice",
        "--rev-id",
        "eeee00000006",
    ]);
    let manifest =
        fs::read_to_string(std::path::Path::new(dir.trim()).join("revision.toml")).unwrap();
    assert!(
        manifest.contains(&format!("parents = [\"{A}\"]")),
        "{manifest}"
    );
    assert_eq!(sorted_lines(&p.ok(&["heads"])).len(), 3);
}

#[test]
fn revision_records_branch_labels_and_dependencies() {
    let p = branched();
    let dir = p.ok(&[
        "revision",
        "-m",
        "more left",
        "--head",
        "left@head",
        "--branch-label",
        "feature",
        "--depends-on",
        "right",
        "--rev-id",
        "ffff00000007",
    ]);
    let manifest =
        fs::read_to_string(std::path::Path::new(dir.trim()).join("revision.toml")).unwrap();
    assert!(
        manifest.contains(&format!("parents = [\"{L2}\"]")),
        "{manifest}"
    );
    assert!(
        manifest.contains("branch_labels = [\"feature\"]"),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("depends_on = [\"{R1}\"]")),
        "{manifest}"
    );
    // Upgrading the new head also applies what it depends on; as in
    // Alembic, the dependency's row is then covered by the new head's.
    p.ok(&["upgrade", "feature@head"]);
    assert!(p.has_table("r1"));
    assert_eq!(p.versions(), vec!["ffff00000007"]);
}

#[test]
fn stamp_purge_replaces_whatever_the_version_table_held_and_runs_nothing() {
    let p = branched();
    p.ok(&["upgrade", "right@head"]);
    let before = p.dump();
    p.ok(&["stamp", "--purge", L2]);
    assert_eq!(p.versions(), vec![L2]);
    assert!(!p.has_table("l1"), "stamp ran no revision");
    assert_eq!(
        p.dump().replace(L2, "X"),
        before.replace(R1, "X"),
        "only the version table changed"
    );
    p.ok(&["stamp", "heads"]);
    assert_eq!(p.versions(), vec![L2, R1]);
    p.ok(&["stamp", "base"]);
    assert_eq!(p.versions(), Vec::<String>::new());
}

#[test]
fn history_ranges_select_revisions_between_two_points() {
    let p = branched();
    let ids = |out: String| -> Vec<String> {
        out.lines()
            .map(|l| {
                l.split(" -> ")
                    .nth(1)
                    .unwrap()
                    .split([' ', ','])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        ids(p.ok(&["history", "-r", &format!("{L1}:{L2}")])),
        vec![L2, L1]
    );
    assert_eq!(
        ids(p.ok(&["history", "-r", &format!(":{L1}")])),
        vec![L1, A]
    );
    let mut from_l1 = ids(p.ok(&["history", "-r", &format!("{L1}:")]));
    from_l1.sort();
    assert_eq!(from_l1, vec![L1, L2]);
    p.ok(&["upgrade", "right@head"]);
    let mut pending = ids(p.ok(&["history", "-r", "current:"]));
    pending.sort();
    assert_eq!(
        pending,
        vec![R1],
        "current: lists from the current revision up"
    );
    let marked = p.ok(&["history", "--indicate-current"]);
    assert!(
        marked.contains(&format!("{R1} (right) (head) (current)")),
        "{marked}"
    );
}
