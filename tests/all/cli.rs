//! The command line's conventions: an example in every command's help,
//! completion scripts a shell accepts, and `--format json` on the commands
//! that list revisions, each compared with a reviewed snapshot.

use std::process::Command;

use crate::offline::snapshot;
use crate::support::TestProject;

fn aludel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_aludel")
}

/// The subcommands `aludel --help` lists, `help` aside.
fn subcommands() -> Vec<String> {
    let help = Command::new(aludel_bin())
        .arg("--help")
        .output()
        .expect("runs");
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).expect("UTF-8");
    let listed = text
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .split("\n\n")
        .next()
        .unwrap();
    listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_s_help_ends_with_an_example_of_that_command() {
    let commands = subcommands();
    assert!(commands.len() >= 19, "{commands:?}");
    for command in &commands {
        let help = Command::new(aludel_bin())
            .args([command, "--help"])
            .output()
            .expect("runs");
        assert!(help.status.success(), "{command} --help");
        let text = String::from_utf8(help.stdout).expect("UTF-8");
        let examples = text
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("`aludel {command} --help` has no Examples:\n{text}"));
        assert!(
            examples.contains(&format!("  aludel {command}")),
            "`aludel {command} --help`'s examples do not run it:\n{examples}"
        );
    }
}

#[test]
fn a_bash_completion_script_registers_and_completes_every_command() {
    let script = Command::new(aludel_bin())
        .args(["completions", "bash"])
        .output()
        .expect("runs");
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aludel.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // Source it in a real bash and ask its completion function what
    // `aludel up<TAB>` and `aludel upgrade --dr<TAB>` complete to.
    let probe = format!(
        "source {}\n\
         complete -p aludel\n\
         COMP_WORDS=(aludel up); COMP_CWORD=1; COMP_LINE='aludel up'; COMP_POINT=9\n\
         _aludel aludel up aludel; echo \"words: ${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(aludel upgrade --dr); COMP_CWORD=2; COMP_LINE='aludel upgrade --dr'; COMP_POINT=19\n\
         _aludel aludel --dr upgrade; echo \"flags: ${{COMPREPLY[*]}}\"\n",
        file.display()
    );
    let run = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash runs");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("-F _aludel aludel"), "{out}");
    assert!(out.contains("words: upgrade"), "{out}");
    assert!(out.contains("flags: --dry-run"), "{out}");
}

#[test]
fn completion_scripts_for_zsh_fish_powershell_and_elvish_name_every_command() {
    let commands = subcommands();
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let run = Command::new(aludel_bin())
            .args(["completions", shell])
            .output()
            .expect("runs");
        assert!(run.status.success(), "{shell}");
        let script = String::from_utf8(run.stdout).expect("UTF-8");
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell}: no {command}");
        }
    }
    let run = Command::new(aludel_bin())
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(
        run.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// A project with a branch point, a branch label, a depends_on and a merge,
/// every manifest written out so that the JSON is the same on every run.
fn graph_project() -> TestProject {
    let p = TestProject::new();
    let revisions = [
        (
            "aaaa00000001",
            "[]",
            "branch_labels = [\"core\"]\n",
            "a base",
        ),
        ("bbbb00000002", "[\"aaaa00000001\"]", "", "one side"),
        (
            "cccc00000003",
            "[\"aaaa00000001\"]",
            "depends_on = [\"bbbb00000002\"]\n",
            "other side",
        ),
        (
            "dddd00000004",
            "[\"bbbb00000002\", \"cccc00000003\"]",
            "",
            "merge both",
        ),
    ];
    for (id, parents, extra, message) in revisions {
        let dir = p.root().join("versions").join(format!("{id}_rev"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("revision.toml"),
            format!(
                "id = \"{id}\"\nparents = {parents}\nmessage = \"{message}\"\n\
                 created = \"2026-11-21T07:09:22Z\"\n{extra}plugin = \"sql\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("upgrade.sql"),
            format!("CREATE TABLE t_{id} (x INTEGER);\n"),
        )
        .unwrap();
        std::fs::write(dir.join("downgrade.sql"), format!("DROP TABLE t_{id};\n")).unwrap();
    }
    p.ok(&["upgrade", "bbbb00000002"]);
    p
}

/// The JSON with what differs from run to run replaced: the project's
/// directory, and the time a stored revision ran.
fn normalised(p: &TestProject, json: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).expect("JSON on stdout");
    if let Some(at) = value.get_mut("stored_at") {
        assert!(at.as_str().is_some_and(|t| t.ends_with('Z')), "{at}");
        *at = "<time>".into();
    }
    // The archive's hash covers how it was packed, which may change with
    // aludel's version; the checksum of the files stays.
    if let Some(artifact) = value.get_mut("artifact") {
        assert_eq!(artifact.as_str().map(str::len), Some(64), "{artifact}");
        *artifact = "<artifact>".into();
    }
    let root = p.root().canonicalize().unwrap().display().to_string();
    let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
    text.replace(&root, "<project>")
        .replace(&p.root().display().to_string(), "<project>")
}

#[test]
fn heads_history_show_and_current_print_json_as_their_snapshots() {
    let p = graph_project();
    for (args, name) in [
        (&["heads"][..], "cli_heads.json"),
        (&["history"], "cli_history.json"),
        (
            &["history", "--indicate-current", "-r", "current:"],
            "cli_history_current.json",
        ),
        (&["show", "aaaa"], "cli_show.json"),
        (
            &["show", "bbbb00000002", "--stored"],
            "cli_show_stored.json",
        ),
        (&["current"], "cli_current.json"),
    ] {
        let mut full = args.to_vec();
        full.extend(["--format", "json"]);
        let out = p.ok(&full);
        snapshot(name, &normalised(&p, &out));
    }
}

#[test]
fn json_output_is_the_only_thing_on_stdout_and_text_stays_alembic_s() {
    let p = graph_project();
    // The text forms are unchanged by the flag's existence.
    assert_eq!(p.ok(&["heads"]).trim(), "dddd00000004 (head)");
    // An empty database's `current` is an empty list, its status on stderr.
    let fresh = TestProject::new();
    let run = fresh.aludel(&["current", "--format", "json"]);
    assert!(run.success, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("only JSON on stdout");
    assert_eq!(v, serde_json::json!({"revisions": [], "part_way": []}));
}

#[test]
fn check_prints_its_differences_as_json_like_its_snapshot() {
    let p = TestProject::new();
    p.sql_revision(
        "aaaa00000001",
        None,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
        "DROP TABLE users;\n",
    );
    p.ok(&["upgrade", "head"]);
    std::fs::create_dir_all(p.root().join("models")).unwrap();
    std::fs::write(
        p.root().join("models/schema.sql"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);\n\
         CREATE INDEX users_email ON users (email);\n",
    )
    .unwrap();
    let config = p.root().join("aludel.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[models]\nsql = [\"models/*.sql\"]\n"),
    )
    .unwrap();
    let run = p.aludel(&["check", "--format", "json"]);
    assert!(!run.success, "differences fail check");
    snapshot("cli_check.json", &normalised(&p, &run.stdout));
}
