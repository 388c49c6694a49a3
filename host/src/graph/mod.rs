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
//! current head. `Graph::heads` is Alembic's `heads` (nothing names it as a
//! parent) while the identifier `heads` is Alembic's `_real_heads` (nothing
//! builds on it at all); that is Alembic's own split, not a divergence.
//!
//! # Deliberate divergences from Alembic
//!
//! The differential test (`tests/differential/`) knows each of these that
//! `upgrade`, `downgrade` and `stamp` can reach (11 and 12 concern `history`
//! and display only). Where
//! Alembic is ambiguous, lenient or fails, this module refuses with an error
//! that names the fix, or does the evident thing:
//!
//! 1. **Partial ids**: at least 4 characters, and ids only. Alembic matches
//!    a prefix of any length (against ids of 4+ characters) and also
//!    prefixes of branch labels; a short prefix would let a typo pick a
//!    revision. `resolve_prefix` is this rule for any list of ids, so that
//!    commands naming revisions outside the graph (failed ones, the audit
//!    log's) read a partial id the same way.
//! 2. **`-N` / `<label>@-N` with several qualifying current heads** is
//!    refused (`AmbiguousRelative`). Alembic warns and counts from the first
//!    row, whose order the database does not define (and fails an assertion
//!    for `<label>@-N`). `+N` is refused by both.
//! 3. **Strict relative parsing**: the whole identifier must match, with a
//!    count of at least 1. Alembic's pattern is matched at the start only,
//!    so `ae10+2xyz` reads as `ae10+2`; `+0` is refused here.
//! 4. **Stricter ids and labels**, one rule for `revision.toml` and the
//!    graph (`check_id`, `check_label`): ids are lowercase ASCII letters,
//!    digits and `_`; labels are ASCII letters, digits, `_` and `-`; neither
//!    may be empty or a reserved word (`RESERVED`: `head`, `heads`, `base`,
//!    `current`), and a label may not read as a relative step from the
//!    current heads or a reserved word (`-1`, `head-2`), which it would
//!    hide. Alembic only refuses `@ - + :` in ids. A duplicate id is refused
//!    (Alembic warns, the last file wins), as is a missing parent or
//!    dependency (Alembic warns, then fails with a `KeyError`).
//! 5. **Redundant `depends_on` leave no row in the version table**: one
//!    that is an ancestor of another down revision (`normalize_down`).
//!    Alembic drops only a dependency that an ancestor declares too, and
//!    treats the rest as down revisions of their own: downgrading such a
//!    revision restores a row for the dependency even while another row
//!    still needs it (a row below another row). The table here keeps
//!    exactly the applied revisions that nothing applied builds on, so after
//!    such a step it has fewer rows than Alembic's. The steps and their
//!    order are Alembic's: plans walk Alembic's own normalisation
//!    (`alembic_down`).
//! 6. **An upgrade merge only touches rows that exist**: Alembic's merge may
//!    DELETE a down revision that has no row (its rowcount check then
//!    fails).
//! 7. **`<label>@<rev>` in a downgrade must be on the branch.** Alembic's
//!    downgrade drops the label of an absolute target (`rpartition("@")`,
//!    keeping it only to choose among the target's children), so
//!    `downgrade x@<rev>` goes to a revision off branch `x` without a word;
//!    refused here (`NotOnBranch`). `x@head` / `x@heads` are, as there, the
//!    `head` / `heads` of the whole project in a downgrade (refused when
//!    several: `DowngradeSeveralHeads`), and refused likewise when off the
//!    branch. A partial id after `x@` only counts candidates on the branch.
//! 8. **Relative stamp targets** are Alembic's: `-N` and `<label>@-N` walk
//!    down from every head of the project (those carrying the label), on an
//!    empty version table only (Alembic's lineage filter fails on them
//!    otherwise: `StampRelativeNotEmpty`); every other relative form is
//!    refused (`StampRelative`) as there. Divergences: a walk past `base` is
//!    refused (`RelativeTooFar`), where Alembic's `_walk` returns `None` and
//!    its stamp reads that as `base` for that head; `<rev>@-N` with a
//!    revision id is refused (`UnknownBranch`), where Alembic finds no head
//!    carrying that "label" and stamps `base`; a walk ending exactly at
//!    `base` is `base` for that head, where Alembic fails an assertion (14).
//! 9. **Stamp targets on one line** (one an ancestor of another) are refused
//!    (`OverlappingTargets`); Alembic goes on (on an empty table it writes a
//!    row for each, one below the other).
//! 10. **A stamp row moved by an earlier target of the same stamp**: where
//!     Alembic's `HeadMaintainer` would UPDATE or DELETE a row that is gone
//!     (e.g. `stamp c d` from a row above both), it fails; here the target
//!     gets its own row. Where Alembic succeeds the steps are the same.
//! 11. **History ranges** (`range`): a relative lower end (`-N`) counts from
//!     the upper end (Alembic: from the script heads); walking too far is an
//!     error (Alembic stops at the end); `:current` on an empty database is
//!     empty (Alembic lists everything).
//! 12. **Propagated branch labels** (`branch_labels`, display only) reach
//!     down from the labelled revision to the nearest branch point or merge;
//!     Alembic starts that walk from an arbitrary descendant (set order), so
//!     it may stop at a merge above the label. Resolution never uses
//!     propagated labels: `<label>@…` follows the labelled revision's
//!     lineage, as Alembic's `filter_for_lineage`.
//! 13. **Walking down from `base`** (`base-1`) is `RelativeTooFar`; Alembic
//!     walks down from the script heads instead.
//! 14. **A revision named twice in one stamp** (`stamp heads <head>`,
//!     `stamp heads heads`, `stamp head <label>@heads`, ...) is stamped once.
//!     Alembic does not deduplicate its targets: its `HeadMaintainer` writes
//!     the revision a second time and fails an assertion (`AssertionError`,
//!     or a `KeyError` when the first write moved a row), a crash rather than
//!     a refusal, after the first write (its stamp is not atomic).
//!
//! Orders that Alembic leaves to chance are fixed here: a plan walks down
//! from its heads in id order (Alembic: the order of its revision map, which
//! is file-name order; `<id>_<slug>` directories sort as their ids unless
//! one id is a prefix of another) and follows a revision's dependencies in
//! declared order (Alembic keeps them in a `set`, whose order changes from
//! one process to the next; the differential test pins it to this one).
//!
//! Not divergences, though they look like it: a downgrade target that is
//! not applied is `NotBelowCurrent` exactly where Alembic raises
//! `RangeNotAncestorError("Nothing to drop")`; an `<label>@…` downgrade to a
//! revision with several children undoes only those below the label, as
//! Alembic filters its roots; `upgrade <label>@heads` whose heads need one
//! another is refused (`OverlappingHeads`), as Alembic's overlap check.

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
        "the database is at revision `{0}`, which is not in this project; restore its directory, or reset the version table with `aludel stamp --purge <revision>`"
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
        "`{spec}` in a downgrade means the head of the whole project (as in Alembic), but there are several heads ({}); name the revision to downgrade to instead",
        list(.heads)
    )]
    DowngradeSeveralHeads { spec: String, heads: Vec<String> },
    #[error(
        "`{spec}` counts from the current revision, but several current revisions qualify ({}); name the one to count from, as `<rev>+N` or `<rev>-N`",
        list(.current)
    )]
    AmbiguousRelative { spec: String, current: Vec<String> },
    #[error(
        "`{spec}` cannot walk on from `{at}`: the history forks there into {}; name the revision you mean, or walk along one branch with `<label>@{spec}`",
        list(.choices)
    )]
    AmbiguousWalk {
        spec: String,
        at: String,
        choices: Vec<String>,
    },
    #[error(
        "`{spec}` walks {steps} step(s), but only {walked} are possible from there; `aludel history` shows how far the history goes"
    )]
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
    #[error(
        "revision `{revision}` is not on branch `{label}` (neither an ancestor nor a descendant of it); drop `{label}@` or name a revision of that branch"
    )]
    NotOnBranch { revision: String, label: String },
    #[error(
        "stamp targets `{lower}` and `{upper}` lie on one line (`{lower}` is below `{upper}`); stamp only `{upper}`"
    )]
    OverlappingTargets { lower: String, upper: String },
    #[error(
        "`{spec}` names both `{upper}` and `{lower}`, but `{upper}` needs `{lower}`; upgrade to `{upper}` alone, or to `heads`"
    )]
    OverlappingHeads {
        spec: String,
        lower: String,
        upper: String,
    },
    #[error(
        "the version table lists both `{upper}` and `{lower}`, but `{upper}` needs `{lower}`, so no upgrade can start from it (Alembic refuses it too); set the table right with `aludel stamp --purge <the revisions the database is at>`"
    )]
    OverlappingCurrent { lower: String, upper: String },
    #[error(
        "`{spec}` cannot be stamped: stamp takes no relative identifier but `-N` and `<label>@-N`; name the revision to stamp instead (`aludel history` lists them)"
    )]
    StampRelative { spec: String },
    #[error(
        "`{spec}` counts down from the heads of the project, which stamp allows only on an empty version table (current: {}); name the revision to stamp instead, or add `--purge`",
        list(.current)
    )]
    StampRelativeNotEmpty { spec: String, current: Vec<String> },
    #[error(
        "revision `{lower}` is not an ancestor of `{upper}`; a range is `older:newer`, so swap its ends"
    )]
    RangeNotAncestor { lower: String, upper: String },
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

