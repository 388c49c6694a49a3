//! The revision graph: which revisions exist, how they descend from one
//! another, what an identifier such as `head-1` or `ae10+2` names, and which
//! steps take a database from its current heads to a target. Pure: it knows
//! nothing of files or databases, so every plan is data that `upgrade`,
//! `downgrade` and `stamp` can share and that tests can check in memory.
//!
//! The semantics are Alembic's (`alembic/script/revision.py` and the
//! `HeadMaintainer` of `alembic/runtime/migration.py`): parents are the
//! versioned edges, `depends_on` adds ordering edges that do not make a
//! revision stop being a head, and the version table holds one row per
//! current head. Where Alembic is ambiguous or lenient, this module refuses
//! with an error that names the fix; the divergences are noted where they
//! are made.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// A revision as the graph sees it: identity and edges, nothing of how it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Versioned parents: none for a base, two or more for a merge.
    pub parents: Vec<String>,
    pub branch_labels: Vec<String>,
    /// Revisions (ids or branch labels) that must be applied first without
    /// being parents.
    pub depends_on: Vec<String>,
    pub message: String,
}

/// Which of a revision's functions a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Upgrade,
    Downgrade,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        })
    }
}

/// How the version table (one row per current head) changes when a step
/// commits. Each variant is one of the moves of Alembic's `HeadMaintainer`,
/// so a backend can issue exactly the same INSERT/UPDATE/DELETE statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    /// A new row: a base was applied, or a revision whose parents are all
    /// behind other heads (a new branch).
    Insert { id: String },
    /// A row goes: a base was downgraded, or a revision whose parents remain
    /// reachable from other heads.
    Delete { id: String },
    /// One row moves along a line of revisions.
    Update { from: String, to: String },
    /// A merge (or a dependency) joins several rows: `delete` go, and
    /// `update_from` becomes `to`.
    Merge {
        delete: Vec<String>,
        update_from: String,
        to: String,
    },
    /// Downgrading a merge splits its row: `from` becomes `to[0]` (an UPDATE)
    /// and every further entry of `to` is INSERTed.
    Unmerge { from: String, to: Vec<String> },
}

/// One revision to run, and the version-table change that commits with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub revision: String,
    pub direction: Direction,
    pub change: VersionChange,
}

impl Step {
    /// Applies the change to an in-memory version table. Lenient on rows
    /// that are missing, because this also serves `stamp` and dry runs over
    /// a table that may already be inconsistent; planning never produces
    /// such a change from a consistent table.
    pub fn apply(&self, heads: &mut Vec<String>) {
        fn replace(heads: &mut Vec<String>, from: &str, to: &str) {
            match heads.iter().position(|h| h == from) {
                Some(at) => heads[at] = to.to_owned(),
                None => heads.push(to.to_owned()),
            }
        }
        fn insert(heads: &mut Vec<String>, id: &str) {
            if !heads.iter().any(|h| h == id) {
                heads.push(id.to_owned());
            }
        }
        match &self.change {
            VersionChange::Insert { id } => insert(heads, id),
            VersionChange::Delete { id } => heads.retain(|h| h != id),
            VersionChange::Update { from, to } => replace(heads, from, to),
            VersionChange::Merge {
                delete,
                update_from,
                to,
            } => {
                heads.retain(|h| !delete.contains(h));
                replace(heads, update_from, to);
            }
            VersionChange::Unmerge { from, to } => {
                if let Some((first, rest)) = to.split_first() {
                    replace(heads, from, first);
                    for id in rest {
                        insert(heads, id);
                    }
                } else {
                    heads.retain(|h| h != from);
                }
            }
        }
    }
}

/// What went wrong, with the data a caller needs to explain it. The messages
/// name the fix, because they reach users unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("revision id `{id}` is not valid: {reason}")]
    InvalidId { id: String, reason: String },
    #[error("revision id `{0}` is used by more than one revision; give one of them a new id")]
    DuplicateId(String),
    #[error(
        "revision `{revision}` names parent `{parent}`, which does not exist; restore it or fix the parents of `{revision}`"
    )]
    MissingParent { revision: String, parent: String },
    #[error(
        "revision `{revision}` depends on `{dependency}`, which is neither a revision nor a branch label; restore it or fix the depends_on of `{revision}`"
    )]
    MissingDependency {
        revision: String,
        dependency: String,
    },
    #[error(
        "revisions form a cycle through their parents or depends_on: {}; edit one of them to break it",
        list(.0)
    )]
    Cycle(Vec<String>),
    #[error(
        "branch label `{label}` of revision `{revision}` is already used by revision `{other}`; branch labels must be unique and differ from every revision id"
    )]
    DuplicateBranchLabel {
        label: String,
        revision: String,
        other: String,
    },
    #[error("no revision or branch label matches `{0}`; `aludel history` lists the revisions")]
    UnknownRevision(String),
    #[error("no branch is labelled `{0}`; `aludel branches` lists the labels")]
    UnknownBranch(String),
    #[error(
        "the database is at revision `{0}`, which is not in this project; restore its directory, or `aludel stamp` the database to a revision that exists"
    )]
    UnknownCurrent(String),
    #[error("`{0}` is not a revision id, and a partial id needs at least 4 characters")]
    PrefixTooShort(String),
    #[error(
        "`{prefix}` starts several revision ids ({}); type more of the id",
        list(.candidates)
    )]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error(
        "`{spec}` is ambiguous: there are several heads ({}); use `heads`, `<label>@head` or `aludel merge`",
        list(.heads)
    )]
    MultipleHeads { heads: Vec<String>, spec: String },
    #[error(
        "`{spec}` counts from the current revision, but the database has several heads ({}); count from one of them, e.g. `<rev>{spec}`",
        list(.current)
    )]
    AmbiguousRelative { spec: String, current: Vec<String> },
    #[error(
        "`{spec}` cannot walk on from `{at}`: the history forks there into {}; name the revision you mean instead",
        list(.choices)
    )]
    AmbiguousWalk {
        spec: String,
        at: String,
        choices: Vec<String>,
    },
    #[error("`{spec}` walks {steps} step(s), but only {walked} are possible from there")]
    RelativeTooFar {
        spec: String,
        steps: usize,
        walked: usize,
    },
    #[error(
        "`{spec}` points the wrong way for a {direction}: upgrade takes `+N` and downgrade takes `-N`"
    )]
    WrongDirection { spec: String, direction: Direction },
    #[error(
        "cannot downgrade to `{target}`: it is not a current head and no applied revision descends from it (current: {}); `aludel current` shows where the database is",
        list_or_empty(.current)
    )]
    NotBelowCurrent {
        target: String,
        current: Vec<String>,
    },
    #[error("revision `{revision}` is not on branch `{label}`")]
    NotOnBranch { revision: String, label: String },
    #[error(
        "cannot downgrade `{revision}`: the version table does not list it as a head ({}); fix the table with `aludel stamp`",
        list_or_empty(.heads)
    )]
    NotAHead {
        revision: String,
        heads: Vec<String>,
    },
    #[error("`{spec}` is not a revision identifier: {reason}")]
    InvalidSpec { spec: String, reason: String },
}

fn list(ids: &[String]) -> String {
    ids.join(", ")
}

fn list_or_empty(ids: &[String]) -> String {
    if ids.is_empty() {
        "none: the database is empty".to_owned()
    } else {
        list(ids)
    }
}

/// Where a relative walk stands: before every revision, or at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Base,
    Rev(usize),
}

/// Which relative forms a caller accepts: Alembic gives `+N` to upgrade only
/// and `-N` (without a revision) to downgrade only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Any,
    Upgrade,
    Downgrade,
}

/// Partial ids shorter than this are refused, as in Alembic, so that a typo
/// cannot silently pick a revision.
const MIN_PREFIX: usize = 4;

/// Characters that would make an id unparseable in relative and branch forms.
const ILLEGAL_ID_CHARS: [char; 4] = ['@', '-', '+', ':'];

const RESERVED: [&str; 3] = ["head", "heads", "base"];

/// An immutable, validated revision DAG.
///
/// Nodes are stored in a fixed topological order, by depth (the longest path
/// from a base) and then by id. That order is this module's only tie-break,
/// so every answer is deterministic whatever order the files were read in.
#[derive(Debug, Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    by_id: HashMap<String, usize>,
    by_label: HashMap<String, usize>,
    /// Versioned parents.
    parents: Vec<Vec<usize>>,
    /// Children through parents only: what relative walks and branch
    /// lineage follow.
    children: Vec<Vec<usize>>,
    /// Parents and dependencies: everything that must be applied first.
    all_down: Vec<Vec<usize>>,
    /// Children through parents or dependencies.
    all_children: Vec<Vec<usize>>,
    /// Parents plus the dependencies not already implied by another down
    /// revision: the edges the version table follows (Alembic's
    /// `_normalized_down_revisions`).
    down: Vec<Vec<usize>>,
}

