//! Batched, resumable backfills (`transaction = "batched"`,
//! docs/backfills.md) on every backend: the fixture `backfill` adds 1 to
//! each row's `counter` a batch at a time, so a counter of exactly 1 on
//! every row proves each was done once across a `kill -9` or a failed
//! batch and the run that resumed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Backend, TestProject, fixtures, on_every_backend};

const BASE: &str = "bf0000000001";
const FILL: &str = "bf0000000002";
const ROWS: usize = 200;
/// Far longer than any run here takes.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// A table of ROWS rows (counter 0, lower-case names) and the batched
/// backfill over it, with `args` and `[batch]` settings.
fn project(backend: Backend, args: &str, batch: &str) -> (TestProject, PathBuf) {
    let p = TestProject::on(backend);
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, 0, 'name{i}')")).collect();
    p.sql_revision(
        BASE,
        None,
        &format!(
            "CREATE TABLE backfill_items (id INTEGER NOT NULL PRIMARY KEY, counter INTEGER NOT NULL, \
             name VARCHAR(40) NOT NULL);\nINSERT INTO backfill_items (id, counter, name) VALUES {};\n",
            values.join(", ")
        ),
        "DROP TABLE backfill_items;\n",
    );
    let dir = p.component_revision(FILL, Some(BASE), &fixtures().backfill, args);
    set_manifest(&dir, args, batch);
    (p, dir)
}

fn set_manifest(dir: &std::path::Path, args: &str, batch: &str) {
    let manifest = format!(
        "transaction = \"batched\"\nid = \"{FILL}\"\nparents = [\"{BASE}\"]\n\
         message = \"backfill\"\ncomponent = \"revision.wasm\"\n\n[args]\n{args}\n\n[batch]\n{batch}\n"
    );
    std::fs::write(dir.join("revision.toml"), manifest).expect("write revision.toml");
}

/// Each row's counter, by id.
fn counters(p: &TestProject) -> Vec<i64> {
    p.query("SELECT counter FROM backfill_items ORDER BY id")
        .into_iter()
        .map(|r| r[0].parse().expect("an integer"))
        .collect()
}

/// The recorded positions: (revision, direction, position, rows, batches, failure).
fn positions(p: &TestProject) -> Vec<Vec<String>> {
    if !p.has_table("aludel_version_batches") {
        return Vec::new();
    }
    p.query(
        "SELECT revision, direction, position, rows_done, batches, COALESCE(failure, '') \
         FROM aludel_version_batches ORDER BY revision",
    )
}