/// What an identifier names: revisions (none for `base`) and, for the
/// `<label>@…` forms and for `-N` counted from a current head, the revision
/// whose branch it is confined to. A downgrade uses the branch to choose
/// which children of its target to undo; a stamp, which rows it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    revs: Vec<usize>,
    branch: Option<usize>,
}

/// A `<label>@` prefix: as typed, and the revision it names.
#[derive(Debug, Clone, Copy)]
struct Branch<'a> {
    label: &'a str,
    rev: usize,
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
pub const MIN_PREFIX: usize = 4;

/// The one rule for partial revision ids, for the graph's revisions and for
/// any other list of ids a command takes a prefix of (the failed revisions,
/// the audit log, which may name revisions no longer in the project), so
/// that `ae10` means the same to every command.
///
/// An exact match wins, however short. Otherwise `prefix` must have at least
/// [`MIN_PREFIX`] characters ([`GraphError::PrefixTooShort`]) and start
/// exactly one distinct candidate ([`GraphError::UnknownRevision`] when none
/// does, [`GraphError::AmbiguousPrefix`] with the sorted candidates when
/// several do). Candidates may repeat: a log lists an id once per entry.
pub fn resolve_prefix<'a>(
    prefix: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Result<&'a str, GraphError> {
    let mut matches = BTreeSet::new();
    for candidate in candidates {
        if candidate == prefix {
            return Ok(candidate);
        }
        if candidate.starts_with(prefix) {
            matches.insert(candidate);
        }
    }
    // Checked after the exact match, so that a short id such as `a1` can
    // still be named in full.
    if prefix.chars().count() < MIN_PREFIX {
        return Err(GraphError::PrefixTooShort(prefix.to_owned()));
    }
    let mut matches = matches.into_iter();
    match (matches.next(), matches.next()) {
        (None, _) => Err(GraphError::UnknownRevision(prefix.to_owned())),
        (Some(one), None) => Ok(one),
        (Some(first), Some(second)) => Err(GraphError::AmbiguousPrefix {
            prefix: prefix.to_owned(),
            candidates: [first, second]
                .into_iter()
                .chain(matches)
                .map(str::to_owned)
                .collect(),
        }),
    }
}

