//! The progress output of `upgrade` and `downgrade`: a bar on a terminal
//! (the binary run under a real pseudo-terminal), nothing with `-q`, log
//! lines at a bounded rate without a terminal, and stdout left to data.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Run, TestProject, fixtures};

/// Runs the command given after it with its stderr on a new
/// pseudo-terminal (120 columns), its stdout on ours; writes what the
/// terminal received to our stderr and exits as the command did.
const UNDER_A_TERMINAL: &str = r#"
import fcntl, os, pty, struct, subprocess, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stderr=slave)
os.close(slave)
seen = bytearray()
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the command and its children have closed it
        break
    if not chunk:
        break
    seen += chunk
sys.stderr.buffer.write(bytes(seen))
sys.exit(child.wait())
"#;

fn probe_wasm() -> PathBuf {
    fixtures().misbehave.with_file_name("probe.wasm")
}

/// A project of two revisions: a table, then a probe that reports
/// progress as `args` says (`progress = "<n>"` or `spin = "<n>"`).
fn reporting_project(args: &str) -> TestProject {
    let p = TestProject::new();
    p.sql_revision(
        "table0000001",
        None,
        "CREATE TABLE t (x INTEGER);",
        "DROP TABLE t;",
    );
    p.component_revision("probe0000002", Some("table0000001"), &probe_wasm(), args);
    p
}

/// `aludel args` in the project with stderr on a pseudo-terminal: stdout
/// as it was, stderr as the terminal received it.
fn on_a_terminal(p: &TestProject, args: &[&str]) -> Run {
    let plain = p.command();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(UNDER_A_TERMINAL)
        .arg(plain.get_program())
        .args(args);
    if let Some(dir) = plain.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.output().expect("python3 runs").into()
}

/// The lines of `stderr` that report how far `revision` has come.
fn progress_lines<'a>(stderr: &'a str, revision: &str) -> Vec<&'a str> {
    let marker = format!("{revision}: ");
    stderr
        .lines()
        .filter(|l| l.contains(&marker) && l.contains(" rows"))
        .collect()
}

#[test]
fn upgrade_on_a_terminal_shows_each_revision_of_how_many_and_its_rows() {
    let p = reporting_project("progress = \"100000\"");
    let run = on_a_terminal(&p, &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("[1/2]"), "{}", run.stderr);
    assert!(run.stderr.contains("[2/2]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("probe0000002 revision probe0000002"),
        "{}",
        run.stderr
    );
    // The bar gives way to a line with the rows the revision reported.
    assert!(
        run.stderr
            .contains("[2/2] probe0000002 revision probe0000002 · 100,000 rows in"),
        "{}",
        run.stderr
    );
    // The terminal gets the bar, not the plain log lines.
    assert!(
        !run.stderr.contains("applying probe0000002"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "progress went to stdout");
    assert_eq!(p.applied(), ["table0000001", "probe0000002"]);

    let run = on_a_terminal(&p, &["downgrade", "base"]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("[1/2]") && run.stderr.contains("reverting probe0000002"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_revision_that_reports_no_total_shows_its_rows_without_a_total_on_a_terminal() {
    let p = reporting_project("spin = \"5000\"");
    let run = on_a_terminal(&p, &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("[2/2]"), "{}", run.stderr);
    assert!(run.stderr.contains("5,000 rows"), "{}", run.stderr);
    assert!(!run.stderr.contains("5,000/"), "{}", run.stderr);
}

#[test]
fn quiet_upgrade_on_a_terminal_shows_no_progress_at_all() {
    let p = reporting_project("progress = \"100000\"");
    let run = on_a_terminal(&p, &["-q", "upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(p.applied(), ["table0000001", "probe0000002"]);
    // Not a line of progress, nor the summary at the end: -q leaves
    // stderr to warnings and errors.
    assert_eq!(run.stderr.trim(), "", "stderr of a quiet run");
}

#[test]
fn quiet_still_shows_the_error_of_a_failed_revision() {
    let p = TestProject::new();
    p.component_revision("probe0000001", None, &probe_wasm(), "err = \"it broke\"");
    let run = on_a_terminal(&p, &["-q", "upgrade", "head"]);
    assert!(!run.success);
    assert!(run.stderr.contains("it broke"), "{}", run.stderr);
    assert!(!run.stderr.contains("[1/1]"), "{}", run.stderr);
}

#[test]
fn without_a_terminal_a_hundred_thousand_reports_make_a_few_plain_lines() {
    let p = reporting_project("progress = \"100000\"");
    let run = p.aludel(&["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[2/2] applying probe0000002 (revision probe0000002)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\r'), "bar drawing without a terminal");
    let lines = progress_lines(&run.stderr, "[2/2] probe0000002");
    // One a tenth (the first nine), one at the end, and one for each 10 s
    // the revision went without: 100,000 reports would take far longer.
    assert!(
        (10..=40).contains(&lines.len()),
        "{} lines:\n{}",
        lines.len(),
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("50,000/100,000 rows (50 %)")),
        "{}",
        run.stderr
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("100,000 rows in") && l.contains("rows/s")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn without_a_terminal_reports_with_no_total_make_a_line_at_the_end() {
    let p = reporting_project("spin = \"100000\"");
    let run = p.aludel(&["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    let lines = progress_lines(&run.stderr, "[2/2] probe0000002");
    // No tenths to mark: a line for each 10 s without one, and the last.
    assert!(
        (1..=30).contains(&lines.len()),
        "{} lines:\n{}",
        lines.len(),
        run.stderr
    );
    assert!(
        lines.last().is_some_and(|l| l.contains("100,000 rows in")),
        "{}",
        run.stderr
    );
}

#[test]
fn an_offline_script_on_a_terminal_keeps_stdout_free_of_progress() {
    let p = reporting_project("progress = \"1000\"");
    let run = on_a_terminal(&p, &["upgrade", "--sql", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.contains("CREATE TABLE t"), "{}", run.stdout);
    for shown in ["[1/2]", "[2/2]", " rows", "rows/s"] {
        assert!(!run.stdout.contains(shown), "{shown:?} in:\n{}", run.stdout);
    }
}