impl Graph {
    /// Builds and validates the graph. Refuses invalid or duplicate ids,
    /// missing parents and dependencies, cycles, and branch labels that are
    /// not unique.
    pub fn new(nodes: Vec<Node>) -> Result<Graph, GraphError> {
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            check_id(&node.id)?;
            if by_id.insert(&node.id, i).is_some() {
                return Err(GraphError::DuplicateId(node.id.clone()));
            }
        }
        // Labels resolve like ids (Alembic keeps both in one map), so a label
        // may shadow neither an id nor another label.
        let mut by_label: HashMap<&str, usize> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            for label in &node.branch_labels {
                let other = by_id.get(label.as_str()).or(by_label.get(label.as_str()));
                if let Some(&other) = other {
                    return Err(GraphError::DuplicateBranchLabel {
                        label: label.clone(),
                        revision: node.id.clone(),
                        other: nodes[other].id.clone(),
                    });
                }
                check_label(label, &node.id)?;
                by_label.insert(label, i);
            }
        }

        let n = nodes.len();
        let mut parents = vec![Vec::new(); n];
        let mut deps = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            for parent in &node.parents {
                let &p = by_id
                    .get(parent.as_str())
                    .ok_or_else(|| GraphError::MissingParent {
                        revision: node.id.clone(),
                        parent: parent.clone(),
                    })?;
                push_unique(&mut parents[i], p);
            }
            for dep in &node.depends_on {
                let &d = by_id
                    .get(dep.as_str())
                    .or(by_label.get(dep.as_str()))
                    .ok_or_else(|| GraphError::MissingDependency {
                        revision: node.id.clone(),
                        dependency: dep.clone(),
                    })?;
                push_unique(&mut deps[i], d);
            }
        }
        let all_down: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let mut v = parents[i].clone();
                for &d in &deps[i] {
                    push_unique(&mut v, d);
                }
                v
            })
            .collect();

        let depth = depths(&nodes, &all_down)?;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| (depth[a], &nodes[a].id).cmp(&(depth[b], &nodes[b].id)));
        let mut new_index = vec![0; n];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let remap = |edges: &[Vec<usize>]| -> Vec<Vec<usize>> {
            order
                .iter()
                .map(|&old| edges[old].iter().map(|&e| new_index[e]).collect())
                .collect()
        };
        let parents = remap(&parents);
        let deps = remap(&deps);
        let all_down = remap(&all_down);
        let by_label = by_label
            .into_iter()
            .map(|(label, old)| (label.to_owned(), new_index[old]))
            .collect();
        let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        let nodes: Vec<Node> = order.iter().filter_map(|&old| slots[old].take()).collect();
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.clone(), i))
            .collect();

        let children = invert(&parents);
        let all_children = invert(&all_down);
        let mut graph = Graph {
            nodes,
            by_id,
            by_label,
            parents,
            children,
            all_down,
            all_children,
            down: Vec::new(),
        };
        graph.down = (0..n).map(|i| graph.normalize_down(i, &deps[i])).collect();
        Ok(graph)
    }

    /// Alembic drops a dependency already declared by an ancestor; this also
    /// drops one that is an ancestor of another down revision (Alembic keeps
    /// it, and downgrading past a merge could then leave a version row below
    /// another row). The version table ends in the same state either way.
    fn normalize_down(&self, i: usize, deps: &[usize]) -> Vec<usize> {
        let mut down = self.parents[i].clone();
        for &d in deps {
            let implied = self.all_down[i]
                .iter()
                .any(|&other| other != d && self.ancestors(&[other]).contains(&d));
            if !implied {
                push_unique(&mut down, d);
            }
        }
        down
    }

    pub fn get(&self, id: &str) -> Option<&Node> {
        self.by_id.get(id).map(|&i| &self.nodes[i])
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Revisions that no revision names as a parent, as `alembic heads`
    /// shows them: a revision that others only depend on is still a head.
    pub fn heads(&self) -> Vec<&str> {
        self.ids(&self.head_indices())
    }

    /// Revisions without parents (a base may still have dependencies).
    pub fn bases(&self) -> Vec<&str> {
        self.ids(&self.base_indices())
    }

    /// All revisions, newest first: every revision comes before its parents
    /// and dependencies, and a line of revisions stays together where the
    /// graph allows, as in `alembic history`.
    pub fn walk_newest_first(&self) -> Vec<&Node> {
        let all: BTreeSet<usize> = (0..self.len()).collect();
        self.newest_first(&all, &self.real_head_indices())
            .into_iter()
            .map(|i| &self.nodes[i])
            .collect()
    }

    /// Resolves one identifier to revision ids; an empty list means `base`
    /// (before every revision). `current` is the database's version table,
    /// needed by the relative forms `+N` and `-N`.
    pub fn resolve(&self, spec: &str, current: &[String]) -> Result<Vec<String>, GraphError> {
        let current = self.current_indices(current)?;
        let revs = self.resolve_indices(spec, &current, Mode::Any)?;
        Ok(self.ids(&revs).into_iter().map(str::to_owned).collect())
    }

    /// Steps that apply every revision the target needs (its ancestors
    /// through parents and dependencies, and itself) that the current heads
    /// do not already have, parents first. A target at or below the current
    /// heads gives an empty plan, as in Alembic.
    pub fn upgrade_plan(&self, current: &[String], target: &str) -> Result<Vec<Step>, GraphError> {
        let cur = self.current_indices(current)?;
        let targets = self.resolve_indices(target, &cur, Mode::Upgrade)?;
        let applied = self.ancestors(&cur);
        let needed: BTreeSet<usize> = self
            .ancestors(&targets)
            .difference(&applied)
            .copied()
            .collect();
        let mut order = self.newest_first(&needed, &targets);
        order.reverse();
        self.plan(current, &order, Direction::Upgrade)
    }

    /// Steps that undo every applied revision descending from the target
    /// (not the target itself), children first. `base` undoes everything.
    pub fn downgrade_plan(
        &self,
        current: &[String],
        target: &str,
    ) -> Result<Vec<Step>, GraphError> {
        let cur = self.current_indices(current)?;
        let resolved = self.resolve_indices(target, &cur, Mode::Downgrade)?;
        let target_rev = match resolved.as_slice() {
            [] => None,
            [one] => Some(*one),
            several => {
                return Err(GraphError::MultipleHeads {
                    heads: self.owned_ids(several),
                    spec: target.to_owned(),
                });
            }
        };
        let active = self.ancestors(&cur);
        let not_below = || GraphError::NotBelowCurrent {
            target: target.to_owned(),
            current: self.owned_ids(&cur),
        };
        let roots = match target_rev {
            None => self.base_indices(),
            Some(t) if !active.contains(&t) => return Err(not_below()),
            Some(t) => self.children[t].clone(),
        };
        let undo: BTreeSet<usize> = self
            .closure(&roots, &self.all_children)
            .intersection(&active)
            .copied()
            .collect();
        // As Alembic: a target that only other heads depend on has nothing
        // above it to undo, and is not the current revision either.
        if let Some(t) = target_rev
            && undo.is_empty()
            && !cur.contains(&t)
        {
            return Err(not_below());
        }
        let order = self.newest_first(&undo, &cur);
        self.plan(current, &order, Direction::Downgrade)
    }

    fn plan(
        &self,
        current: &[String],
        order: &[usize],
        direction: Direction,
    ) -> Result<Vec<Step>, GraphError> {
        let mut table: Vec<String> = Vec::new();
        for id in current {
            if !table.contains(id) {
                table.push(id.clone());
            }
        }
        let mut steps = Vec::with_capacity(order.len());
        for &r in order {
            let heads: BTreeSet<usize> = table.iter().filter_map(|h| self.index(h)).collect();
            let change = match direction {
                Direction::Upgrade => self.upgrade_change(r, &heads),
                Direction::Downgrade => {
                    if !heads.contains(&r) {
                        return Err(GraphError::NotAHead {
                            revision: self.nodes[r].id.clone(),
                            heads: table,
                        });
                    }
                    self.downgrade_change(r, &heads)
                }
            };
            let step = Step {
                revision: self.nodes[r].id.clone(),
                direction,
                change,
            };
            step.apply(&mut table);
            steps.push(step);
        }
        Ok(steps)
    }

    /// `HeadMaintainer.update_to_step` for an upgrade.
    fn upgrade_change(&self, r: usize, heads: &BTreeSet<usize>) -> VersionChange {
        let id = self.nodes[r].id.clone();
        let down = &self.down[r];
        let present: Vec<usize> = down.iter().copied().filter(|d| heads.contains(d)).collect();
        let Some(&first) = present.first() else {
            return VersionChange::Insert { id };
        };
        if present.len() == 1 {
            return VersionChange::Update {
                from: self.nodes[first].id.clone(),
                to: id,
            };
        }
        // Rows that other heads still need stay; Alembic also lists down
        // revisions that have no row, which would make its DELETE fail, so
        // only present rows are considered here.
        let others: Vec<usize> = heads
            .iter()
            .copied()
            .filter(|h| !down.contains(h))
            .collect();
        let kept = self.ancestors(&others);
        let joined: Vec<usize> = present.into_iter().filter(|d| !kept.contains(d)).collect();
        match joined.split_first() {
            None => VersionChange::Insert { id },
            Some((&update, [])) => VersionChange::Update {
                from: self.nodes[update].id.clone(),
                to: id,
            },
            Some((&update, rest)) => VersionChange::Merge {
                delete: self.owned_ids(rest),
                update_from: self.nodes[update].id.clone(),
                to: id,
            },
        }
    }

    /// `HeadMaintainer.update_to_step` for a downgrade of a current head.
    fn downgrade_change(&self, r: usize, heads: &BTreeSet<usize>) -> VersionChange {
        let id = self.nodes[r].id.clone();
        let down = &self.down[r];
        let others: Vec<usize> = heads.iter().copied().filter(|&h| h != r).collect();
        let to: Vec<usize> = if others.is_empty() {
            down.iter()
                .copied()
                .filter(|&d| {
                    !down
                        .iter()
                        .any(|&o| o != d && self.ancestors(&[o]).contains(&d))
                })
                .collect()
        } else {
            let kept = self.ancestors(&others);
            down.iter().copied().filter(|d| !kept.contains(d)).collect()
        };
        match to.as_slice() {
            [] => VersionChange::Delete { id },
            [one] => VersionChange::Update {
                from: id,
                to: self.nodes[*one].id.clone(),
            },
            several => VersionChange::Unmerge {
                from: id,
                to: self.owned_ids(several),
            },
        }
    }

    fn resolve_indices(
        &self,
        spec: &str,
        current: &[usize],
        mode: Mode,
    ) -> Result<Vec<usize>, GraphError> {
        if spec.is_empty() {
            return Err(invalid(spec, "it is empty"));
        }
        // An exact id or label wins before any parsing, so a label such as
        // `release-2` is not mistaken for `release` minus two.
        if let Some(i) = self.exact(spec) {
            return Ok(vec![i]);
        }
        if let Some((label, rest)) = spec.split_once('@') {
            return self.resolve_on_branch(spec, label, rest);
        }
        let Some(Relative {
            symbol,
            sign,
            steps,
        }) = parse_relative(spec)?
        else {
            return self.resolve_absolute(spec, spec);
        };
        let start = match symbol {
            Some(symbol) => match self.resolve_absolute(symbol, spec)?.as_slice() {
                [] => Pos::Base,
                [one] => Pos::Rev(*one),
                several => {
                    return Err(GraphError::MultipleHeads {
                        heads: self.owned_ids(several),
                        spec: spec.to_owned(),
                    });
                }
            },
            None => {
                let wrong = match sign {
                    Sign::Up => mode == Mode::Downgrade,
                    Sign::Down => mode == Mode::Upgrade,
                };
                if wrong {
                    return Err(GraphError::WrongDirection {
                        spec: spec.to_owned(),
                        direction: match mode {
                            Mode::Downgrade => Direction::Downgrade,
                            _ => Direction::Upgrade,
                        },
                    });
                }
                match (current, sign) {
                    ([], Sign::Up) => Pos::Base,
                    ([], Sign::Down) => {
                        return Err(GraphError::RelativeTooFar {
                            spec: spec.to_owned(),
                            steps,
                            walked: 0,
                        });
                    }
                    ([one], _) => Pos::Rev(*one),
                    // Alembic refuses `+N` here but walks `-N` from the
                    // first row with a deprecation warning; both are refused.
                    (several, _) => {
                        return Err(GraphError::AmbiguousRelative {
                            spec: spec.to_owned(),
                            current: self.owned_ids(several),
                        });
                    }
                }
            }
        };
        Ok(match self.walk(spec, start, sign, steps)? {
            Pos::Base => Vec::new(),
            Pos::Rev(i) => vec![i],
        })
    }

    /// `label@head`, `label@heads` and `label@<rev>`. Relative forms on a
    /// branch wait for the issue that completes branch support.
    fn resolve_on_branch(
        &self,
        spec: &str,
        label: &str,
        rest: &str,
    ) -> Result<Vec<usize>, GraphError> {
        let branch = self
            .exact(label)
            .ok_or_else(|| GraphError::UnknownBranch(label.to_owned()))?;
        let lineage = self.lineage(branch);
        match rest {
            "head" | "heads" => {
                let heads: Vec<usize> = self
                    .head_indices()
                    .into_iter()
                    .filter(|h| lineage.contains(h))
                    .collect();
                if rest == "head" && heads.len() > 1 {
                    return Err(GraphError::MultipleHeads {
                        heads: self.owned_ids(&heads),
                        spec: spec.to_owned(),
                    });
                }
                Ok(heads)
            }
            "" => Err(invalid(spec, "nothing follows `@`")),
            _ if rest == "base" || rest.contains(['+', '-', '@']) => Err(invalid(
                spec,
                "only `<label>@head`, `<label>@heads` and `<label>@<revision>` are supported",
            )),
            _ => {
                let revs = self.resolve_absolute(rest, spec)?;
                for &r in &revs {
                    if !lineage.contains(&r) {
                        return Err(GraphError::NotOnBranch {
                            revision: self.nodes[r].id.clone(),
                            label: label.to_owned(),
                        });
                    }
                }
                Ok(revs)
            }
        }
    }

    /// `head`, `heads`, `base`, an id, a label or a partial id. `spec` is
    /// the whole identifier the user typed, for error messages.
    fn resolve_absolute(&self, symbol: &str, spec: &str) -> Result<Vec<usize>, GraphError> {
        match symbol {
            // Heads that nothing depends on either: their ancestors are
            // every revision, without one target lying below another.
            "heads" => Ok(self.real_head_indices()),
            "head" => {
                let heads = self.head_indices();
                if heads.len() > 1 {
                    return Err(GraphError::MultipleHeads {
                        heads: self.owned_ids(&heads),
                        spec: spec.to_owned(),
                    });
                }
                Ok(heads)
            }
            "base" => Ok(Vec::new()),
            _ => {
                if let Some(i) = self.exact(symbol) {
                    return Ok(vec![i]);
                }
                // Alembic also matches a shorter prefix against ids of four
                // characters or more; refusing it keeps `ab` from picking a
                // revision by accident.
                if symbol.chars().count() < MIN_PREFIX {
                    return Err(GraphError::PrefixTooShort(symbol.to_owned()));
                }
                let candidates: Vec<usize> = (0..self.len())
                    .filter(|&i| self.nodes[i].id.starts_with(symbol))
                    .collect();
                match candidates.as_slice() {
                    [] => Err(GraphError::UnknownRevision(symbol.to_owned())),
                    [one] => Ok(vec![*one]),
                    several => {
                        let mut ids = self.owned_ids(several);
                        ids.sort();
                        Err(GraphError::AmbiguousPrefix {
                            prefix: symbol.to_owned(),
                            candidates: ids,
                        })
                    }
                }
            }
        }
    }

    /// Alembic's `_walk`: up through children from `base` or a revision, down
    /// through parents to `base`; never through a fork.
    fn walk(&self, spec: &str, start: Pos, sign: Sign, steps: usize) -> Result<Pos, GraphError> {
        let mut pos = start;
        for walked in 0..steps {
            let next: Vec<usize> = match (sign, pos) {
                (Sign::Up, Pos::Base) => self.base_indices(),
                (Sign::Up, Pos::Rev(r)) => self.children[r].clone(),
                (Sign::Down, Pos::Base) => Vec::new(),
                (Sign::Down, Pos::Rev(r)) if self.parents[r].is_empty() => {
                    pos = Pos::Base;
                    continue;
                }
                (Sign::Down, Pos::Rev(r)) => self.parents[r].clone(),
            };
            match next.as_slice() {
                [] => {
                    return Err(GraphError::RelativeTooFar {
                        spec: spec.to_owned(),
                        steps,
                        walked,
                    });
                }
                [one] => pos = Pos::Rev(*one),
                several => {
                    return Err(GraphError::AmbiguousWalk {
                        spec: spec.to_owned(),
                        at: match pos {
                            Pos::Base => "base".to_owned(),
                            Pos::Rev(r) => self.nodes[r].id.clone(),
                        },
                        choices: self.owned_ids(several),
                    });
                }
            }
        }
        Ok(pos)
    }

    /// Alembic's `_topological_sort`: walks down from `heads`, emitting a
    /// revision only once no other pending head still needs it, so each line
    /// of revisions comes out in one piece. Ties follow the node order.
    fn newest_first(&self, todo: &BTreeSet<usize>, heads: &[usize]) -> Vec<usize> {
        let mut todo = todo.clone();
        let mut current: Vec<usize> = heads.iter().copied().filter(|h| todo.contains(h)).collect();
        current.sort_unstable();
        current.dedup();
        let mut below: Vec<BTreeSet<usize>> =
            current.iter().map(|&h| self.ancestors(&[h])).collect();
        let mut out = Vec::with_capacity(todo.len());
        let mut at = 0;
        while let Some(&candidate) = current.get(at) {
            let needed_by = below
                .iter()
                .enumerate()
                .position(|(j, set)| j != at && set.contains(&candidate));
            if let Some(j) = needed_by {
                at = j;
                continue;
            }
            if todo.remove(&candidate) {
                out.push(candidate);
            }
            let next: Vec<usize> = self.down[candidate]
                .iter()
                .copied()
                .filter(|d| todo.contains(d) && !current.contains(d))
                .collect();
            match next.split_first() {
                None => {
                    current.remove(at);
                    below.remove(at);
                    at = at.saturating_sub(1);
                }
                Some((&first, rest)) => {
                    current[at] = first;
                    below[at] = self.ancestors(&[first]);
                    for &r in rest {
                        current.push(r);
                        below.push(self.ancestors(&[r]));
                    }
                }
            }
        }
        // Unreachable for the sets the plans build (each is closed along the
        // paths from its heads); kept so that a caller's odd set still comes
        // out whole and children-first.
        out.extend(todo.into_iter().rev());
        out
    }

    fn exact(&self, symbol: &str) -> Option<usize> {
        self.by_id
            .get(symbol)
            .or_else(|| self.by_label.get(symbol))
            .copied()
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    fn current_indices(&self, current: &[String]) -> Result<Vec<usize>, GraphError> {
        let mut out = Vec::with_capacity(current.len());
        for id in current {
            let i = self
                .index(id)
                .ok_or_else(|| GraphError::UnknownCurrent(id.clone()))?;
            push_unique(&mut out, i);
        }
        Ok(out)
    }

    fn head_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.children[i].is_empty())
            .collect()
    }

    fn real_head_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.all_children[i].is_empty())
            .collect()
    }

    fn base_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.parents[i].is_empty())
            .collect()
    }

    /// The revisions and themselves, and everything they need.
    fn ancestors(&self, revs: &[usize]) -> BTreeSet<usize> {
        self.closure(revs, &self.all_down)
    }

    /// What shares a branch with `rev`: its ancestors and descendants
    /// through parents only, as Alembic's `_shares_lineage`.
    fn lineage(&self, rev: usize) -> BTreeSet<usize> {
        let mut set = self.closure(&[rev], &self.parents);
        set.extend(self.closure(&[rev], &self.children));
        set
    }

    fn closure(&self, start: &[usize], edges: &[Vec<usize>]) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = start.to_vec();
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(&edges[i]);
            }
        }
        seen
    }

    fn ids(&self, revs: &[usize]) -> Vec<&str> {
        revs.iter().map(|&i| self.nodes[i].id.as_str()).collect()
    }

    fn owned_ids(&self, revs: &[usize]) -> Vec<String> {
        revs.iter().map(|&i| self.nodes[i].id.clone()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Up,
    Down,
}

/// `<symbol>+N` and its kin; no symbol means "from the current heads".
struct Relative<'a> {
    symbol: Option<&'a str>,
    sign: Sign,
    steps: usize,
}