/// Words that are revision targets themselves: `head`, `heads` and `base`
/// in every identifier, `current` as an end of a history range. An id or a
/// label spelled like one would be hidden by it, or hide it.
pub const RESERVED: [&str; 4] = ["head", "heads", "base", "current"];

/// Why a name cannot be a revision id or a branch label. The message is the
/// reason alone, so that each caller can say where the name was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error(
        "it contains {0:?}; use only lowercase letters, digits and `_` (the default is 12 hex characters)"
    )]
    IdChar(char),
    #[error(
        "it contains {0:?}; use only letters, digits, `_` and `-` (`@`, `+` and `:` have a meaning in revision targets)"
    )]
    LabelChar(char),
    #[error(
        "`{0}` is a reserved word in revision targets ({words}); choose another name",
        words = RESERVED.join(", ")
    )]
    Reserved(String),
    #[error(
        "it is {0} characters long; the version table holds ids of at most {MAX_ID_LEN} \
         characters (the width of its `version_num` column, as Alembic's): choose a shorter id"
    )]
    TooLong(usize),
    #[error(
        "`{0}` reads as a relative step (like `head-1` or `-1`), which the label would hide; choose another label"
    )]
    RelativeLabel(String),
}

/// The longest revision id: what every column that holds one can hold (the
/// version table's `version_num` and the failed state's `revision` are
/// `VARCHAR(32)`, as in Alembic's `alembic_version`). A longer id would be
/// refused, or on MySQL without strict mode silently cut, by the database
/// only once a revision had run.
pub const MAX_ID_LEN: usize = 32;

/// The one rule for revision ids, applied when a `revision.toml` is read and
/// again by [`Graph::new`]: lowercase ASCII letters, digits and `_`, and not
/// a [`RESERVED`] word. Narrower than identifiers need (they only need ids
/// free of `@ - + :`), because an id also names its directory
/// (`<id>_<slug>`), which must be a plain name on every file system,
/// case-insensitive ones included.
pub fn check_id(id: &str) -> Result<(), NameError> {
    if id.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(NameError::IdChar(c));
    }
    // ASCII only by now: bytes are characters.
    if id.len() > MAX_ID_LEN {
        return Err(NameError::TooLong(id.len()));
    }
    if RESERVED.contains(&id) {
        return Err(NameError::Reserved(id.to_owned()));
    }
    Ok(())
}

/// The one rule for branch labels: ASCII letters, digits, `_` and `-`, not a
/// [`RESERVED`] word, and not spelled like a relative step that every
/// project has (`-1`, `head-2`). `-` is allowed, as in Alembic, because an
/// exact label is tried before relative parsing, so `release-1` names its
/// label; `@` would split `label@head` and `:` a history range.
pub fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(NameError::LabelChar(c));
    }
    if RESERVED.contains(&label) {
        return Err(NameError::Reserved(label.to_owned()));
    }
    // A label that would hide `<id>-1` is not refused here: which ids there
    // are is the graph's business, and an exact match winning is Alembic's
    // rule too.
    if let Ok(Some(relative)) = parse_relative(label)
        && relative.symbol.is_none_or(|s| RESERVED.contains(&s))
    {
        return Err(NameError::RelativeLabel(label.to_owned()));
    }
    Ok(())
}

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
    /// revision: the edges the version table follows. Stricter than
    /// Alembic's `_normalized_down_revisions` (see `normalize_down`).
    down: Vec<Vec<usize>>,
    /// Alembic's `_normalized_down_revisions` exactly: parents, then the
    /// dependencies that no ancestor through parents declares too. What the
    /// order of a plan follows, so that steps come out as Alembic's.
    alembic_down: Vec<Vec<usize>>,
    /// Branch labels covering each revision, its own and propagated.
    labels: Vec<Vec<String>>,
}

