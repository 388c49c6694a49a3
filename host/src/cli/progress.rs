//! How the binary shows a run's progress (the library's
//! [`aludel::progress`] events), always on stderr: on a terminal, a line per
//! revision (`[3/12] 1975ea83b712 add users`) that turns into a bar (rows,
//! rows per second, time left) or a spinner (rows, rows per second) while
//! the revision reports progress; without a terminal, log lines at a
//! bounded rate; with `-q`, nothing. docs/operations.md describes it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use aludel::escape;
use aludel::graph::Direction;
use aludel::progress::{Progress, ProgressSink, RevisionStart};
use indicatif::{HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};

use super::Global;

/// The observer `upgrade` and `downgrade` run with, as the flags and
/// stderr say.
pub(super) fn observer(global: &Global) -> Progress {
    if global.quiet {
        Progress::none()
    } else if std::io::stderr().is_terminal() {
        Progress::new(Bars::default())
    } else {
        Progress::new(Lines::default())
    }
}

/// The bars' corner of the terminal. One per process, because the log
/// writes through it too (see [`log_writer`]).
static TERMINAL: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// Stderr for the log: each event is written whole, with the bars lifted
/// out of the way, so that a log line neither tears a bar nor is half
/// erased by its next draw. Without a terminal the bars are hidden and this
/// is plain stderr.
pub(super) fn log_writer() -> LogEvent {
    LogEvent(Vec::new())
}

pub(super) struct LogEvent(Vec<u8>);

impl std::io::Write for LogEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogEvent {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            TERMINAL.suspend(|| {
                // Nowhere to report a failure to write to stderr.
                let _ = std::io::stderr().write_all(&self.0);
            });
        }
    }
}

/// What names a revision in a line: `[3/12] 1975ea83b712 add users`, with
/// what is not a plain upgrade said (reverting, dry run).
fn title(start: &RevisionStart<'_>) -> (String, String) {
    let verb = match start.direction {
        Direction::Upgrade => "",
        Direction::Downgrade => "reverting ",
    };
    let dry = if start.dry_run { " (dry run)" } else { "" };
    (
        format!("[{}/{}]", start.index, start.count),
        // The message is the project's text: shown, never obeyed.
        format!(
            "{verb}{} {}{dry}",
            start.revision,
            escape::controls(start.message)
        ),
    )
}

// --------------------------------------------------------------- terminal

/// On a terminal: one bar per revision, replaced by a line when it
/// finishes.
#[derive(Default)]
struct Bars {
    current: Mutex<Option<Bar>>,
}

/// How often a report is passed on to the bar. A revision may report once
/// a row: handing each to indicatif cost about 9 µs (a debug build), ten
/// times what the guest's call costs; the latest is kept meanwhile.
const BAR_EVERY: Duration = Duration::from_millis(50);

struct Bar {
    bar: ProgressBar,
    /// `[3/12] 1975ea83b712 add users`, for the line that replaces the bar.
    name: String,
    /// The style in use: none before the first report, else whether the
    /// total is known.
    known: Option<bool>,
    /// The latest report, and when the bar was last given one.
    latest: (u64, Option<u64>),
    passed_on: Option<Instant>,
}

impl Bar {
    fn pass_on(&mut self) {
        let (done, total) = self.latest;
        if self.known != Some(total.is_some()) {
            self.known = Some(total.is_some());
            self.bar
                .set_style(style(if total.is_some() { KNOWN } else { UNKNOWN }));
        }
        match total {
            Some(total) => self.bar.set_length(total),
            None => self.bar.unset_length(),
        }
        self.bar.set_position(done);
        self.passed_on = Some(Instant::now());
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the templates are fixed and valid")
        .progress_chars("=> ")
}

/// Before the revision reports anything.
const STARTED: &str = "{prefix} {spinner} {msg} {elapsed}";
/// Total known.
const KNOWN: &str =
    "{prefix} {msg} [{bar:30}] {human_pos}/{human_len} rows · {per_sec:0} · {eta} left";
/// Total unknown.
const UNKNOWN: &str = "{prefix} {spinner} {msg} {human_pos} rows · {per_sec:0}";

impl ProgressSink for Bars {
    fn revision_started(&self, start: &RevisionStart<'_>) {
        let (prefix, message) = title(start);
        let name = format!("{prefix} {message}");
        let bar = TERMINAL.add(
            ProgressBar::new_spinner()
                .with_style(style(STARTED))
                .with_prefix(prefix)
                .with_message(message),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let previous = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Bar {
                bar,
                name,
                known: None,
                latest: (0, None),
                passed_on: None,
            });
        if let Some(previous) = previous {
            previous.bar.finish_and_clear();
        }
    }