fn a_backfill_killed_after_some_batches_resumes_and_does_every_row_once(backend: Backend) {
    // 20 batches with a pause after each: long enough to be killed part-way.
    let (p, _) = project(backend, "", "size = 10\npause_ms = 300");
    p.ok(&["upgrade", BASE]);
    let mut child = p
        .command()
        .args(["upgrade", "head"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aludel runs");
    let started = Instant::now();
    loop {
        let committed = positions(&p)
            .first()
            .map(|r| r[4].parse::<u64>().expect("batches"))
            .unwrap_or(0);
        if committed >= 2 {
            break;
        }
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("aludel upgrade ended ({status}) before it could be killed part-way");
        }
        assert!(started.elapsed() < HANG_GUARD, "no batch was committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the child");

    assert_eq!(p.versions(), vec![BASE], "killed, it is not applied");
    let at = positions(&p);
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!((at[0][0].as_str(), at[0][1].as_str()), (FILL, "upgrade"));
    assert_eq!(at[0][5], "", "a kill leaves no failure text");
    let rows_done: usize = at[0][3].parse().expect("rows");
    assert!((20..ROWS).contains(&rows_done), "{at:?}");
    let done = counters(&p);
    // Exactly the committed batches' rows, and the batch under way at the
    // kill rolled back whole.
    assert_eq!(done.iter().filter(|&&c| c == 1).count(), rows_done);
    assert!(done.iter().all(|&c| c == 0 || c == 1), "{done:?}");
    assert_eq!(at[0][2], format!("{{\"integer\":{rows_done}}}"));

    let status = p.aludel(&["current"]);
    assert!(
        status.stderr.contains(&format!(
            "revision {FILL} is part-way through its batched upgrade"
        )),
        "{}",
        status.stderr
    );

    p.ok(&["upgrade", "head"]);
    assert_eq!(counters(&p), vec![1; ROWS], "every row exactly once");
    assert_eq!(
        p.query("SELECT COUNT(*) FROM backfill_items WHERE name = UPPER(name)"),
        vec![vec![ROWS.to_string()]]
    );
    assert_eq!(p.versions(), vec![FILL]);
    assert!(positions(&p).is_empty(), "done, its position is gone");
    assert_eq!(
        p.query(&format!(
            "SELECT outcome FROM aludel_version_history WHERE revision = '{FILL}' ORDER BY id"
        )),
        vec![vec!["applied"]],
        "one history row for the revision"
    );

    // Its downgrade is batched too, with a position of its own.
    p.ok(&["downgrade", BASE]);
    assert_eq!(counters(&p), vec![0; ROWS]);
    assert_eq!(p.versions(), vec![BASE]);
    assert!(positions(&p).is_empty());
}

fn a_failing_batch_keeps_the_batches_before_it_and_the_next_run_resumes_after_them(
    backend: Backend,
) {
    let (p, dir) = project(backend, "fail_at = \"55\"", "size = 10");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("deliberate failure in the batch holding id 55"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "revision {FILL} had committed 5 batch(es) (50 rows)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("The next `aludel upgrade` resumes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a run whose plan does not take it up again refuses"),
        "{stderr}"
    );
    let mut expected = vec![1; 50];
    expected.extend(vec![0; ROWS - 50]);
    assert_eq!(counters(&p), expected, "the failed batch rolled back whole");
    assert_eq!(p.versions(), vec![BASE]);
    let at = positions(&p);
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!(&at[0][2..5], &["{\"integer\":50}", "50", "5"]);
    assert!(at[0][5].contains("deliberate failure"), "{at:?}");
    let failed = p.query("SELECT revision FROM aludel_version_failed");
    assert_eq!(failed, vec![vec![FILL]], "it is in the failed state");
    let status = p.aludel(&["current"]);
    assert!(status.stderr.contains("it failed: "), "{}", status.stderr);
    let log = p.ok(&["log", "--revision", FILL]);
    assert!(log.contains("failed"), "{log}");

    // A plan that does not take it up is refused, as for any failed revision.
    let refused = p.fails(&["downgrade", "base"]);
    assert!(refused.contains(FILL), "{refused}");
    assert_eq!(p.versions(), vec![BASE]);

    // The next run resumes: the same failure again, nothing done twice.
    let again = p.fails(&["upgrade", "head"]);
    assert!(again.contains("had committed 5 batch(es)"), "{again}");
    assert_eq!(counters(&p), expected);

    // Fixed (it is not applied, so it may change), it finishes from there.
    set_manifest(&dir, "", "size = 10");
    p.ok(&["upgrade", "head"]);
    assert_eq!(counters(&p), vec![1; ROWS]);
    assert_eq!(p.versions(), vec![FILL]);
    assert!(positions(&p).is_empty());
    assert!(
        p.query("SELECT revision FROM aludel_version_failed")
            .is_empty()
    );
}

fn resolve_rolled_back_discards_the_position_and_the_revision_starts_over(backend: Backend) {
    let (p, dir) = project(backend, "fail_at = \"35\"", "size = 10");
    p.fails(&["upgrade", "head"]);
    assert_eq!(positions(&p).len(), 1);
    // The operator undoes the committed batches, then says so.
    p.query("UPDATE backfill_items SET counter = 0, name = LOWER(name)");
    p.ok(&["resolve", FILL, "--rolled-back"]);
    assert!(positions(&p).is_empty(), "the position is discarded");

    set_manifest(&dir, "", "size = 10");
    p.ok(&["upgrade", "head"]);
    assert_eq!(counters(&p), vec![1; ROWS], "started over, every row once");
}

on_every_backend!(
    a_backfill_killed_after_some_batches_resumes_and_does_every_row_once,
    a_failing_batch_keeps_the_batches_before_it_and_the_next_run_resumes_after_them,
    resolve_rolled_back_discards_the_position_and_the_revision_starts_over,
);

#[test]
fn commit_batch_outside_batched_mode_fails_the_revision_and_says_why() {
    let (p, dir) = project(Backend::Sqlite, "", "size = 10");
    // The same revision without `transaction = "batched"`.
    std::fs::write(
        dir.join("revision.toml"),
        format!(
            "id = \"{FILL}\"\nparents = [\"{BASE}\"]\nmessage = \"backfill\"\n\
             component = \"revision.wasm\"\n"
        ),
    )
    .expect("write revision.toml");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("commit-batch is only for revisions with transaction = \"batched\""),
        "{stderr}"
    );
    assert_eq!(p.versions(), vec![BASE]);
    assert_eq!(counters(&p), vec![0; ROWS], "rolled back whole");
}

#[test]
fn a_batch_table_without_batched_mode_is_refused_naming_the_fix() {
    let (p, dir) = project(Backend::Sqlite, "", "size = 10");
    let text = std::fs::read_to_string(dir.join("revision.toml")).expect("read");
    std::fs::write(
        dir.join("revision.toml"),
        text.replace("transaction = \"batched\"\n", ""),
    )
    .expect("write");
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(
        stderr.contains("add `transaction = \"batched\"`"),
        "{stderr}"
    );
}

/// The time limit stops a batched revision like any failure: the batch
/// under way is rolled back, the committed ones and their position stay,
/// and a run with a longer limit resumes after them.
#[test]
fn a_batched_revision_stopped_by_its_time_limit_resumes_after_its_last_batch() {
    // 20 batches with pauses: far longer than the limit.
    let (p, _) = project(Backend::Sqlite, "", "size = 10\npause_ms = 400");
    p.set_limits(3, 256);
    let stderr = p.fails(&["upgrade", "head"]);
    assert!(stderr.contains("ran past its time limit"), "{stderr}");
    assert!(
        stderr.contains("The next `aludel upgrade` resumes"),
        "{stderr}"
    );
    let at = positions(&p);
    assert_eq!(at.len(), 1, "{at:?}");
    assert!(at[0][5].contains("ran past its time limit"), "{at:?}");
    let rows_done: usize = at[0][3].parse().expect("rows");
    let done = counters(&p);
    assert_eq!(done.iter().filter(|&&c| c == 1).count(), rows_done);
    assert!(done.iter().all(|&c| c == 0 || c == 1), "{done:?}");

    p.set_limits(600, 256);
    p.ok(&["upgrade", "head"]);
    assert_eq!(counters(&p), vec![1; ROWS]);
    assert_eq!(p.versions(), vec![FILL]);
    assert!(positions(&p).is_empty());
}