impl Graph {
    /// Builds and validates the graph. Refuses invalid or duplicate ids,
    /// missing parents and dependencies, cycles, and branch labels that are
    /// not unique.
    pub fn new(nodes: Vec<Node>) -> Result<Graph, GraphError> {
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            check_id(&node.id).map_err(|e| GraphError::InvalidId {
                id: node.id.clone(),
                reason: e.to_string(),
            })?;
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
                check_label(label).map_err(|e| GraphError::InvalidId {
                    id: node.id.clone(),
                    reason: format!("its branch label {label:?} cannot be used: {e}"),
                })?;
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
            alembic_down: Vec::new(),
            labels: Vec::new(),
        };
        graph.down = (0..n).map(|i| graph.normalize_down(i, &deps[i])).collect();
        graph.alembic_down = (0..n)
            .map(|i| graph.alembic_normalize_down(i, &deps))
            .collect();
        graph.labels = graph.propagate_labels();
        Ok(graph)
    }

    /// Alembic's `_add_branches`: a label covers every revision above its
    /// revision through parents, and the line below it down to the nearest
    /// branch point (counting dependents) or merge. Alembic walks that line
    /// down from an arbitrary descendant (set iteration order) and so may
    /// stop early at a merge above the label; this walks from the labelled
    /// revision itself.
    fn propagate_labels(&self) -> Vec<Vec<String>> {
        let mut labels: Vec<BTreeSet<String>> = vec![BTreeSet::new(); self.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if node.branch_labels.is_empty() {
                continue;
            }
            for d in self.closure(&[i], &self.children) {
                labels[d].extend(node.branch_labels.iter().cloned());
            }
            let mut at = i;
            while self.all_children[at].len() <= 1 && self.parents[at].len() <= 1 {
                labels[at].extend(node.branch_labels.iter().cloned());
                match self.parents[at].as_slice() {
                    [one] => at = *one,
                    _ => break,
                }
            }
        }
        labels
            .into_iter()
            .map(|set| set.into_iter().collect())
            .collect()
    }

    /// Alembic drops a dependency already declared by an ancestor; this also
    /// drops one that is an ancestor of another down revision. Alembic keeps
    /// such a dependency and treats it as a down revision of its own: a
    /// downgrade of the revision then restores a version row for it even
    /// while another row still needs it (a row below another row), and an
    /// upgrade may try to delete a row that is not there. Here the version
    /// table keeps exactly the applied revisions nothing applied builds on,
    /// so after such a step it has fewer rows than Alembic's (divergence 5);
    /// the steps and their order are Alembic's (`alembic_down`).
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

    /// Alembic's `_normalize_depends_on`: a dependency stays unless a
    /// revision below this one through parents declares it too. The
    /// dependencies keep their declared order (Alembic holds them in a set,
    /// whose order varies from run to run).
    fn alembic_normalize_down(&self, i: usize, deps: &[Vec<usize>]) -> Vec<usize> {
        let mut declared_below: BTreeSet<usize> = BTreeSet::new();
        for a in self.closure(&[i], &self.parents) {
            if a != i {
                declared_below.extend(deps[a].iter().copied());
            }
        }
        let mut down = self.parents[i].clone();
        for &d in &deps[i] {
            if !declared_below.contains(&d) {
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
    /// from which the relative forms without a revision (`+N`, `-N`,
    /// `<label>@+N`, `<label>@-N`) count.
    pub fn resolve(&self, spec: &str, current: &[String]) -> Result<Vec<String>, GraphError> {
        let current = self.current_indices(current)?;
        let revs = self.resolve_target(spec, &current, Mode::Any)?.revs;
        Ok(self.owned_ids(&revs))
    }

    /// Steps that apply every revision the target needs (its ancestors
    /// through parents and dependencies, and itself) that the current heads
    /// do not already have, parents first. A target at or below the current
    /// heads gives an empty plan, as in Alembic.
    pub fn upgrade_plan(&self, current: &[String], target: &str) -> Result<Vec<Step>, GraphError> {
        let cur = self.current_indices(current)?;
        // As Alembic: a version table with one row below another (a
        // dependency can leave one so) is no place to upgrade from.
        for &upper in &cur {
            let below = self.closure(&[upper], &self.alembic_down);
            if let Some(&lower) = cur.iter().find(|&&c| c != upper && below.contains(&c)) {
                return Err(GraphError::OverlappingCurrent {
                    lower: self.nodes[lower].id.clone(),
                    upper: self.nodes[upper].id.clone(),
                });
            }
        }
        let targets = self.resolve_target(target, &cur, Mode::Upgrade)?.revs;
        // As Alembic (`_get_ancestor_nodes(..., check=True)`): several
        // targets (`<label>@heads`) must not need one another.
        for &upper in &targets {
            let below = self.ancestors(&[upper]);
            if let Some(&lower) = targets.iter().find(|&&t| t != upper && below.contains(&t)) {
                return Err(GraphError::OverlappingHeads {
                    spec: target.to_owned(),
                    lower: self.nodes[lower].id.clone(),
                    upper: self.nodes[upper].id.clone(),
                });
            }
        }
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
    /// A target on a branch (`<label>@…`, or `-N` counted from a head) that
    /// has several children undoes only the children on that branch, as
    /// Alembic's `_collect_downgrade_revisions`.
    pub fn downgrade_plan(
        &self,
        current: &[String],
        target: &str,
    ) -> Result<Vec<Step>, GraphError> {
        let cur = self.current_indices(current)?;
        let resolved = self.resolve_target(target, &cur, Mode::Downgrade)?;
        let target_rev = match resolved.revs.as_slice() {
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
        let mut roots = match target_rev {
            None => self.base_indices(),
            Some(t) if !active.contains(&t) => return Err(not_below()),
            Some(t) => self.children[t].clone(),
        };
        if let Some(branch) = resolved.branch
            && roots.len() > 1
        {
            let below = self.closure(&[branch], &self.parents);
            roots.retain(|r| below.contains(r));
            if roots.is_empty() {
                return Err(not_below());
            }
        }
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

    /// The version-table changes of `aludel stamp TARGET...`: Alembic's
    /// `ScriptDirectory._stamp_revs` applied through its `HeadMaintainer`.
    /// Nothing runs: the caller applies each step's `change` and nothing
    /// else. `direction` says whether the table moves up or down; `revision`
    /// is the row the step writes (or, for a delete, removes).
    ///
    /// No targets means `base`. Each target may be any absolute identifier,
    /// or `-N` / `<label>@-N` on an empty table (see `resolve_stamp_target`);
    /// a revision named twice is stamped once. A target already in the table is
    /// left alone; one above or below the rows on its lineage moves them to
    /// it (several become one, as a merge); one on no current branch gets a
    /// new row; `base` deletes the rows on the lineage of its target (all of
    /// them for a plain `base`).
    ///
    /// With `purge`, the plan starts with one `Delete` per distinct row of
    /// `current` (whether or not the project knows that revision; a backend
    /// deletes every row holding that id), and the rest is planned from an
    /// empty table, as Alembic's `stamp --purge` empties the table first.
    pub fn stamp_plan(
        &self,
        current: &[String],
        targets: &[String],
        purge: bool,
    ) -> Result<Vec<Step>, GraphError> {
        let mut table: Vec<String> = Vec::new();
        for id in current {
            if !table.contains(id) {
                table.push(id.clone());
            }
        }
        let mut steps = Vec::new();
        if purge {
            for id in table.drain(..) {
                steps.push(Step {
                    revision: id.clone(),
                    direction: Direction::Downgrade,
                    change: VersionChange::Delete { id },
                });
            }
        }
        let heads = self.current_indices(&table)?;
        let base = ["base".to_owned()];
        let specs = if targets.is_empty() {
            &base[..]
        } else {
            targets
        };

        let mut filtered: Vec<usize> = Vec::new();
        let mut dests: Vec<usize> = Vec::new();
        for spec in specs {
            let target = self.resolve_stamp_target(spec, &heads)?;
            let share: Vec<usize> = target.revs.iter().copied().chain(target.branch).collect();
            for &h in &heads {
                let related = share.is_empty() || {
                    let mut family = self.ancestors(&[h]);
                    family.extend(self.closure(&[h], &self.all_children));
                    share.iter().any(|s| family.contains(s))
                };
                if related {
                    push_unique(&mut filtered, h);
                }
            }
            for r in target.revs {
                push_unique(&mut dests, r);
            }
        }
        // Alembic writes a row for each of two targets on one line, which
        // leaves one row below another; refused here.
        for &a in &dests {
            let below = self.ancestors(&[a]);
            if let Some(&b) = dests.iter().find(|&&b| b != a && below.contains(&b)) {
                return Err(GraphError::OverlappingTargets {
                    lower: self.nodes[b].id.clone(),
                    upper: self.nodes[a].id.clone(),
                });
            }
        }

        let stamp = |revision: String, direction, change| Step {
            revision,
            direction,
            change,
        };
        if dests.is_empty() {
            for &h in &filtered {
                let id = self.nodes[h].id.clone();
                if table.contains(&id) {
                    let step = stamp(
                        id.clone(),
                        Direction::Downgrade,
                        VersionChange::Delete { id },
                    );
                    step.apply(&mut table);
                    steps.push(step);
                }
            }
            return Ok(steps);
        }
        for d in dests {
            if filtered.contains(&d) {
                continue;
            }
            let to = self.nodes[d].id.clone();
            let above = self.closure(&[d], &self.all_children);
            let below = self.ancestors(&[d]);
            let (direction, from) = if filtered.iter().any(|h| above.contains(h)) {
                (Direction::Downgrade, filtered.as_slice())
            } else if filtered.iter().any(|h| below.contains(h)) {
                (Direction::Upgrade, filtered.as_slice())
            } else {
                (Direction::Upgrade, &[][..])
            };
            // Alembic moves every row on the lineages of all targets; rows
            // an earlier target already moved are gone, and then its
            // HeadMaintainer inserts (upgrade) or fails (downgrade): both
            // insert here.
            let present: Vec<String> = from
                .iter()
                .map(|&h| self.nodes[h].id.clone())
                .filter(|id| table.contains(id))
                .collect();
            let change = match present.split_last() {
                Some((last, rest))
                    if present.len() == from.len() || direction == Direction::Downgrade =>
                {
                    if rest.is_empty() {
                        VersionChange::Update {
                            from: last.clone(),
                            to,
                        }
                    } else {
                        VersionChange::Merge {
                            delete: rest.to_vec(),
                            update_from: last.clone(),
                            to,
                        }
                    }
                }
                _ => VersionChange::Insert { id: to },
            };
            let step = stamp(self.nodes[d].id.clone(), direction, change);
            step.apply(&mut table);
            steps.push(step);
        }
        Ok(steps)
    }

    /// What one stamp target names, as Alembic's `_stamp_revs` resolves it
    /// (`get_revisions`): any absolute identifier; of the relative ones only
    /// `-N` and `<label>@-N`, which walk down from every head of the project
    /// (those on the branch, for a label; one target per head) and which
    /// Alembic accepts only on an empty version table (its lineage filter
    /// fails on them otherwise). Counting from the current heads, as
    /// `upgrade` and `downgrade` do, would stamp another revision than
    /// Alembic's, so the rest are refused.
    fn resolve_stamp_target(&self, spec: &str, heads: &[usize]) -> Result<Target, GraphError> {
        let (label, rest) = match spec.split_once('@') {
            Some((label, rest)) => (Some(label), rest),
            None => (None, spec),
        };
        let relative = match parse_relative(rest) {
            Ok(Some(relative)) if self.exact(spec).is_none() => relative,
            // Absolute, or invalid: `resolve_target` says which.
            _ => return self.resolve_target(spec, heads, Mode::Any),
        };
        if relative.symbol.is_some() || relative.sign == Sign::Up {
            return Err(GraphError::StampRelative {
                spec: spec.to_owned(),
            });
        }
        if !heads.is_empty() {
            return Err(GraphError::StampRelativeNotEmpty {
                spec: spec.to_owned(),
                current: self.owned_ids(heads),
            });
        }
        let on_branch = match label {
            None => None,
            // Alembic keeps the heads carrying the label: a branch label
            // only, not a revision id.
            Some(label) => match self.by_label.get(label) {
                Some(&rev) => Some(self.closure(&[rev], &self.children)),
                None => return Err(GraphError::UnknownBranch(label.to_owned())),
            },
        };
        let mut revs = Vec::new();
        for head in self.real_head_indices_in_map_order() {
            if on_branch.as_ref().is_some_and(|b| !b.contains(&head)) {
                continue;
            }
            // Alembic walks past `base` into "stamp base" for that head;
            // refused here (`RelativeTooFar`), as `downgrade -N` is there.
            if let Pos::Rev(r) =
                self.walk(spec, Pos::Rev(head), Sign::Down, relative.steps, None)?
            {
                push_unique(&mut revs, r);
            }
        }
        Ok(Target { revs, branch: None })
    }

    /// The revisions `aludel history -r LOWER:UPPER` lists, newest first:
    /// Alembic's `iterate_revisions(upper, lower, inclusive=True)`. That is
    /// `lower` itself and everything above it through parents that `upper`
    /// needs. `None` means `base` for `lower` and `heads` for `upper`;
    /// `current` as either end means the database's current heads. A
    /// relative `upper` (`+N`) counts from `lower`; a relative `lower`
    /// (`-N`) counts from `upper`.
    pub fn range(
        &self,
        lower: Option<&str>,
        upper: Option<&str>,
        current: &[String],
    ) -> Result<Vec<&Node>, GraphError> {
        let cur = self.current_indices(current)?;
        let bare_relative = |spec: &str| self.exact(spec).is_none() && spec.starts_with(['+', '-']);
        let end = |spec: Option<&str>, from: &[usize], mode: Mode, default: &str| match spec
            .unwrap_or(default)
        {
            "current" => Ok(cur.clone()),
            spec => self.resolve_target(spec, from, mode).map(|t| t.revs),
        };
        let (low, up) = if lower.is_some_and(bare_relative) {
            let up = end(upper, &[], Mode::Upgrade, "heads")?;
            (end(lower, &up, Mode::Any, "base")?, up)
        } else {
            let low = end(lower, &[], Mode::Any, "base")?;
            let up = end(upper, &low, Mode::Upgrade, "heads")?;
            (low, up)
        };
        let required = self.ancestors(&up);
        if let Some(&outside) = low.iter().find(|l| !required.contains(l)) {
            return Err(GraphError::RangeNotAncestor {
                lower: self.nodes[outside].id.clone(),
                upper: upper.unwrap_or("heads").to_owned(),
            });
        }
        let mut needs: BTreeSet<usize> = required;
        if !low.is_empty() {
            let below = self.ancestors(&low);
            let above = self.closure(&low, &self.children);
            needs.retain(|r| (!below.contains(r) || low.contains(r)) && above.contains(r));
        }
        Ok(self
            .newest_first(&needs, &up)
            .into_iter()
            .map(|i| &self.nodes[i])
            .collect())
    }

    /// The revisions naming `id` as a parent (not through depends_on),
    /// oldest first. Empty for an unknown id.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.index(id)
            .map(|i| self.ids(&self.children[i]))
            .unwrap_or_default()
    }

    /// The revisions naming `id` (or one of its branch labels) in their
    /// depends_on. Empty for an unknown id.
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        self.index(id)
            .map(|i| {
                let only: Vec<usize> = self.all_children[i]
                    .iter()
                    .copied()
                    .filter(|c| !self.children[i].contains(c))
                    .collect();
                self.ids(&only)
            })
            .unwrap_or_default()
    }

    /// Revisions with more than one child through parents, as
    /// `alembic branches` lists them.
    pub fn branch_points(&self) -> Vec<&str> {
        (0..self.len())
            .filter(|&i| self.children[i].len() > 1)
            .map(|i| self.nodes[i].id.as_str())
            .collect()
    }

    /// No revision names `id` as a parent (Alembic's `is_head`).
    pub fn is_head(&self, id: &str) -> bool {
        self.index(id).is_some_and(|i| self.children[i].is_empty())
    }

    /// `id` has no parents (Alembic's `is_base`; it may have dependencies).
    pub fn is_base(&self, id: &str) -> bool {
        self.index(id).is_some_and(|i| self.parents[i].is_empty())
    }

    /// More than one revision names `id` as a parent.
    pub fn is_branch_point(&self, id: &str) -> bool {
        self.index(id).is_some_and(|i| self.children[i].len() > 1)
    }

    /// `id` has more than one parent.
    pub fn is_merge_point(&self, id: &str) -> bool {
        self.index(id).is_some_and(|i| self.parents[i].len() > 1)
    }

    /// The branch labels that cover `id`, sorted: its own (`Node::branch_labels`)
    /// and those Alembic propagates to it, from a labelled revision to every
    /// revision above it through parents and down to the nearest branch
    /// point or merge. What `heads`, `branches` and `history` display.
    pub fn branch_labels(&self, id: &str) -> Vec<&str> {
        self.index(id)
            .map(|i| self.labels[i].iter().map(String::as_str).collect())
            .unwrap_or_default()
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

    /// Resolves one identifier in the way `mode` reads it. `current` are the
    /// database's heads, from which the symbol-less relative forms count.
    fn resolve_target(
        &self,
        spec: &str,
        current: &[usize],
        mode: Mode,
    ) -> Result<Target, GraphError> {
        if spec.is_empty() {
            return Err(invalid(spec, "it is empty"));
        }
        // An exact id or label wins before any parsing, so a label such as
        // `release-2` is not mistaken for `release` minus two.
        if let Some(i) = self.exact(spec) {
            return Ok(Target {
                revs: vec![i],
                branch: None,
            });
        }
        let (branch, rest) = match spec.split_once('@') {
            Some((label, rest)) => {
                if label.is_empty() {
                    return Err(invalid(spec, "no branch label precedes `@`"));
                }
                if rest.is_empty() {
                    return Err(invalid(spec, "nothing follows `@`"));
                }
                if rest.contains('@') {
                    return Err(invalid(spec, "it contains `@` more than once"));
                }
                let rev = self.branch_rev(label, spec)?;
                (Some(Branch { label, rev }), rest)
            }
            None => (None, spec),
        };
        let Some(Relative {
            symbol,
            sign,
            steps,
        }) = parse_relative(rest).map_err(|reason| invalid(spec, reason))?
        else {
            let revs = match branch {
                Some(b) if mode == Mode::Downgrade && matches!(rest, "head" | "heads") => {
                    self.downgrade_branch_head(rest, b, spec)?
                }
                _ => self.resolve_symbol(rest, branch, spec)?,
            };
            return Ok(Target {
                revs,
                branch: branch.map(|b| b.rev),
            });
        };
        let start = match symbol {
            Some(symbol) => match self.resolve_symbol(symbol, branch, spec)?.as_slice() {
                [] => Pos::Base,
                [one] => Pos::Rev(*one),
                several => {
                    return Err(GraphError::MultipleHeads {
                        heads: self.owned_ids(several),
                        spec: spec.to_owned(),
                    });
                }
            },
            None => self.relative_start(spec, branch, current, (sign, steps), mode)?,
        };
        // Alembic keeps an upward walk on the named branch; a downward walk
        // has only one way to go or none.
        let along = match sign {
            Sign::Up => branch.map(|b| self.lineage(b.rev)),
            Sign::Down => None,
        };
        let end = self.walk(spec, start, sign, steps, along.as_ref())?;
        let branch = match (branch, symbol, start) {
            (Some(b), _, _) => Some(b.rev),
            // Alembic confines `-N` to the branch of the head it counts from.
            (None, None, Pos::Rev(head)) if sign == Sign::Down => Some(head),
            _ => None,
        };
        Ok(Target {
            revs: match end {
                Pos::Base => Vec::new(),
                Pos::Rev(i) => vec![i],
            },
            branch,
        })
    }

    /// `<label>@head` and `<label>@heads` as a downgrade reads them. Alembic's
    /// downgrade drops the label of an absolute target (keeping it only to
    /// choose among the target's children), so these are the `head` and the
    /// `heads` of the whole project, refused when there are several. A head
    /// off the branch is refused here (`NotOnBranch`, divergence 7) where
    /// Alembic would ignore the label.
    fn downgrade_branch_head(
        &self,
        symbol: &str,
        branch: Branch<'_>,
        spec: &str,
    ) -> Result<Vec<usize>, GraphError> {
        let heads = match symbol {
            "head" => self.head_indices(),
            _ => self.real_head_indices(),
        };
        match heads.as_slice() {
            [one] if !self.lineage(branch.rev).contains(one) => Err(GraphError::NotOnBranch {
                revision: self.nodes[*one].id.clone(),
                label: branch.label.to_owned(),
            }),
            [_] | [] => Ok(heads),
            several => Err(GraphError::DowngradeSeveralHeads {
                spec: spec.to_owned(),
                heads: self.owned_ids(several),
            }),
        }
    }

    /// The revision a `<label>@…` prefix names: a branch label, a revision
    /// id, or a unique partial id (as Alembic's `_resolve_branch`).
    fn branch_rev(&self, label: &str, spec: &str) -> Result<usize, GraphError> {
        if let Some(i) = self.exact(label) {
            return Ok(i);
        }
        // The symbols `resolve_symbol` reads itself, which would name a
        // revision here without being a branch. Not `RESERVED`: `current`
        // means something in history ranges only, so `current@head` still
        // takes a partial id, as it always has.
        if matches!(label, "head" | "heads" | "base") {
            return Err(GraphError::UnknownBranch(label.to_owned()));
        }
        match self.resolve_symbol(label, None, spec) {
            Ok(revs) => Ok(revs[0]),
            Err(GraphError::UnknownRevision(_) | GraphError::PrefixTooShort(_)) => {
                Err(GraphError::UnknownBranch(label.to_owned()))
            }
            Err(other) => Err(other),
        }
    }

    /// Where `+N`, `-N`, `<label>@+N` and `<label>@-N` start: the current
    /// head (on the branch, if one is named).
    fn relative_start(
        &self,
        spec: &str,
        branch: Option<Branch<'_>>,
        current: &[usize],
        (sign, steps): (Sign, usize),
        mode: Mode,
    ) -> Result<Pos, GraphError> {
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
        let too_far = || GraphError::RelativeTooFar {
            spec: spec.to_owned(),
            steps,
            walked: 0,
        };
        let from: Vec<usize> = match branch {
            None => current.to_vec(),
            Some(b) => {
                let lineage = self.lineage(b.rev);
                let on: Vec<usize> = current
                    .iter()
                    .copied()
                    .filter(|c| lineage.contains(c))
                    .collect();
                if on.is_empty() {
                    // No row is on the branch: its newest applied revision
                    // is below a merge or a dependency. Alembic looks for it
                    // among everything applied.
                    let active = self.ancestors(current);
                    let on_branch: BTreeSet<usize> =
                        active.intersection(&lineage).copied().collect();
                    on_branch
                        .iter()
                        .copied()
                        .filter(|&r| match sign {
                            Sign::Up => {
                                !on_branch.iter().any(|&o| self.alembic_down[o].contains(&r))
                            }
                            Sign::Down => !self.children[r].iter().any(|c| active.contains(c)),
                        })
                        .collect()
                } else {
                    on
                }
            }
        };
        match (from.as_slice(), sign) {
            ([], Sign::Up) => Ok(Pos::Base),
            ([], Sign::Down) => Err(too_far()),
            ([one], _) => Ok(Pos::Rev(*one)),
            // Alembic refuses `+N` here but walks `-N` from the first row
            // with a deprecation warning (and fails an assertion for
            // `<label>@-N`); all are refused.
            (several, _) => Err(GraphError::AmbiguousRelative {
                spec: spec.to_owned(),
                current: self.owned_ids(several),
            }),
        }
    }

    /// `head`, `heads`, `base`, an id, a label or a partial id, on `branch`
    /// if one is named. `spec` is the whole identifier, for error messages.
    fn resolve_symbol(
        &self,
        symbol: &str,
        branch: Option<Branch<'_>>,
        spec: &str,
    ) -> Result<Vec<usize>, GraphError> {
        let lineage = branch.map(|b| self.lineage(b.rev));
        let on_branch = |i: &usize| lineage.as_ref().is_none_or(|l| l.contains(i));
        match symbol {
            // Without a branch, heads that nothing depends on either (their
            // ancestors are every revision, and no target lies below
            // another); on a branch, Alembic filters the plain heads.
            "heads" if branch.is_none() => Ok(self.real_head_indices()),
            "heads" => Ok(self.head_indices().into_iter().filter(on_branch).collect()),
            "head" => {
                let heads: Vec<usize> = self.head_indices().into_iter().filter(on_branch).collect();
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
                let found = match self.exact(symbol) {
                    Some(i) => i,
                    None => self.resolve_prefix(symbol, &on_branch)?,
                };
                if !on_branch(&found)
                    && let Some(b) = branch
                {
                    return Err(GraphError::NotOnBranch {
                        revision: self.nodes[found].id.clone(),
                        label: b.label.to_owned(),
                    });
                }
                Ok(vec![found])
            }
        }
    }

    /// A partial id. Alembic accepts a prefix of any length (and of branch
    /// labels too); only ids, and at least four characters, are accepted
    /// here, so that `ab` cannot pick a revision by accident. On a branch,
    /// candidates off the branch do not count, as in Alembic.
    fn resolve_prefix(
        &self,
        prefix: &str,
        on_branch: &dyn Fn(&usize) -> bool,
    ) -> Result<usize, GraphError> {
        let ids = |only_on_branch: bool| {
            (0..self.len())
                .filter(move |i| !only_on_branch || on_branch(i))
                .map(|i| self.nodes[i].id.as_str())
        };
        let found = match resolve_prefix(prefix, ids(true)) {
            // A prefix matching only revisions off the branch falls through
            // to the caller's NotOnBranch.
            Err(GraphError::UnknownRevision(_)) => resolve_prefix(prefix, ids(false))?,
            other => other?,
        };
        Ok(self.by_id[found])
    }

    /// Alembic's `_walk`: up through children from `base` or a revision
    /// (only those in `along`, when a branch is named), down through parents
    /// to `base`; never through a fork.
    fn walk(
        &self,
        spec: &str,
        start: Pos,
        sign: Sign,
        steps: usize,
        along: Option<&BTreeSet<usize>>,
    ) -> Result<Pos, GraphError> {
        let mut pos = start;
        for walked in 0..steps {
            let mut next: Vec<usize> = match (sign, pos) {
                (Sign::Up, Pos::Base) => self.base_indices(),
                (Sign::Up, Pos::Rev(r)) => self.children[r].clone(),
                (Sign::Down, Pos::Base) => Vec::new(),
                (Sign::Down, Pos::Rev(r)) if self.parents[r].is_empty() => {
                    pos = Pos::Base;
                    continue;
                }
                (Sign::Down, Pos::Rev(r)) => self.parents[r].clone(),
            };
            if let Some(along) = along {
                next.retain(|n| along.contains(n));
            }
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
    /// of revisions comes out in one piece. The walk starts from the heads in
    /// id order: Alembic orders them as its revision map holds them, which is
    /// file-name order, and an aludel revision directory is `<id>_<slug>`.
    /// Below the heads it follows the down revisions in declared order.
    fn newest_first(&self, todo: &BTreeSet<usize>, heads: &[usize]) -> Vec<usize> {
        let mut todo = todo.clone();
        let mut current: Vec<usize> = heads.iter().copied().filter(|h| todo.contains(h)).collect();
        current.sort_unstable_by(|&a, &b| self.nodes[a].id.cmp(&self.nodes[b].id));
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
            let next: Vec<usize> = self.alembic_down[candidate]
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

    fn real_head_indices_in_map_order(&self) -> Vec<usize> {
        let mut heads = self.real_head_indices();
        heads.sort_unstable_by(|&a, &b| self.nodes[a].id.cmp(&self.nodes[b].id));
        heads
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

/// Splits `<symbol>+N` / `<symbol>-N` / `+N` / `-N` (after any `<label>@`).
/// Ids cannot contain `+` or `-`, so the last sign is the one that counts.
/// Unlike Alembic, which ignores anything after the digits, the whole
/// identifier must match. `Err` is the reason the identifier is invalid.
fn parse_relative(spec: &str) -> Result<Option<Relative<'_>>, &'static str> {
    let Some(at) = spec.rfind(['+', '-']) else {
        return Ok(None);
    };
    let digits = &spec[at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let steps: usize = digits.parse().map_err(|_| "the step count is too large")?;
    if steps == 0 {
        return Err("a relative step count must be at least 1");
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
mod tests;