    fn report(&self, done: u64, total: Option<u64>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some(shown) = current.as_mut() else {
            return;
        };
        shown.latest = (done, total);
        if shown.passed_on.is_none_or(|at| at.elapsed() >= BAR_EVERY) {
            shown.pass_on();
        }
    }

    fn revision_finished(&self, _revision: &str, succeeded: bool) {
        let Some(shown) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let seconds = shown.bar.elapsed().as_secs_f64();
        let line = if !succeeded {
            format!("{} · failed after {seconds:.1} s", shown.name)
        } else if shown.passed_on.is_some() {
            let done = shown.latest.0;
            format!(
                "{} · {} rows in {seconds:.1} s ({} rows/s)",
                shown.name,
                HumanCount(done),
                HumanCount(rate(done, seconds))
            )
        } else {
            format!("{} · {seconds:.1} s", shown.name)
        };
        // A line of its own in place of the bar, ended: what comes next on
        // stderr (the summary, an error) starts on a fresh line.
        shown.bar.finish_and_clear();
        TERMINAL.remove(&shown.bar);
        TERMINAL.suspend(|| eprintln!("{line}"));
    }
}

// ------------------------------------------------------------ no terminal

/// How long a revision may go without a line while it reports progress.
const QUIET_AT_MOST: Duration = Duration::from_secs(10);

/// Without a terminal (CI, a log file): a line as each revision starts;
/// while it reports, a line at each tenth of its total and at least every
/// [`QUIET_AT_MOST`] otherwise, never more; a last line with its average
/// rate when it reported anything.
#[derive(Default)]
struct Lines {
    current: Mutex<Option<Tally>>,
}

struct Tally {
    /// `[3/12] 1975ea83b712`
    name: String,
    started: Instant,
    last_line: Instant,
    /// The last tenth of the total a line was written for.
    tenth: u64,
    done: u64,
    reported: bool,
}

/// Rows per second, whole.
fn rate(done: u64, seconds: f64) -> u64 {
    if seconds > 0.0 {
        (done as f64 / seconds) as u64
    } else {
        0
    }
}

impl Tally {
    fn rate(&self) -> u64 {
        rate(self.done, self.started.elapsed().as_secs_f64())
    }

    fn line(&self, total: Option<u64>) -> String {
        let rate = self.rate();
        let done = HumanCount(self.done);
        match total {
            Some(total) => {
                let left = total.saturating_sub(self.done);
                let eta = match (left as f64 / rate as f64).min(1e9) {
                    _ if rate == 0 || left == 0 => String::new(),
                    s if s < 1.0 => ", under a second left".to_string(),
                    s => format!(", about {} left", HumanDuration(Duration::from_secs_f64(s))),
                };
                format!(
                    "{}: {done}/{} rows ({} %), {} rows/s{eta}",
                    self.name,
                    HumanCount(total),
                    u128::from(self.done.min(total)) * 100 / u128::from(total.max(1)),
                    HumanCount(rate),
                )
            }
            None => format!("{}: {done} rows, {} rows/s", self.name, HumanCount(rate)),
        }
    }
}

impl ProgressSink for Lines {
    fn revision_started(&self, start: &RevisionStart<'_>) {
        tracing::info!(
            "[{}/{}] {} {} ({})",
            start.index,
            start.count,
            start.verb(),
            start.revision,
            escape::controls(start.message)
        );
        let now = Instant::now();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Tally {
            name: format!("[{}/{}] {}", start.index, start.count, start.revision),
            started: now,
            last_line: now,
            tenth: 0,
            done: 0,
            reported: false,
        });
    }

    fn report(&self, done: u64, total: Option<u64>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tally) = current.as_mut() else {
            return;
        };
        tally.done = done;
        tally.reported = true;
        // The last tenth is left to the revision's last line.
        let tenth = match total {
            Some(total) if total > 0 => {
                (u128::from(done.min(total)) * 10 / u128::from(total)).min(9) as u64
            }
            _ => 0,
        };
        let new_tenth = tenth > tally.tenth;
        tally.tenth = tally.tenth.max(tenth);
        if new_tenth || tally.last_line.elapsed() >= QUIET_AT_MOST {
            tally.last_line = Instant::now();
            tracing::info!("{}", tally.line(total));
        }
    }

    fn revision_finished(&self, _revision: &str, succeeded: bool) {
        let Some(tally) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        // A failure is the run's error to tell.
        if succeeded && tally.reported {
            tracing::info!(
                "{}: {} rows in {:.1} s ({} rows/s)",
                tally.name,
                HumanCount(tally.done),
                tally.started.elapsed().as_secs_f64(),
                HumanCount(tally.rate())
            );
        }
    }
}
