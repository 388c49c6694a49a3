//! Benchmark: `aludel history` and `aludel heads` on a 1,000-revision
//! project with branches and merges, run as a user runs them (the release
//! binary in a subprocess). The baseline is the same binary printing its
//! version: the cost of starting a process, which no command can avoid.
//!
//! Run with `cargo bench --bench history_1000` (add `-- 5000` for another
//! revision count).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let work = tempfile::tempdir().expect("a temporary directory");
    generate(work.path(), count);

    let version = time(work.path(), &["--version"]);
    let history = time(work.path(), &["history"]);
    let heads = time(work.path(), &["heads"]);
    let verbose = time(work.path(), &["history", "--verbose"]);
    println!("revisions:                 {count}");
    println!("baseline (aludel --version): {:>7.1} ms", ms(version));
    for (name, t) in [
        ("history", history),
        ("heads", heads),
        ("history --verbose", verbose),
    ] {
        println!(
            "{name:<27} {:>7.1} ms  ({:.1}x the baseline)",
            ms(t),
            t.as_secs_f64() / version.as_secs_f64()
        );
    }
}

/// A mostly linear history: every 50 revisions, a labelled side branch of
/// five revisions (positions 25–29) leaves the main line and merges back at
/// position 35.
fn generate(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir.join("versions")).expect("create versions/");
    std::fs::write(
        dir.join("aludel.toml"),
        "[database]\nurl = \"sqlite://bench.db\"\n",
    )
    .expect("write aludel.toml");
    let id = |i: usize| format!("{i:012x}");
    let mut main_tip: Option<usize> = None;
    let mut side_tip: Option<usize> = None;
    for i in 0..count {
        let position = i % 50;
        match (position, main_tip, side_tip) {
            (25, Some(main), _) => {
                write_revision(dir, &id(i), &[id(main)], &[format!("side{i}")]);
                side_tip = Some(i);
            }
            (26..=29, _, Some(side)) => {
                write_revision(dir, &id(i), &[id(side)], &[]);
                side_tip = Some(i);
            }
            (35, Some(main), Some(side)) => {
                write_revision(dir, &id(i), &[id(main), id(side)], &[]);
                main_tip = Some(i);
                side_tip = None;
            }
            (_, main, _) => {
                let parents: Vec<String> = main.map(id).into_iter().collect();
                write_revision(dir, &id(i), &parents, &[]);
                main_tip = Some(i);
            }
        }
    }
}

fn write_revision(dir: &Path, id: &str, parents: &[String], labels: &[String]) {
    let rev = dir.join("versions").join(format!("{id}_rev"));
    std::fs::create_dir_all(&rev).expect("create a revision directory");
    let list = |v: &[String]| {
        v.iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::fs::write(
        rev.join("revision.toml"),
        format!(
            "id = \"{id}\"\nparents = [{}]\nbranch_labels = [{}]\nmessage = \"revision {id}\"\nplugin = \"sql\"\n",
            list(parents),
            list(labels)
        ),
    )
    .expect("write revision.toml");
    std::fs::write(rev.join("upgrade.sql"), "").expect("write upgrade.sql");
    std::fs::write(rev.join("downgrade.sql"), "").expect("write downgrade.sql");
}

/// The median wall time of a command over several runs.
fn time(dir: &Path, args: &[&str]) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_aludel"))
                .args(args)
                .current_dir(dir)
                .output()
                .expect("aludel runs");
            let elapsed = started.elapsed();
            assert!(
                out.status.success(),
                "aludel {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            elapsed
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
