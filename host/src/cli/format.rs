//! How revisions are printed, in Alembic's formats so that scripts written
//! against `alembic history` and friends read aludel's output too.

use aludel::graph::{Graph, Node};
use aludel::project::Project;

/// What to add to the plain id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line {
    pub parents: bool,
    pub labels: bool,
    pub head: bool,
    pub tree: bool,
    pub message: bool,
}

fn down_revisions(node: &Node) -> String {
    if node.parents.is_empty() {
        "<base>".to_string()
    } else {
        node.parents.join(", ")
    }
}

/// One line: `parents -> id (labels) (head) (current) (branchpoint), message`.
pub fn line(graph: &Graph, node: &Node, current: &[String], what: Line) -> String {
    let mut text = node.id.clone();
    if what.parents {
        text = if node.depends_on.is_empty() {
            format!("{} -> {text}", down_revisions(node))
        } else {
            format!(
                "{} ({}) -> {text}",
                down_revisions(node),
                node.depends_on.join(", ")
            )
        };
    }
    if what.labels && !node.branch_labels.is_empty() {
        text.push_str(&format!(" ({})", node.branch_labels.join(", ")));
    }
    if what.head || what.tree {
        if graph.is_head(&node.id) {
            text.push_str(" (head)");
        }
        if current.contains(&node.id) {
            text.push_str(" (current)");
        }
    }
    if what.tree {
        if graph.is_branch_point(&node.id) {
            text.push_str(" (branchpoint)");
        }
        if graph.is_merge_point(&node.id) {
            text.push_str(" (mergepoint)");
        }
    }
    if what.message {
        text.push_str(&format!(", {}", node.message));
    }
    text
}

/// The verbose entry of `history --verbose`, `heads --verbose` and `show`.
pub fn entry(project: &Project, graph: &Graph, node: &Node, current: &[String]) -> String {
    let id = &node.id;
    let mut out = format!("Rev: {id}");
    for (flag, text) in [
        (graph.is_head(id), " (head)"),
        (graph.is_branch_point(id), " (branchpoint)"),
        (graph.is_merge_point(id), " (mergepoint)"),
        (current.contains(id), " (current)"),
    ] {
        if flag {
            out.push_str(text);
        }
    }
    out.push('\n');
    let label = if graph.is_merge_point(id) {
        "Merges"
    } else {
        "Parent"
    };
    out.push_str(&format!("{label}: {}\n", down_revisions(node)));
    if !node.depends_on.is_empty() {
        out.push_str(&format!(
            "Also depends on: {}\n",
            node.depends_on.join(", ")
        ));
    }
    if graph.is_branch_point(id) {
        out.push_str(&format!(
            "Branches into: {}\n",
            graph.children(id).join(", ")
        ));
    }
    if !node.branch_labels.is_empty() {
        out.push_str(&format!(
            "Branch names: {}\n",
            node.branch_labels.join(", ")
        ));
    }
    if let Some(revision) = project.revision(id) {
        out.push_str(&format!("Path: {}\n", revision.dir.display()));
    }
    out.push('\n');
    for paragraph in node.message.lines() {
        out.push_str(&format!("    {paragraph}\n"));
    }
    out
}

/// `--format` of the commands that list revisions or comparisons: text for
/// people (Alembic's layout), JSON for scripts (docs/cli.md has the shapes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// One revision as `--format json` shows it: every fact the text forms
/// show, under stable names. `current` is present only where the command
/// knows it (`current`, `history --indicate-current`).
pub fn json(
    project: &Project,
    graph: &Graph,
    node: &Node,
    current: Option<&[String]>,
) -> serde_json::Value {
    let id = &node.id;
    let revision = project.revision(id);
    let mut out = serde_json::json!({
        "id": id,
        "parents": node.parents,
        "depends_on": node.depends_on,
        "branch_labels": node.branch_labels,
        "message": node.message,
        "created": revision.and_then(|r| r.created.clone()),
        "path": revision.map(|r| r.dir.display().to_string()),
        "head": graph.is_head(id),
        "branch_point": graph.is_branch_point(id),
        "merge_point": graph.is_merge_point(id),
        "children": graph.children(id),
    });
    if let Some(current) = current {
        out["current"] = serde_json::Value::Bool(current.contains(id));
    }
    out
}

/// Prints a JSON value as every `--format json` does: pretty, one
/// document on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