/// Splits `<symbol>+N` / `<symbol>-N` / `+N` / `-N`. Ids cannot contain `+`
/// or `-`, so the last sign is the one that counts. Unlike Alembic, which
/// ignores anything after the digits, the whole identifier must match.
fn parse_relative(spec: &str) -> Result<Option<Relative<'_>>, GraphError> {
    let Some(at) = spec.rfind(['+', '-']) else {
        return Ok(None);
    };
    let digits = &spec[at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let steps: usize = digits
        .parse()
        .map_err(|_| invalid(spec, "the step count is too large"))?;
    if steps == 0 {
        return Err(invalid(spec, "a relative step count must be at least 1"));
    }
    let sign = if spec[at..].starts_with('+') {
        Sign::Up
    } else {
        Sign::Down
    };
    let symbol = &spec[..at];
    Ok(Some(Relative {
        symbol: (!symbol.is_empty()).then_some(symbol),
        sign,
        steps,
    }))
}

fn invalid(spec: &str, reason: &str) -> GraphError {
    GraphError::InvalidSpec {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check_id(id: &str) -> Result<(), GraphError> {
    let reason = if id.is_empty() {
        Some("it is empty".to_owned())
    } else if let Some(c) = id.chars().find(|c| ILLEGAL_ID_CHARS.contains(c)) {
        Some(format!(
            "`{c}` is not allowed, because identifiers use it for branches and relative steps"
        ))
    } else if id.chars().any(char::is_whitespace) {
        Some("whitespace is not allowed".to_owned())
    } else if RESERVED.contains(&id) {
        Some("`head`, `heads` and `base` are reserved".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(GraphError::InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A label may contain `-` (Alembic allows it, and exact matches are tried
/// before relative parsing), but `@` would split `label@head` in two.
fn check_label(label: &str, revision: &str) -> Result<(), GraphError> {
    let reason =
        if label.is_empty() || label.contains('@') || label.chars().any(char::is_whitespace) {
            Some(format!(
                "its branch label `{label}` is empty or contains `@` or whitespace"
            ))
        } else if RESERVED.contains(&label) {
            Some(format!("its branch label `{label}` is reserved"))
        } else {
            None
        };
    match reason {
        Some(reason) => Err(GraphError::InvalidId {
            id: revision.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn push_unique(v: &mut Vec<usize>, x: usize) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn invert(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut inverse = vec![Vec::new(); edges.len()];
    for (i, targets) in edges.iter().enumerate() {
        for &t in targets {
            inverse[t].push(i);
        }
    }
    for list in &mut inverse {
        list.sort_unstable();
    }
    inverse
}

/// Longest path from a revision with nothing below it, by Kahn's algorithm;
/// what Kahn cannot reach lies on or above a cycle, and the cycle itself is
/// what remains after also peeling off from the top.
fn depths(nodes: &[Node], down: &[Vec<usize>]) -> Result<Vec<usize>, GraphError> {
    let n = nodes.len();
    let up = invert(down);
    let mut pending: Vec<usize> = down.iter().map(Vec::len).collect();
    let mut depth = vec![0; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut done = vec![false; n];
    while let Some(i) = ready.pop() {
        done[i] = true;
        for &child in &up[i] {
            depth[child] = depth[child].max(depth[i] + 1);
            pending[child] -= 1;
            if pending[child] == 0 {
                ready.push(child);
            }
        }
    }
    if done.iter().all(|&d| d) {
        return Ok(depth);
    }
    let mut pending_up: Vec<usize> = (0..n)
        .map(|i| up[i].iter().filter(|&&c| !done[c]).count())
        .collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| !done[i] && pending_up[i] == 0).collect();
    while let Some(i) = ready.pop() {
        done[i] = true;
        for &parent in &down[i] {
            if !done[parent] {
                pending_up[parent] -= 1;
                if pending_up[parent] == 0 {
                    ready.push(parent);
                }
            }
        }
    }
    let mut cycle: Vec<String> = (0..n)
        .filter(|&i| !done[i])
        .map(|i| nodes[i].id.clone())
        .collect();
    cycle.sort();
    Err(GraphError::Cycle(cycle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parents: &[&str]) -> Node {
        Node {
            id: id.to_owned(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            message: format!("revision {id}"),
            ..Node::default()
        }
    }

    fn with_labels(mut n: Node, labels: &[&str]) -> Node {
        n.branch_labels = labels.iter().map(|l| (*l).to_owned()).collect();
        n
    }

    fn with_deps(mut n: Node, deps: &[&str]) -> Node {
        n.depends_on = deps.iter().map(|d| (*d).to_owned()).collect();
        n
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    /// base 1111aaaa <- 2222bbbb <- 3333cccc <- 4444dddd, given out of order
    /// so that nothing depends on input order.
    fn linear() -> Graph {
        Graph::new(vec![
            node("3333cccc", &["2222bbbb"]),
            node("1111aaaa", &[]),
            node("4444dddd", &["3333cccc"]),
            node("2222bbbb", &["1111aaaa"]),
        ])
        .unwrap()
    }

    /// Two bases, a branch point, a merge, a dependency across bases:
    ///
    /// ```text
    /// a1000 <- b2000 <- c3100 (label `x`) <- d4000 (merge) <- e5000
    ///               \- c3200 -----------------/
    /// f6000 (label `other`) <- f6100 (depends on c3100)
    /// ```
    fn forked() -> Graph {
        Graph::new(vec![
            node("e5000", &["d4000"]),
            node("d4000", &["c3100", "c3200"]),
            with_labels(node("c3100", &["b2000"]), &["x"]),
            node("c3200", &["b2000"]),
            node("b2000", &["a1000"]),
            node("a1000", &[]),
            with_labels(node("f6000", &[]), &["other"]),
            with_deps(node("f6100", &["f6000"]), &["x"]),
        ])
        .unwrap()
    }

    fn ids_of(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.revision.as_str()).collect()
    }

    /// Applies steps like a database would: every row the change touches
    /// must exist, and no row is inserted twice.
    fn apply_strictly(steps: &[Step], start: &[String]) -> BTreeSet<String> {
        let mut rows: BTreeSet<String> = start.iter().cloned().collect();
        for step in steps {
            let mut take = |id: &String| {
                assert!(
                    rows.remove(id),
                    "{step:?} removes missing row {id} of {rows:?}"
                )
            };
            match &step.change {
                VersionChange::Insert { .. } => {}
                VersionChange::Delete { id } => take(id),
                VersionChange::Update { from, .. } => take(from),
                VersionChange::Merge {
                    delete,
                    update_from,
                    ..
                } => {
                    delete.iter().for_each(&mut take);
                    take(update_from);
                }
                VersionChange::Unmerge { from, .. } => take(from),
            }
            let added: Vec<String> = match &step.change {
                VersionChange::Insert { id } => vec![id.clone()],
                VersionChange::Delete { .. } => vec![],
                VersionChange::Update { to, .. } | VersionChange::Merge { to, .. } => {
                    vec![to.clone()]
                }
                VersionChange::Unmerge { to, .. } => to.clone(),
            };
            for id in added {
                assert!(
                    rows.insert(id.clone()),
                    "{step:?} inserts existing row {id}"
                );
            }
        }
        rows
    }

    /// What the version table must hold when `applied` are the applied
    /// revisions: those no other applied revision builds on.
    fn expected_rows(graph: &Graph, applied: &BTreeSet<usize>) -> BTreeSet<String> {
        applied
            .iter()
            .filter(|&&i| !graph.all_children[i].iter().any(|c| applied.contains(c)))
            .map(|&i| graph.nodes[i].id.clone())
            .collect()
    }

    fn at(graph: &Graph, target: &str) -> Vec<String> {
        let steps = graph.upgrade_plan(&[], target).unwrap();
        apply_strictly(&steps, &[]).into_iter().collect()
    }

    // --- construction ---

    #[test]
    fn new_accepts_an_empty_project() {
        let graph = Graph::new(vec![]).unwrap();
        assert!(graph.is_empty());
        assert_eq!(graph.len(), 0);
        assert!(graph.heads().is_empty());
        assert!(graph.bases().is_empty());
        assert!(graph.walk_newest_first().is_empty());
        assert_eq!(graph.resolve("head", &[]).unwrap(), Vec::<String>::new());
        assert!(graph.upgrade_plan(&[], "heads").unwrap().is_empty());
    }

    #[test]
    fn new_refuses_a_duplicate_id() {
        let err = Graph::new(vec![node("aaaa", &[]), node("aaaa", &[])]).unwrap_err();
        assert_eq!(err, GraphError::DuplicateId("aaaa".into()));
        assert!(err.to_string().contains("new id"));
    }

    #[test]
    fn new_refuses_a_missing_parent() {
        let err = Graph::new(vec![node("bbbb", &["aaaa"])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::MissingParent {
                revision: "bbbb".into(),
                parent: "aaaa".into()
            }
        );
    }

    #[test]
    fn new_refuses_a_missing_dependency() {
        let err = Graph::new(vec![with_deps(node("bbbb", &[]), &["nope"])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::MissingDependency {
                revision: "bbbb".into(),
                dependency: "nope".into()
            }
        );
    }

    #[test]
    fn new_refuses_a_cycle_and_names_only_its_members() {
        let err = Graph::new(vec![
            node("aaaa", &[]),
            node("bbbb", &["aaaa", "dddd"]),
            node("cccc", &["bbbb"]),
            node("dddd", &["cccc"]),
            node("eeee", &["dddd"]),
        ])
        .unwrap_err();
        assert_eq!(err, GraphError::Cycle(strings(&["bbbb", "cccc", "dddd"])));
        assert!(err.to_string().contains("bbbb, cccc, dddd"));
    }

    #[test]
    fn new_refuses_a_cycle_through_depends_on() {
        let err = Graph::new(vec![
            with_deps(node("aaaa", &[]), &["bbbb"]),
            node("bbbb", &["aaaa"]),
        ])
        .unwrap_err();
        assert_eq!(err, GraphError::Cycle(strings(&["aaaa", "bbbb"])));
    }

    #[test]
    fn new_refuses_a_revision_that_is_its_own_parent() {
        let err = Graph::new(vec![node("aaaa", &["aaaa"])]).unwrap_err();
        assert_eq!(err, GraphError::Cycle(strings(&["aaaa"])));
    }

    #[test]
    fn new_refuses_a_branch_label_used_twice_or_equal_to_an_id() {
        let err = Graph::new(vec![
            with_labels(node("aaaa", &[]), &["x"]),
            with_labels(node("bbbb", &["aaaa"]), &["x"]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            GraphError::DuplicateBranchLabel {
                label: "x".into(),
                revision: "bbbb".into(),
                other: "aaaa".into()
            }
        );
        let err = Graph::new(vec![
            node("aaaa", &[]),
            with_labels(node("bbbb", &["aaaa"]), &["aaaa"]),
        ])
        .unwrap_err();
        assert!(matches!(err, GraphError::DuplicateBranchLabel { .. }));
    }

    #[test]
    fn new_refuses_ids_and_labels_that_identifiers_could_not_name() {
        for bad in [
            "", "ab-cd", "ab+cd", "ab@cd", "ab:cd", "a b", "head", "heads", "base",
        ] {
            let err = Graph::new(vec![node(bad, &[])]).unwrap_err();
            assert!(
                matches!(err, GraphError::InvalidId { .. }),
                "{bad:?}: {err}"
            );
        }
        for bad in ["", "a@b", "head"] {
            let err = Graph::new(vec![with_labels(node("aaaa", &[]), &[bad])]).unwrap_err();
            assert!(
                matches!(err, GraphError::InvalidId { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    // --- shape ---

    #[test]
    fn a_linear_chain_has_one_head_and_one_base() {
        let graph = linear();
        assert_eq!(graph.len(), 4);
        assert_eq!(graph.heads(), vec!["4444dddd"]);
        assert_eq!(graph.bases(), vec!["1111aaaa"]);
        assert_eq!(
            graph.get("2222bbbb").unwrap().parents,
            strings(&["1111aaaa"])
        );
        assert!(graph.get("2222").is_none());
    }

    #[test]
    fn a_forked_graph_lists_heads_and_bases_in_topological_order() {
        let graph = forked();
        // f6100 sits one above c3100 (depth 3), e5000 one above d4000
        // (depth 4), so f6100 sorts first.
        assert_eq!(graph.heads(), vec!["f6100", "e5000"]);
        assert_eq!(graph.bases(), vec!["a1000", "f6000"]);
    }

    #[test]
    fn a_revision_only_depended_on_is_still_a_head() {
        let graph = Graph::new(vec![
            node("aaaa", &[]),
            node("bbbb", &[]),
            with_deps(node("cccc", &["bbbb"]), &["aaaa"]),
        ])
        .unwrap();
        assert_eq!(graph.heads(), vec!["aaaa", "cccc"]);
        // ...but `heads` as a target names only what nothing builds on.
        assert_eq!(graph.resolve("heads", &[]).unwrap(), strings(&["cccc"]));
    }

    #[test]
    fn walk_newest_first_lists_a_chain_from_head_to_base() {
        let graph = linear();
        let ids: Vec<&str> = graph
            .walk_newest_first()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(ids, vec!["4444dddd", "3333cccc", "2222bbbb", "1111aaaa"]);
    }

    #[test]
    fn walk_newest_first_keeps_each_branch_together_and_children_before_parents() {
        let graph = forked();
        let ids: Vec<&str> = graph
            .walk_newest_first()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec![
                "f6100", "f6000", "e5000", "d4000", "c3200", "c3100", "b2000", "a1000"
            ]
        );
        let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        for n in graph.walk_newest_first() {
            for p in n.parents.iter().chain(&n.depends_on) {
                let p = graph.exact(p).map(|i| graph.nodes[i].id.as_str()).unwrap();
                assert!(pos(&n.id) < pos(p), "{} before {p}", n.id);
            }
        }
    }

    #[test]
    fn node_order_does_not_depend_on_input_order() {
        let mut nodes: Vec<Node> = forked().nodes.clone();
        nodes.reverse();
        let again = Graph::new(nodes).unwrap();
        let ids = |g: &Graph| {
            g.walk_newest_first()
                .iter()
                .map(|n| n.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&again), ids(&forked()));
    }

    // --- identifiers ---

    #[test]
    fn resolve_names_head_heads_and_base() {
        let graph = linear();
        assert_eq!(graph.resolve("head", &[]).unwrap(), strings(&["4444dddd"]));
        assert_eq!(graph.resolve("heads", &[]).unwrap(), strings(&["4444dddd"]));
        assert!(graph.resolve("base", &[]).unwrap().is_empty());
    }

    #[test]
    fn resolve_refuses_head_when_there_are_several() {
        let err = forked().resolve("head", &[]).unwrap_err();
        assert_eq!(
            err,
            GraphError::MultipleHeads {
                heads: strings(&["f6100", "e5000"]),
                spec: "head".into()
            }
        );
        assert!(
            err.to_string()
                .contains("use `heads`, `<label>@head` or `aludel merge`")
        );
        assert_eq!(
            forked().resolve("heads", &[]).unwrap(),
            strings(&["f6100", "e5000"])
        );
    }

    #[test]
    fn resolve_accepts_a_full_id_and_a_unique_prefix() {
        let graph = linear();
        assert_eq!(
            graph.resolve("2222bbbb", &[]).unwrap(),
            strings(&["2222bbbb"])
        );
        assert_eq!(graph.resolve("2222", &[]).unwrap(), strings(&["2222bbbb"]));
        assert_eq!(
            graph.resolve("2222bb", &[]).unwrap(),
            strings(&["2222bbbb"])
        );
    }

    #[test]
    fn resolve_refuses_an_ambiguous_prefix_and_lists_the_candidates() {
        let graph =
            Graph::new(vec![node("abcd0002", &[]), node("abcd0001", &["abcd0002"])]).unwrap();
        let err = graph.resolve("abcd", &[]).unwrap_err();
        assert_eq!(
            err,
            GraphError::AmbiguousPrefix {
                prefix: "abcd".into(),
                candidates: strings(&["abcd0001", "abcd0002"])
            }
        );
        assert!(err.to_string().contains("abcd0001, abcd0002"));
    }

    #[test]
    fn resolve_refuses_a_prefix_shorter_than_four_characters() {
        let err = linear().resolve("222", &[]).unwrap_err();
        assert_eq!(err, GraphError::PrefixTooShort("222".into()));
        assert!(err.to_string().contains("at least 4 characters"));
    }

    #[test]
    fn resolve_accepts_an_exact_id_shorter_than_four_characters() {
        let graph = Graph::new(vec![node("a1", &[])]).unwrap();
        assert_eq!(graph.resolve("a1", &[]).unwrap(), strings(&["a1"]));
    }

    #[test]
    fn resolve_refuses_an_unknown_revision() {
        let err = linear().resolve("9999", &[]).unwrap_err();
        assert_eq!(err, GraphError::UnknownRevision("9999".into()));
        assert!(matches!(
            linear().resolve("", &[]).unwrap_err(),
            GraphError::InvalidSpec { .. }
        ));
    }

    #[test]
    fn resolve_refuses_a_current_revision_the_project_does_not_have() {
        let err = linear().resolve("head", &strings(&["gone"])).unwrap_err();
        assert_eq!(err, GraphError::UnknownCurrent("gone".into()));
        assert!(err.to_string().contains("aludel stamp"));
    }

    #[test]
    fn plus_n_counts_up_from_the_current_revision_or_from_base() {
        let graph = linear();
        assert_eq!(graph.resolve("+1", &[]).unwrap(), strings(&["1111aaaa"]));
        assert_eq!(graph.resolve("+2", &[]).unwrap(), strings(&["2222bbbb"]));
        let cur = strings(&["2222bbbb"]);
        assert_eq!(graph.resolve("+2", &cur).unwrap(), strings(&["4444dddd"]));
    }

    #[test]
    fn minus_n_counts_down_from_the_current_revision_to_base() {
        let graph = linear();
        let cur = strings(&["3333cccc"]);
        assert_eq!(graph.resolve("-1", &cur).unwrap(), strings(&["2222bbbb"]));
        assert!(graph.resolve("-3", &cur).unwrap().is_empty());
        assert_eq!(
            graph.resolve("-4", &cur).unwrap_err(),
            GraphError::RelativeTooFar {
                spec: "-4".into(),
                steps: 4,
                walked: 3
            }
        );
        assert_eq!(
            graph.resolve("-1", &[]).unwrap_err(),
            GraphError::RelativeTooFar {
                spec: "-1".into(),
                steps: 1,
                walked: 0
            }
        );
    }

    #[test]
    fn plus_n_refuses_to_walk_past_the_head() {
        let graph = linear();
        let err = graph.resolve("+2", &strings(&["3333cccc"])).unwrap_err();
        assert_eq!(
            err,
            GraphError::RelativeTooFar {
                spec: "+2".into(),
                steps: 2,
                walked: 1
            }
        );
        assert!(matches!(
            graph.resolve("+5", &[]).unwrap_err(),
            GraphError::RelativeTooFar { walked: 4, .. }
        ));
    }

    #[test]
    fn rev_plus_n_and_rev_minus_n_count_from_that_revision() {
        let graph = linear();
        let cur = strings(&["4444dddd"]);
        assert_eq!(
            graph.resolve("2222+1", &cur).unwrap(),
            strings(&["3333cccc"])
        );
        assert_eq!(
            graph.resolve("2222bbbb+2", &[]).unwrap(),
            strings(&["4444dddd"])
        );
        assert_eq!(
            graph.resolve("3333-2", &[]).unwrap(),
            strings(&["1111aaaa"])
        );
        assert!(graph.resolve("1111-1", &[]).unwrap().is_empty());
    }

    #[test]
    fn head_minus_n_and_base_plus_n_count_from_the_ends() {
        let graph = linear();
        assert_eq!(
            graph.resolve("head-1", &[]).unwrap(),
            strings(&["3333cccc"])
        );
        assert_eq!(
            graph.resolve("head-3", &[]).unwrap(),
            strings(&["1111aaaa"])
        );
        assert_eq!(
            graph.resolve("base+1", &[]).unwrap(),
            strings(&["1111aaaa"])
        );
        assert_eq!(
            graph.resolve("base+4", &[]).unwrap(),
            strings(&["4444dddd"])
        );
        assert!(matches!(
            graph.resolve("base+5", &[]).unwrap_err(),
            GraphError::RelativeTooFar { walked: 4, .. }
        ));
        assert!(matches!(
            graph.resolve("head+1", &[]).unwrap_err(),
            GraphError::RelativeTooFar { walked: 0, .. }
        ));
    }

    #[test]
    fn relative_forms_refuse_zero_and_trailing_text() {
        let graph = linear();
        assert!(matches!(
            graph.resolve("+0", &[]).unwrap_err(),
            GraphError::InvalidSpec { .. }
        ));
        assert!(matches!(
            graph.resolve("2222-0", &[]).unwrap_err(),
            GraphError::InvalidSpec { .. }
        ));
        assert_eq!(
            graph.resolve("2222+1x", &[]).unwrap_err(),
            GraphError::UnknownRevision("2222+1x".into())
        );
    }

    #[test]
    fn relative_walks_refuse_to_choose_at_a_fork() {
        let graph = forked();
        let err = graph.resolve("b2000+1", &[]).unwrap_err();
        assert_eq!(
            err,
            GraphError::AmbiguousWalk {
                spec: "b2000+1".into(),
                at: "b2000".into(),
                choices: strings(&["c3100", "c3200"])
            }
        );
        assert!(matches!(
            graph.resolve("d4000-1", &[]).unwrap_err(),
            GraphError::AmbiguousWalk { .. }
        ));
        // Two bases: where `+1` starts from an empty database is a fork too.
        assert!(matches!(
            graph.resolve("+1", &[]).unwrap_err(),
            GraphError::AmbiguousWalk { at, .. } if at == "base"
        ));
        assert!(matches!(
            graph.resolve("head-1", &[]).unwrap_err(),
            GraphError::MultipleHeads { .. }
        ));
        assert!(
            graph
                .resolve("e5000-2", &[])
                .unwrap_err()
                .to_string()
                .contains("forks")
        );
    }

    #[test]
    fn relative_forms_refuse_several_current_heads() {
        let graph = forked();
        let cur = strings(&["c3100", "c3200"]);
        for spec in ["+1", "-1"] {
            let err = graph.resolve(spec, &cur).unwrap_err();
            assert_eq!(
                err,
                GraphError::AmbiguousRelative {
                    spec: spec.into(),
                    current: strings(&["c3100", "c3200"])
                }
            );
        }
        assert_eq!(graph.resolve("c3200+1", &cur).unwrap(), strings(&["d4000"]));
    }

    #[test]
    fn branch_labels_name_their_revision_and_their_head() {
        let graph = forked();
        assert_eq!(graph.resolve("x", &[]).unwrap(), strings(&["c3100"]));
        assert_eq!(graph.resolve("other", &[]).unwrap(), strings(&["f6000"]));
        assert_eq!(
            graph.resolve("other@head", &[]).unwrap(),
            strings(&["f6100"])
        );
        assert_eq!(graph.resolve("x@head", &[]).unwrap(), strings(&["e5000"]));
        assert_eq!(graph.resolve("x@c3100", &[]).unwrap(), strings(&["c3100"]));
        assert_eq!(graph.resolve("x-1", &[]).unwrap(), strings(&["b2000"]));
        assert_eq!(
            graph.resolve("x@c3200", &[]).unwrap_err(),
            GraphError::NotOnBranch {
                revision: "c3200".into(),
                label: "x".into()
            }
        );
        assert_eq!(
            graph.resolve("nope@head", &[]).unwrap_err(),
            GraphError::UnknownBranch("nope".into())
        );
        assert!(matches!(
            graph.resolve("x@+1", &[]).unwrap_err(),
            GraphError::InvalidSpec { .. }
        ));
    }

    #[test]
    fn a_label_with_a_dash_is_not_read_as_a_relative_step() {
        let graph = Graph::new(vec![
            node("aaaa", &[]),
            with_labels(node("bbbb", &["aaaa"]), &["release-1"]),
        ])
        .unwrap();
        assert_eq!(graph.resolve("release-1", &[]).unwrap(), strings(&["bbbb"]));
    }

    // --- upgrade plans ---

    #[test]
    fn upgrade_from_empty_database_applies_the_chain_in_order() {
        let graph = linear();
        let steps = graph.upgrade_plan(&[], "head").unwrap();
        assert_eq!(
            ids_of(&steps),
            vec!["1111aaaa", "2222bbbb", "3333cccc", "4444dddd"]
        );
        assert!(steps.iter().all(|s| s.direction == Direction::Upgrade));
        assert_eq!(
            steps[0].change,
            VersionChange::Insert {
                id: "1111aaaa".into()
            }
        );
        assert_eq!(
            steps[1].change,
            VersionChange::Update {
                from: "1111aaaa".into(),
                to: "2222bbbb".into()
            }
        );
        let mut table = Vec::new();
        for step in &steps {
            step.apply(&mut table);
        }
        assert_eq!(table, strings(&["4444dddd"]));
    }

    #[test]
    fn upgrade_from_the_middle_applies_only_what_is_missing() {
        let graph = linear();
        let cur = strings(&["2222bbbb"]);
        let steps = graph.upgrade_plan(&cur, "heads").unwrap();
        assert_eq!(ids_of(&steps), vec!["3333cccc", "4444dddd"]);
        let steps = graph.upgrade_plan(&cur, "+1").unwrap();
        assert_eq!(ids_of(&steps), vec!["3333cccc"]);
        let steps = graph.upgrade_plan(&[], "3333").unwrap();
        assert_eq!(ids_of(&steps), vec!["1111aaaa", "2222bbbb", "3333cccc"]);
    }

    #[test]
    fn upgrade_to_an_applied_revision_is_an_empty_plan() {
        let graph = linear();
        let cur = strings(&["4444dddd"]);
        assert!(graph.upgrade_plan(&cur, "head").unwrap().is_empty());
        assert!(graph.upgrade_plan(&cur, "2222bbbb").unwrap().is_empty());
        assert!(graph.upgrade_plan(&cur, "base").unwrap().is_empty());
    }

    #[test]
    fn upgrade_refuses_minus_n() {
        let err = linear()
            .upgrade_plan(&strings(&["4444dddd"]), "-1")
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::WrongDirection {
                spec: "-1".into(),
                direction: Direction::Upgrade
            }
        );
    }

    #[test]
    fn upgrade_refuses_head_with_several_heads() {
        assert!(matches!(
            forked().upgrade_plan(&[], "head").unwrap_err(),
            GraphError::MultipleHeads { .. }
        ));
    }

    #[test]
    fn upgrade_of_a_forked_graph_inserts_branches_and_merges_them() {
        let graph = forked();
        let steps = graph.upgrade_plan(&[], "heads").unwrap();
        assert_eq!(
            ids_of(&steps),
            vec![
                "a1000", "b2000", "c3100", "c3200", "d4000", "e5000", "f6000", "f6100"
            ]
        );
        let changes: Vec<&VersionChange> = steps.iter().map(|s| &s.change).collect();
        assert_eq!(
            changes,
            vec![
                &VersionChange::Insert { id: "a1000".into() },
                &VersionChange::Update {
                    from: "a1000".into(),
                    to: "b2000".into()
                },
                &VersionChange::Update {
                    from: "b2000".into(),
                    to: "c3100".into()
                },
                // b2000 has no row left: the second branch starts a row.
                &VersionChange::Insert { id: "c3200".into() },
                &VersionChange::Merge {
                    delete: strings(&["c3200"]),
                    update_from: "c3100".into(),
                    to: "d4000".into()
                },
                &VersionChange::Update {
                    from: "d4000".into(),
                    to: "e5000".into()
                },
                &VersionChange::Insert { id: "f6000".into() },
                // c3100, its dependency, has no row of its own any more.
                &VersionChange::Update {
                    from: "f6000".into(),
                    to: "f6100".into()
                },
            ]
        );
        assert_eq!(
            apply_strictly(&steps, &[]),
            ["e5000", "f6100"].map(String::from).into()
        );
    }

    #[test]
    fn a_dependency_joins_the_rows_of_two_branches_like_a_merge() {
        let graph = forked();
        let cur = strings(&["c3100", "f6000"]);
        let steps = graph.upgrade_plan(&cur, "f6100").unwrap();
        assert_eq!(
            steps[0].change,
            VersionChange::Merge {
                delete: strings(&["c3100"]),
                update_from: "f6000".into(),
                to: "f6100".into()
            }
        );
    }

    #[test]
    fn upgrade_of_a_merge_deletes_one_row_and_updates_the_other() {
        let graph = forked();
        let cur = strings(&["c3100", "c3200"]);
        let steps = graph.upgrade_plan(&cur, "d4000").unwrap();
        assert_eq!(
            steps,
            vec![Step {
                revision: "d4000".into(),
                direction: Direction::Upgrade,
                change: VersionChange::Merge {
                    delete: strings(&["c3200"]),
                    update_from: "c3100".into(),
                    to: "d4000".into()
                }
            }]
        );
    }

    #[test]
    fn upgrade_to_a_label_head_applies_that_branch_and_its_dependencies() {
        let graph = forked();
        let steps = graph.upgrade_plan(&[], "other@head").unwrap();
        assert_eq!(
            ids_of(&steps),
            vec!["a1000", "b2000", "c3100", "f6000", "f6100"]
        );
        assert_eq!(at(&graph, "other@head"), strings(&["f6100"]));
    }

    // --- downgrade plans ---

    #[test]
    fn downgrade_to_base_undoes_the_chain_newest_first() {
        let graph = linear();
        let cur = strings(&["4444dddd"]);
        let steps = graph.downgrade_plan(&cur, "base").unwrap();
        assert_eq!(
            ids_of(&steps),
            vec!["4444dddd", "3333cccc", "2222bbbb", "1111aaaa"]
        );
        assert!(steps.iter().all(|s| s.direction == Direction::Downgrade));
        assert_eq!(
            steps[0].change,
            VersionChange::Update {
                from: "4444dddd".into(),
                to: "3333cccc".into()
            }
        );
        assert_eq!(
            steps[3].change,
            VersionChange::Delete {
                id: "1111aaaa".into()
            }
        );
        let mut table = cur.clone();
        for step in &steps {
            step.apply(&mut table);
        }
        assert!(table.is_empty());
    }

    #[test]
    fn downgrade_minus_n_and_to_an_id_undo_what_is_above_the_target() {
        let graph = linear();
        let cur = strings(&["4444dddd"]);
        assert_eq!(
            ids_of(&graph.downgrade_plan(&cur, "-1").unwrap()),
            vec!["4444dddd"]
        );
        assert_eq!(
            ids_of(&graph.downgrade_plan(&cur, "-2").unwrap()),
            vec!["4444dddd", "3333cccc"]
        );
        assert_eq!(
            ids_of(&graph.downgrade_plan(&cur, "2222").unwrap()),
            vec!["4444dddd", "3333cccc"]
        );
        assert_eq!(
            ids_of(&graph.downgrade_plan(&cur, "head-3").unwrap()),
            vec!["4444dddd", "3333cccc", "2222bbbb"]
        );
        assert!(graph.downgrade_plan(&cur, "4444dddd").unwrap().is_empty());
        assert!(graph.downgrade_plan(&[], "base").unwrap().is_empty());
    }

    #[test]
    fn downgrade_refuses_a_target_that_is_not_applied() {
        let graph = linear();
        let cur = strings(&["2222bbbb"]);
        let err = graph.downgrade_plan(&cur, "3333cccc").unwrap_err();
        assert_eq!(
            err,
            GraphError::NotBelowCurrent {
                target: "3333cccc".into(),
                current: strings(&["2222bbbb"])
            }
        );
        assert!(matches!(
            graph.downgrade_plan(&[], "1111").unwrap_err(),
            GraphError::NotBelowCurrent { .. }
        ));
        assert!(err.to_string().contains("aludel current"));
    }

    #[test]
    fn downgrade_refuses_plus_n_and_walking_past_base() {
        let graph = linear();
        let cur = strings(&["2222bbbb"]);
        assert_eq!(
            graph.downgrade_plan(&cur, "+1").unwrap_err(),
            GraphError::WrongDirection {
                spec: "+1".into(),
                direction: Direction::Downgrade
            }
        );
        assert!(matches!(
            graph.downgrade_plan(&cur, "-3").unwrap_err(),
            GraphError::RelativeTooFar { walked: 2, .. }
        ));
    }

    #[test]
    fn downgrade_refuses_a_target_naming_several_revisions() {
        let graph = forked();
        let cur = strings(&["e5000", "f6100"]);
        assert!(matches!(
            graph.downgrade_plan(&cur, "heads").unwrap_err(),
            GraphError::MultipleHeads { .. }
        ));
    }

    #[test]
    fn downgrade_below_a_merge_and_a_dependency_leaves_one_row_per_branch() {
        let graph = forked();
        let cur = strings(&["e5000", "f6100"]);
        let steps = graph.downgrade_plan(&cur, "b2000").unwrap();
        assert_eq!(
            ids_of(&steps),
            vec!["f6100", "e5000", "d4000", "c3200", "c3100"]
        );
        assert_eq!(
            steps[0].change,
            // e5000 still needs c3100, so only f6000 gets a row back.
            VersionChange::Update {
                from: "f6100".into(),
                to: "f6000".into()
            }
        );
        assert_eq!(
            apply_strictly(&steps, &cur),
            ["b2000", "f6000"].map(String::from).into()
        );
    }

    #[test]
    fn downgrade_of_a_lone_merge_splits_its_row() {
        let graph = forked();
        let cur = strings(&["d4000"]);
        // d4000 has two parents: `-1` cannot choose between them.
        assert!(matches!(
            graph.downgrade_plan(&cur, "-1").unwrap_err(),
            GraphError::AmbiguousWalk { .. }
        ));
        // c3200 is no descendant of c3100, so it stays applied.
        let steps = graph.downgrade_plan(&cur, "c3100").unwrap();
        assert_eq!(
            steps,
            vec![Step {
                revision: "d4000".into(),
                direction: Direction::Downgrade,
                change: VersionChange::Unmerge {
                    from: "d4000".into(),
                    to: strings(&["c3100", "c3200"])
                }
            }]
        );
        let steps = graph.downgrade_plan(&cur, "b2000").unwrap();
        assert_eq!(ids_of(&steps), vec!["d4000", "c3100", "c3200"]);
        assert_eq!(
            apply_strictly(&steps, &cur),
            ["b2000"].map(String::from).into()
        );
    }

    /// Every pair of states in the forked graph: whatever the plan, applying
    /// it row by row must succeed and leave exactly the rows of the revisions
    /// nothing applied builds on.
    #[test]
    fn every_plan_between_any_two_states_keeps_the_version_table_exact() {
        let graph = forked();
        let mut targets: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
        targets.push("base".into());
        targets.push("heads".into());
        for start in &targets {
            let start_steps = graph.upgrade_plan(&[], start).unwrap();
            let cur: Vec<String> = apply_strictly(&start_steps, &[]).into_iter().collect();
            let cur_idx = graph.current_indices(&cur).unwrap();
            let active = graph.ancestors(&cur_idx);
            assert_eq!(
                expected_rows(&graph, &active)
                    .into_iter()
                    .collect::<Vec<_>>(),
                cur
            );
            for target in &targets {
                let tgt = graph.resolve_indices(target, &cur_idx, Mode::Any).unwrap();

                let up = graph.upgrade_plan(&cur, target).unwrap();
                let mut applied = active.clone();
                applied.extend(graph.ancestors(&tgt));
                assert_eq!(
                    apply_strictly(&up, &cur),
                    expected_rows(&graph, &applied),
                    "upgrade {start} -> {target}"
                );
                let order = ids_of(&up);
                for (k, step) in up.iter().enumerate() {
                    for p in graph.get(&step.revision).unwrap().parents.iter() {
                        if let Some(pk) = order.iter().position(|x| x == p) {
                            assert!(pk < k, "{p} after {} in {order:?}", step.revision);
                        }
                    }
                }

                match graph.downgrade_plan(&cur, target) {
                    Ok(down) => {
                        let undone: BTreeSet<String> =
                            down.iter().map(|s| s.revision.clone()).collect();
                        let remaining: BTreeSet<usize> = active
                            .iter()
                            .copied()
                            .filter(|&i| !undone.contains(&graph.nodes[i].id))
                            .collect();
                        assert_eq!(
                            apply_strictly(&down, &cur),
                            expected_rows(&graph, &remaining),
                            "downgrade {start} -> {target}"
                        );
                        for t in &tgt {
                            assert!(remaining.contains(t), "{target} itself stays");
                        }
                    }
                    Err(GraphError::MultipleHeads { .. }) => assert!(tgt.len() > 1),
                    // Either not applied, or applied only as a dependency of
                    // a head, with nothing applied on its own line above it.
                    Err(GraphError::NotBelowCurrent { .. }) => assert!(
                        tgt.iter().all(|t| {
                            !active.contains(t)
                                || graph.children[*t].iter().all(|c| !active.contains(c))
                        }),
                        "downgrade {start} -> {target}"
                    ),
                    Err(other) => panic!("downgrade {start} -> {target}: {other}"),
                }
            }
        }
    }

    // --- Step::apply ---

    #[test]
    fn apply_performs_each_version_table_change() {
        let step = |change| Step {
            revision: "r".into(),
            direction: Direction::Upgrade,
            change,
        };
        let mut table = strings(&["a", "b"]);
        step(VersionChange::Insert { id: "c".into() }).apply(&mut table);
        assert_eq!(table, strings(&["a", "b", "c"]));
        step(VersionChange::Update {
            from: "b".into(),
            to: "d".into(),
        })
        .apply(&mut table);
        assert_eq!(table, strings(&["a", "d", "c"]));
        step(VersionChange::Merge {
            delete: strings(&["a"]),
            update_from: "c".into(),
            to: "m".into(),
        })
        .apply(&mut table);
        assert_eq!(table, strings(&["d", "m"]));
        step(VersionChange::Unmerge {
            from: "m".into(),
            to: strings(&["a", "c"]),
        })
        .apply(&mut table);
        assert_eq!(table, strings(&["d", "a", "c"]));
        step(VersionChange::Delete { id: "d".into() }).apply(&mut table);
        assert_eq!(table, strings(&["a", "c"]));
    }
}
