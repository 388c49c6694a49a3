#!/usr/bin/env python3
"""Differential test: aludel against Alembic itself.

Generates random revision DAGs (seeded), writes each one both as an Alembic
script directory and as an aludel project, and runs the same random command
sequence (upgrade / downgrade / stamp with every identifier form) on both
tools in lockstep, each on its own SQLite file. After every command it
compares, black-box, what the database shows:

  * whether the command succeeded or failed, on both sides;
  * the rows the command appended to the `steps` table, in order (every
    revision's upgrade/downgrade inserts `(rev, 'up'|'down')`);
  * the version table as a set (alembic_version vs aludel_version).

Known, deliberate divergences (aludel refuses what Alembic guesses) are listed
in KNOWN_DIVERGENCES below and in README.md; everything else that differs is a
failure. See README.md for how to run it and how to read a failure.

Run through ./scripts/test, or by hand with the virtualenv it creates:

    target/differential-venv/bin/python tests/differential/alembic_diff.py \
        --aludel target/debug/aludel [--seed S] [--count N] [--jobs J]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

sys.dont_write_bytecode = True
warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# --------------------------------------------------------------------------
# The DAG


@dataclass
class Rev:
    id: str
    parents: list[str]
    labels: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)


@dataclass
class Dag:
    revs: list[Rev]  # in creation order: parents and dependencies first

    def by_id(self) -> dict[str, Rev]:
        return {r.id: r for r in self.revs}

    def labels(self) -> dict[str, str]:
        return {l: r.id for r in self.revs for l in r.labels}

    def dep_ids(self, rev: Rev) -> list[str]:
        labels = self.labels()
        return [labels.get(d, d) for d in rev.depends_on]

    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {r.id: [] for r in self.revs}
        for r in self.revs:
            for p in r.parents:
                out[p].append(r.id)
        return out

    def ancestors(self, ids) -> set[str]:
        """The revisions and everything they need (parents and depends_on)."""
        revs = self.by_id()
        seen: set[str] = set()
        todo = list(ids)
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo.extend(revs[i].parents)
            todo.extend(self.dep_ids(revs[i]))
        return seen

    def describe(self) -> str:
        lines = []
        for r in self.revs:
            extra = ""
            if r.labels:
                extra += f" labels={r.labels}"
            if r.depends_on:
                extra += f" depends_on={r.depends_on}"
            lines.append(f"    {r.id} parents={r.parents}{extra}")
        return "\n".join(lines)


LABEL_WORDS = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta"]


def gen_dag(rng: random.Random, max_revs: int) -> Dag:
    n = rng.randint(1, max_revs)
    # A few shared 4-char prefixes make partial ids ambiguous now and then.
    prefixes = ["".join(rng.choice("0123456789abcdef") for _ in range(4)) for _ in range(3)]
    ids: list[str] = []
    while len(ids) < n:
        if rng.random() < 0.3:
            rid = rng.choice(prefixes) + "".join(rng.choice("0123456789abcdef") for _ in range(8))
        else:
            rid = "".join(rng.choice("0123456789abcdef") for _ in range(12))
        if rid not in ids:
            ids.append(rid)
    two_bases = rng.random() < 0.3
    label_pool = [w for w in LABEL_WORDS]
    rng.shuffle(label_pool)

    revs: list[Rev] = []
    children: dict[str, list[str]] = {}
    anc: dict[str, set[str]] = {}  # ancestors through parents and deps, inclusive

    def heads() -> list[str]:
        return [r.id for r in revs if not children[r.id]]

    n_bases = 0
    for rid in ids:
        labels: list[str] = []
        parents: list[str] = []
        if not revs or (two_bases and n_bases < 2 and rng.random() < 0.25):
            n_bases += 1
        else:
            hs = heads()
            roll = rng.random()
            if roll < 0.15 and len(hs) >= 2:
                # A merge of 2-3 heads that do not need one another.
                k = min(len(hs), rng.choice([2, 2, 3]))
                cands = hs[:]
                rng.shuffle(cands)
                for c in cands:
                    if len(parents) == k:
                        break
                    if all(c not in anc[p] and p not in anc[c] for p in parents):
                        parents.append(c)
                if len(parents) < 2:
                    parents = [rng.choice(hs)]
            elif roll < 0.40:
                # Branch off anywhere.
                parents = [rng.choice(revs).id]
            else:
                parents = [rng.choice(hs)]
        is_branch_root = not parents or (len(parents) == 1 and children[parents[0]])
        if is_branch_root and label_pool and rng.random() < 0.6:
            labels.append(label_pool.pop())
        # depends_on: any earlier revision (across branches too), by id or by
        # label, sometimes redundant with an ancestor.
        deps: list[str] = []
        if revs and rng.random() < 0.2:
            for _ in range(rng.choice([1, 1, 2])):
                d = rng.choice(revs)
                if d.id in parents:
                    continue
                name = d.id
                if d.labels and rng.random() < 0.4:
                    name = d.labels[0]
                if name not in deps and d.id not in [x for x in deps]:
                    deps.append(name)
        rev = Rev(rid, parents, labels, deps)
        revs.append(rev)
        children[rid] = []
        for p in parents:
            children[p].append(rid)
        lab = {l: r.id for r in revs for l in r.labels}
        a = {rid}
        for p in parents:
            a |= anc[p]
        for d in deps:
            a |= anc[lab.get(d, d)]
        anc[rid] = a
    return Dag(revs)


# --------------------------------------------------------------------------
# Writing the two projects

ENV_PY = '''\
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    # One transaction per revision, as aludel commits each revision with its
    # version-table change.
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''

SCRIPT_PY = '''\
from alembic import op

revision = {id!r}
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = {deps!r}


def upgrade():
    op.execute("INSERT INTO steps (rev, dir) VALUES ('{id}', 'up')")


def downgrade():
    op.execute("INSERT INTO steps (rev, dir) VALUES ('{id}', 'down')")
'''


def toml_list(xs) -> str:
    return "[" + ", ".join(f'"{x}"' for x in xs) + "]"


def write_projects(dag: Dag, root: str) -> tuple[str, str]:
    alembic_dir = os.path.join(root, "alembic")
    aludel_dir = os.path.join(root, "aludel")
    os.makedirs(os.path.join(alembic_dir, "versions"))
    os.makedirs(os.path.join(aludel_dir, "versions"))
    with open(os.path.join(alembic_dir, "env.py"), "w") as f:
        f.write(ENV_PY)
    with open(os.path.join(aludel_dir, "aludel.toml"), "w") as f:
        f.write('[database]\nurl = "sqlite://aludel.db"\n')
    for r in dag.revs:
        if not r.parents:
            down = None
        elif len(r.parents) == 1:
            down = r.parents[0]
        else:
            down = tuple(r.parents)
        with open(os.path.join(alembic_dir, "versions", f"{r.id}_rev.py"), "w") as f:
            f.write(
                SCRIPT_PY.format(
                    id=r.id,
                    down=down,
                    labels=tuple(r.labels) if r.labels else None,
                    deps=tuple(r.depends_on) if r.depends_on else None,
                )
            )
        d = os.path.join(aludel_dir, "versions", f"{r.id}_rev")
        os.makedirs(d)
        with open(os.path.join(d, "revision.toml"), "w") as f:
            f.write(
                f'id = "{r.id}"\nparents = {toml_list(r.parents)}\nmessage = "rev {r.id}"\n'
                f"branch_labels = {toml_list(r.labels)}\ndepends_on = {toml_list(r.depends_on)}\n"
                'plugin = "sql"\n'
            )
        with open(os.path.join(d, "upgrade.sql"), "w") as f:
            f.write(f"INSERT INTO steps (rev, dir) VALUES ('{r.id}', 'up');\n")
        with open(os.path.join(d, "downgrade.sql"), "w") as f:
            f.write(f"INSERT INTO steps (rev, dir) VALUES ('{r.id}', 'down');\n")
    for db in (os.path.join(root, "alembic.db"), os.path.join(aludel_dir, "aludel.db")):
        con = sqlite3.connect(db)
        con.execute(
            "CREATE TABLE steps (seq INTEGER PRIMARY KEY AUTOINCREMENT, rev TEXT NOT NULL, dir TEXT NOT NULL)"
        )
        con.commit()
        con.close()
    return alembic_dir, aludel_dir


# --------------------------------------------------------------------------
# Observing a database


def observe(db: str, table: str) -> tuple[int, set[str]]:
    con = sqlite3.connect(db)
    try:
        seq = con.execute("SELECT COALESCE(MAX(seq), 0) FROM steps").fetchone()[0]
        try:
            rows = {r[0] for r in con.execute(f"SELECT version_num FROM {table}")}
        except sqlite3.OperationalError:
            rows = set()
        return seq, rows
    finally:
        con.close()


def steps_since(db: str, seq: int) -> list[tuple[str, str]]:
    con = sqlite3.connect(db)
    try:
        return [
            (r, d)
            for r, d in con.execute("SELECT rev, dir FROM steps WHERE seq > ? ORDER BY seq", (seq,))
        ]
    finally:
        con.close()


# --------------------------------------------------------------------------
# Running a command on each tool


@dataclass
class Cmd:
    verb: str  # upgrade | downgrade | stamp
    targets: list[str]
    purge: bool = False

    def __str__(self) -> str:
        return " ".join([self.verb] + (["--purge"] if self.purge else []) + self.targets)


def _keep_declared_dependency_order() -> None:
    """Alembic's `_normalize_depends_on` keeps a revision's remaining
    dependencies in a `set`, so their order (which decides the step order
    where a revision has two or more) changes from one Python process to the
    next with string hashing. Patch it to keep the declared order instead:
    one of the orders Alembic can produce, the one aludel uses
    (host/src/graph/mod.rs, `alembic_normalize_down`), and the same every run.
    Nothing else of Alembic is changed."""
    from alembic.script import revision as rv

    if getattr(rv.RevisionMap, "_aludel_patched", False):
        return
    original = rv.RevisionMap._normalize_depends_on

    def normalize(self, revisions, map_):
        original(self, revisions, map_)
        for r in revisions:
            kept = set(r._normalized_resolved_dependencies)
            r._normalized_resolved_dependencies = tuple(
                d for d in dict.fromkeys(r._resolved_dependencies) if d in kept
            )

    rv.RevisionMap._normalize_depends_on = normalize
    rv.RevisionMap._aludel_patched = True


def run_alembic(alembic_dir: str, db: str, cmd: Cmd) -> tuple[bool, str]:
    from alembic import command

    _keep_declared_dependency_order()
    from alembic.config import Config

    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", alembic_dir)
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if cmd.verb == "upgrade":
                command.upgrade(cfg, cmd.targets[0])
            elif cmd.verb == "downgrade":
                command.downgrade(cfg, cmd.targets[0])
            else:
                target = cmd.targets[0] if len(cmd.targets) == 1 else list(cmd.targets)
                command.stamp(cfg, target, purge=cmd.purge)
        return True, out.getvalue().strip()
    except Exception as e:  # Alembic signals every refusal with an exception
        return False, f"{type(e).__name__}: {e}"


def run_aludel(aludel: str, aludel_dir: str, cmd: Cmd, env: dict) -> tuple[bool, str]:
    args = [aludel, "-q", cmd.verb]
    if cmd.purge:
        args.append("--purge")
    args.append("--")
    args.extend(cmd.targets)
    p = subprocess.run(args, cwd=aludel_dir, env=env, capture_output=True, text=True)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


# --------------------------------------------------------------------------
# Known divergences: aludel refuses what Alembic guesses. Each one is a
# predicate on the command and the state before it; when it holds, only
# aludel runs (so both databases stay in step) and aludel must refuse.
# README.md lists them with their reasons; keep both in sync.


def _relative_parts(spec: str):
    """Alembic's _relative_destination: [label@][symbol](+|-)N."""
    import re

    m = re.fullmatch(r"(?:(.+?)@)?(\w+)?((?:\+|-)\d+)", spec)
    return m.groups() if m else None


def div_short_prefix(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    # host/src/graph/mod.rs (resolve_absolute), docs/revisions.md "Identifiers":
    # a partial id needs at least 4 characters. Alembic matches a shorter
    # prefix against any id of 4 characters or more.
    ids = [r.id for r in dag.revs]
    labels = dag.labels()
    for t in cmd.targets:
        parts = _relative_parts(t)
        syms = [t.rpartition("@")[2]] if parts is None else [parts[1]]
        if parts is not None and parts[0]:
            syms.append(parts[0])
        for s in syms:
            if (
                s
                and len(s) < 4
                and s not in ("head", "heads", "base")
                and s not in ids
                and s not in labels
                and any(i.startswith(s) for i in ids)
            ):
                return "partial id shorter than 4 characters (aludel: PrefixTooShort)"
    return None


def div_zero_steps(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    # host/src/graph/mod.rs (parse_relative): "a relative step count must be at
    # least 1". Alembic walks zero steps (`rev+0` is `rev`).
    for t in cmd.targets:
        parts = _relative_parts(t)
        if parts and int(parts[2]) == 0:
            return "relative step count of 0 (aludel: InvalidSpec)"
    return None


def div_minus_n_several_heads(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    # host/src/graph/mod.rs (resolve_indices): "Alembic refuses `+N` here but
    # walks `-N` from the first row with a deprecation warning; both are
    # refused" (AmbiguousRelative). Alembic's own warning: "downgrade -1 from
    # multiple heads is ambiguous; this usage will be disallowed in a future
    # release."
    if cmd.verb != "downgrade" or len(rows) < 2:
        return None
    parts = _relative_parts(cmd.targets[0])
    if parts and parts[0] is None and parts[1] is None and parts[2].startswith("-"):
        return "`-N` with several current heads (aludel: AmbiguousRelative)"
    return None


_MAPS: dict = {}


def alembic_map(alembic_dir: str):
    """Alembic's own RevisionMap of the DAG, to decide divergences with
    Alembic's resolution rather than a re-implementation of it."""
    if alembic_dir not in _MAPS:
        from alembic.script import ScriptDirectory

        _keep_declared_dependency_order()
        _MAPS[alembic_dir] = ScriptDirectory(alembic_dir).revision_map
    return _MAPS[alembic_dir]


def div_stamp_minus_n_past_base(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    # host/src/graph/mod.rs, module doc, divergence 8 (`resolve_stamp_target`):
    # a stamp's `-N` / `<label>@-N` walks down from every head of the
    # project (Alembic's `get_revisions`), on an empty table only. Where a
    # walk goes past `base`, Alembic's `_walk` returns None, which
    # `_stamp_revs` then reads as `base` for that head; aludel refuses
    # (RelativeTooFar), as both refuse `downgrade -N` walking too far.
    if cmd.verb != "stamp" or (rows and not cmd.purge):
        return None
    rm = alembic_map(ctx["alembic_dir"])
    names = set(dag.by_id()) | set(dag.labels())
    past = False
    for t in cmd.targets:
        m = re.fullmatch(r"(?:([^@]+)@)?-(\d+)", t)
        if t in names or not m or int(m.group(2)) == 0:
            continue
        label, n = m.group(1), int(m.group(2))
        heads = [rm.get_revision(h) for h in rm._real_heads]
        if label:
            heads = [h for h in heads if label in h.branch_labels]
        for h in heads:
            pos = h
            for _ in range(n):
                if pos is None:
                    past = True
                    break
                downs = pos._versioned_down_revisions
                if len(downs) > 1:
                    return None  # an ambiguous walk: both refuse
                pos = rm.get_revision(downs[0]) if downs else None
    if past:
        return "stamp `-N` walking past base (Alembic: base for that head; aludel: RelativeTooFar)"
    return None


def div_downgrade_label_off_branch(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    # host/src/graph/mod.rs, module doc, divergence 7 (`downgrade_branch_head`,
    # `resolve_symbol`): Alembic's downgrade drops the label of an absolute
    # target (`target.rpartition("@")`), so `downgrade x@<rev>` (and
    # `x@head`, `x@heads`) goes to a revision off branch `x` without a word.
    # aludel refuses (NotOnBranch). Decided with Alembic's own resolver.
    if cmd.verb != "downgrade":
        return None
    t = cmd.targets[0]
    if t in dag.by_id() or t in dag.labels() or "@" not in t or _relative_parts(t):
        return None
    label, _, symbol = t.rpartition("@")
    if symbol == "base":
        return None
    rm = alembic_map(ctx["alembic_dir"])
    try:
        rev = rm.get_revision(symbol)
        branch = rm._resolve_branch(label)
    except Exception:
        return None  # Alembic refuses: compared as usual
    if rev is None or branch is None or rm._shares_lineage(rev, [branch]):
        return None
    return "downgrade `<label>@<rev>` off that branch (Alembic drops the label; aludel: NotOnBranch)"


def alembic_stamp_without_crash(ctx: dict, cmd: Cmd):
    """Alembic's stamp with its targets resolved by Alembic itself, each
    revision named once and a relative walk that ended at `base` left out,
    run on a copy of the database as it was before the command. Returns
    (ok, rows), or None when that changes nothing about the command."""
    rm = alembic_map(ctx["alembic_dir"])
    try:
        resolved = rm.get_revisions(tuple(cmd.targets))
    except Exception:
        return None
    ids: list[str] = []
    for r in resolved:
        if r is not None and r != "base" and r.revision not in ids:
            ids.append(r.revision)
    if len(ids) == len(resolved):
        return None  # no duplicate and no `base` from a walk: not this crash
    db = ctx["before_db"] + ".rerun"
    shutil.copy(ctx["before_db"], db)
    ok, _ = run_alembic(ctx["alembic_dir"], db, Cmd("stamp", ids or ["base"], cmd.purge))
    _, rows = observe(db, "alembic_version")
    os.remove(db)
    return ok, rows


def expected_rows(dag: Dag, applied: set[str]) -> set[str]:
    """The version table for a set of applied revisions: those no other
    applied revision builds on (through parents or depends_on)."""
    below: set[str] = set()
    revs = dag.by_id()
    for i in applied:
        below |= set(revs[i].parents) | set(dag.dep_ids(revs[i]))
    return {i for i in applied if i not in below}


def aludel_is_sound(dag: Dag, rows_before: set[str], b) -> bool:
    """aludel's own result agrees with the graph: each step applies an
    unapplied revision (or reverts an applied one) and the final rows are
    exactly the heads of what is applied."""
    ok_b, _, steps_b, rows_b = b
    applied = dag.ancestors(rows_before)
    for rev, d in steps_b:
        if (d == "up") == (rev in applied):
            return False
        (applied.add if d == "up" else applied.discard)(rev)
    return ok_b and rows_b == expected_rows(dag, applied)


def post_divergence(dag: Dag, rows_before: set[str], cmd: Cmd, a, b, ctx: dict) -> str | None:
    """Divergences seen only in the outcome, where Alembic is at fault."""
    ok_a, msg_a, steps_a, rows_a = a
    ok_b, msg_b, steps_b, rows_b = b
    # host/src/graph/mod.rs, module doc, divergence 14: a stamp naming one
    # revision twice (`stamp heads <head>`, `stamp --purge heads heads`,
    # `stamp <rev> <label>@heads`, ...) makes Alembic's HeadMaintainer write
    # it twice and fail `assert version not in self.heads` (or, when the
    # first write moved a row, `self.heads.remove` with a KeyError); so does a
    # `-N` that walks exactly to `base` (`get_revisions` returns the string
    # "base", which `_stamp_revs` asserts is a Revision). aludel stamps each
    # revision once and reads the walk as `base`. Checked against Alembic
    # itself: the same stamp with the revisions Alembic resolved, each once
    # and without that `base`, must succeed and leave aludel's rows.
    if cmd.verb == "stamp" and not ok_a and msg_a.split(":")[0] in ("AssertionError", "KeyError"):
        rerun = alembic_stamp_without_crash(ctx, cmd)
        if rerun is not None and rerun[0] and ok_b and not steps_b and rows_b == rerun[1]:
            return "Alembic's stamp asserted on a revision named twice (or `base` from a walk); aludel matches Alembic's stamp of each once"
    # Alembic's HeadMaintainer crashes (KeyError / AssertionError, not a
    # CommandError) when a revision's depends_on names a revision that has
    # no row of its own, or on stamps over such graphs; see the comment in
    # host/src/graph/mod.rs (upgrade_change): "Alembic also lists down revisions
    # that have no row, which would make its DELETE fail, so only present
    # rows are considered here". aludel must finish, run Alembic's steps
    # first, and leave the rows the graph implies.
    if (
        not ok_a
        and msg_a.split(":")[0] in ("KeyError", "AssertionError")
        and set(steps_a) <= set(steps_b)
        and aludel_is_sound(dag, rows_before, b)
    ):
        return "Alembic crashed in its HeadMaintainer; aludel's result checked against the graph"
    # Alembic's stamp is not atomic: a stamp that fails (an unresolvable
    # target after `--purge`, or its HeadMaintainer asserting) has already
    # changed alembic_version. aludel's stamp changes nothing when it fails.
    if (
        cmd.verb == "stamp"
        and not ok_a
        and not ok_b
        and not steps_a
        and not steps_b
        and rows_b == rows_before
        and rows_a != rows_before
    ):
        return "Alembic's failed stamp still changed its version table; aludel left it as it was"
    # aludel refuses a stamp whose targets lie on one line ("stamp targets
    # `a` and `b` lie on one line ... stamp only `b`"); Alembic silently
    # drops the lower one. A deliberate refusal with a message naming the fix.
    if cmd.verb == "stamp" and ok_a and not ok_b and "lie on one line" in msg_b and rows_b == rows_before:
        return "stamp targets on one line: aludel refuses, Alembic drops the lower one"
    # host/src/graph/mod.rs (normalize_down): a depends_on that is already an
    # ancestor of another down revision is dropped, where Alembic keeps it
    # and, downgrading past that revision, restores a row below another row.
    # aludel leaves only the real heads.
    if (
        ok_a
        and ok_b
        and sorted(steps_a) == sorted(steps_b)
        and rows_b < rows_a
        and all(x in dag.ancestors(rows_a - {x}) for x in rows_a - rows_b)
        and aludel_is_sound(dag, rows_before, b)
    ):
        return "Alembic kept a redundant dependency row; aludel keeps only real heads"
    return None


def set_rows(db: str, table: str, rows: set[str]) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (version_num VARCHAR(32) NOT NULL, "
            f"CONSTRAINT {table}_pkc PRIMARY KEY (version_num))"
        )
        con.execute(f"DELETE FROM {table}")
        con.executemany(f"INSERT INTO {table} (version_num) VALUES (?)", [(r,) for r in rows])
        con.commit()
    finally:
        con.close()


KNOWN_DIVERGENCES = [
    div_short_prefix,
    div_zero_steps,
    div_minus_n_several_heads,
    div_stamp_minus_n_past_base,
    div_downgrade_label_off_branch,
]


def known_divergence(dag: Dag, rows: set[str], cmd: Cmd, ctx: dict) -> str | None:
    for check in KNOWN_DIVERGENCES:
        reason = check(dag, rows, cmd, ctx)
        if reason:
            return reason
    return None


# --------------------------------------------------------------------------
# Random commands


def unique_prefix(rng: random.Random, rid: str, ids: list[str]) -> str:
    for k in range(4, 12):
        p = rid[:k]
        if sum(1 for i in ids if i.startswith(p)) == 1:
            return rid[: rng.randint(k, min(11, k + 3))]
    return rid


def gen_target(rng: random.Random, dag: Dag, rows: set[str], verb: str) -> str:
    ids = [r.id for r in dag.revs]
    labels = list(dag.labels())
    applied = sorted(dag.ancestors(rows))
    n = lambda: rng.choice([1, 1, 1, 2, 2, 3, 5])  # noqa: E731

    def some_rev() -> str:
        # Downgrades mostly aim at applied revisions, so they do something.
        pool = applied if (verb == "downgrade" and applied and rng.random() < 0.8) else ids
        return rng.choice(pool)

    def rev_name() -> str:
        r = some_rev()
        roll = rng.random()
        if roll < 0.55:
            return r
        if roll < 0.9:
            return unique_prefix(rng, r, ids)
        return r[: rng.randint(4, 5)]  # may be ambiguous

    forms = [
        (6, lambda: rev_name()),
        (3, lambda: "heads"),
        (3, lambda: "head"),
        (3, lambda: "base"),
        (2, lambda: rng.choice(labels) if labels else "heads"),
        (2, lambda: f"{rng.choice(labels)}@head" if labels else "head"),
        (1, lambda: f"{rng.choice(labels)}@heads" if labels else "heads"),
        (1, lambda: f"{rng.choice(labels)}@{rng.choice(ids)}" if labels else rev_name()),
        (4, lambda: f"+{n()}" if verb != "downgrade" else f"-{n()}"),
        (1, lambda: f"-{n()}" if verb != "downgrade" else f"+{n()}"),
        (3, lambda: f"{rev_name()}+{n()}"),
        (3, lambda: f"{rev_name()}-{n()}"),
        (2, lambda: f"head-{n()}"),
        (1, lambda: f"heads-{n()}"),
        (1, lambda: f"base+{n()}"),
        (2, lambda: f"{rng.choice(labels)}@+{n()}" if labels else f"+{n()}"),
        (2, lambda: f"{rng.choice(labels)}@-{n()}" if labels else f"-{n()}"),
        (1, lambda: f"{rng.choice(labels)}@head-{n()}" if labels else f"head-{n()}"),
        # Deliberate divergences, now and then.
        (0.4, lambda: rng.choice(ids)[: rng.randint(1, 3)]),
        (0.3, lambda: rng.choice(["+0", "-0", f"{rng.choice(ids)}+0", "head-0"])),
    ]
    total = sum(w for w, _ in forms)
    x = rng.random() * total
    for w, f in forms:
        x -= w
        if x <= 0:
            return f()
    return forms[0][1]()


def gen_command(rng: random.Random, dag: Dag, rows: set[str], with_stamp: bool) -> Cmd:
    roll = rng.random()
    if with_stamp and roll < 0.2:
        k = 1 if rng.random() < 0.75 else 2
        targets = [gen_target(rng, dag, rows, "stamp") for _ in range(k)]
        return Cmd("stamp", targets, purge=rng.random() < 0.3)
    verb = "upgrade" if roll < 0.6 else "downgrade"
    return Cmd(verb, [gen_target(rng, dag, rows, verb)])


# --------------------------------------------------------------------------
# One DAG


@dataclass
class Outcome:
    index: int
    passed: int = 0
    failed: int = 0
    divergences: int = 0
    log: list[str] = field(default_factory=list)
    failure_dir: str | None = None
    categories: list[str] = field(default_factory=list)


def run_dag(job) -> Outcome:
    index, seed, opts = job
    rng = random.Random(f"{seed}:{index}")
    dag = gen_dag(rng, opts["max_revs"])
    out = Outcome(index)
    root = os.path.join(opts["workdir"], f"dag{index:04d}")
    alembic_dir, aludel_dir = write_projects(dag, root)
    alembic_db = os.path.join(root, "alembic.db")
    aludel_db = os.path.join(aludel_dir, "aludel.db")
    env = dict(os.environ)
    env["ALUDEL_CACHE_DIR"] = opts["cache_dir"]
    for k in ("DATABASE_URL", "ALUDEL_CONFIG", "ALUDEL_LOG"):
        env.pop(k, None)

    history: list[str] = []
    n_cmds = rng.randint(opts["min_cmds"], opts["max_cmds"])
    for _ in range(n_cmds):
        seq_a, rows_a = observe(alembic_db, "alembic_version")
        seq_b, rows_b = observe(aludel_db, "aludel_version")
        cmd = gen_command(rng, dag, rows_a, opts["with_stamp"])
        ctx = {"alembic_dir": alembic_dir, "before_db": alembic_db + ".before"}
        reason = known_divergence(dag, rows_a, cmd, ctx)
        if reason:
            ok_b, msg_b = run_aludel(opts["aludel"], aludel_dir, cmd, env)
            _, rows_b2 = observe(aludel_db, "aludel_version")
            steps_b = steps_since(aludel_db, seq_b)
            if ok_b or steps_b or rows_b2 != rows_b:
                out.failed += 1
                out.categories.append(f"{_form(cmd)}: known divergence, but aludel did not refuse")
                out.log.append(
                    report(index, seed, dag, history, rows_a, cmd,
                           f"known divergence ({reason}) but aludel did not refuse cleanly",
                           ("(not run: known divergence)", None, None, None), (ok_b, msg_b, steps_b, rows_b2))
                )
                keep(out, opts, root, index)
                break
            out.passed += 1
            out.divergences += 1
            history.append(f"{cmd}    # known divergence: {reason}")
            continue
        if cmd.verb == "stamp":
            shutil.copy(alembic_db, ctx["before_db"])
        ok_a, msg_a = run_alembic(alembic_dir, alembic_db, cmd)
        ok_b, msg_b = run_aludel(opts["aludel"], aludel_dir, cmd, env)
        steps_a = steps_since(alembic_db, seq_a)
        steps_b = steps_since(aludel_db, seq_b)
        _, rows_a2 = observe(alembic_db, "alembic_version")
        _, rows_b2 = observe(aludel_db, "aludel_version")
        post = post_divergence(
            dag, rows_a, cmd, (ok_a, msg_a, steps_a, rows_a2), (ok_b, msg_b, steps_b, rows_b2), ctx
        )
        if post:
            # Alembic is no oracle here; aludel was checked against the
            # graph instead. Bring the Alembic database to aludel's rows so
            # the two go on in step.
            set_rows(alembic_db, "alembic_version", rows_b2)
            out.passed += 1
            out.divergences += 1
            history.append(f"{cmd}    # known divergence: {post}")
            continue
        problems = []
        if ok_a != ok_b:
            problems.append(f"alembic {'succeeded' if ok_a else 'failed'}, aludel {'succeeded' if ok_b else 'failed'}")
        if steps_a != steps_b:
            problems.append("different steps")
        if rows_a2 != rows_b2:
            problems.append("different version rows")
        if problems:
            out.failed += 1
            out.categories.append(categorize(cmd, (ok_a, msg_a, steps_a, rows_a2), (ok_b, msg_b, steps_b, rows_b2)))
            out.log.append(
                report(index, seed, dag, history, rows_a, cmd, "; ".join(problems),
                       (ok_a, msg_a, steps_a, rows_a2), (ok_b, msg_b, steps_b, rows_b2))
            )
            keep(out, opts, root, index)
            if steps_a != steps_b or rows_a2 != rows_b2:
                break  # the databases no longer agree: go on with the next DAG
        else:
            out.passed += 1
        history.append(f"{cmd}    # {'ok' if ok_a else 'refused by both'}")
    if not opts["keep"]:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _shape(text: str) -> str:
    """An error message with its ids and identifiers blanked, to group alike failures."""
    text = (text or "").strip().splitlines()[-1] if text else ""
    text = re.sub(r"[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"`[^`]*`", "`…`", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\d+", "N", text)
    return text[:150]


def _form(cmd: Cmd) -> str:
    """The identifier forms of a command, e.g. `downgrade label@-N`."""
    forms = []
    for t in cmd.targets:
        t = re.sub(r"[0-9a-f]{4,12}", "<rev>", t)
        t = re.sub(r"\d+", "N", t)
        t = re.sub(r"^(" + "|".join(LABEL_WORDS) + r")", "<label>", t)
        forms.append(t)
    return " ".join([cmd.verb] + (["--purge"] if cmd.purge else []) + forms)


def categorize(cmd: Cmd, a, b) -> str:
    ok_a, msg_a, steps_a, rows_a = a
    ok_b, msg_b, steps_b, rows_b = b
    if ok_a and ok_b and sorted(steps_a) == sorted(steps_b) and rows_a == rows_b:
        return f"{cmd.verb}: same steps in another order"
    if ok_a and not ok_b:
        return f"{_form(cmd)}: aludel refuses: {_shape(msg_b)}"
    if ok_b and not ok_a:
        return f"{_form(cmd)}: alembic refuses: {_shape(msg_a)}"
    return f"{_form(cmd)}: different outcome (alembic {'ok' if ok_a else _shape(msg_a)}; aludel {'ok' if ok_b else _shape(msg_b)})"


def keep(out: Outcome, opts, root: str, index: int) -> None:
    if out.failure_dir:
        return
    dest = os.path.join(opts["failures_dir"], f"dag{index:04d}")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root, dest)
    out.failure_dir = dest


def fmt_side(side) -> str:
    ok, msg, steps, rows = side
    if steps is None:
        return f"      {ok}"
    lines = [f"      {'ok' if ok else 'FAILED'}; steps {steps}; version rows {sorted(rows)}"]
    for line in (msg or "").splitlines()[-6:]:
        lines.append(f"        | {line}")
    return "\n".join(lines)


def report(index, seed, dag, history, rows_before, cmd, what, a, b) -> str:
    return "\n".join(
        [
            f"MISMATCH dag {index} (reproduce: --seed {seed} --count {index + 1} --only {index}): {what}",
            "  graph:",
            dag.describe(),
            "  commands before:" + ("" if history else " (none)"),
            *[f"    {h}" for h in history],
            f"  version rows before: {sorted(rows_before)}"
            f"  (minimal reproduction: stamp these, then run the command)",
            f"  command: {cmd}",
            "    alembic:",
            fmt_side(a),
            "    aludel:",
            fmt_side(b),
        ]
    )


# --------------------------------------------------------------------------


def stamp_available(aludel: str) -> bool:
    p = subprocess.run([aludel, "stamp", "--help"], capture_output=True)
    return p.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aludel", default=os.path.join(ROOT, "target", "debug", "aludel"))
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--count", type=int, default=200, help="number of DAGs")
    ap.add_argument("--only", type=int, action="append", help="run only this DAG index (repeatable)")
    ap.add_argument("--max-revs", type=int, default=30)
    ap.add_argument("--min-cmds", type=int, default=8)
    ap.add_argument("--max-cmds", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", action="store_true", help="keep every generated project")
    ap.add_argument("--failures-dir", default=os.path.join(ROOT, "target", "differential-failures"))
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"differential: seed {seed} (reproduce with --seed {seed} --count {args.count})", flush=True)
    aludel = os.path.abspath(args.aludel)
    if not os.access(aludel, os.X_OK):
        print(f"differential: no aludel binary at {aludel}; run `cargo build --bin aludel`", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="aludel-differential-")
    # A copy, so that a concurrent `cargo build` cannot swap the binary mid-run.
    snapshot = os.path.join(workdir, "aludel")
    shutil.copy2(aludel, snapshot)
    with_stamp = stamp_available(snapshot)
    if not with_stamp:
        print(
            "differential: SKIPPING stamp: `aludel stamp --help` fails, so this binary has no stamp "
            "command yet; upgrade and downgrade are still compared",
            flush=True,
        )

    import alembic
    import sqlalchemy

    print(f"differential: alembic {alembic.__version__}, sqlalchemy {sqlalchemy.__version__}", flush=True)
    shutil.rmtree(args.failures_dir, ignore_errors=True)
    os.makedirs(args.failures_dir, exist_ok=True)
    opts = {
        "aludel": snapshot,
        "max_revs": args.max_revs,
        "min_cmds": args.min_cmds,
        "max_cmds": args.max_cmds,
        "workdir": workdir,
        "cache_dir": os.path.join(workdir, "component-cache"),
        "with_stamp": with_stamp,
        "keep": args.keep,
        "failures_dir": args.failures_dir,
    }
    indices = args.only if args.only else list(range(args.count))
    jobs = [(i, seed, opts) for i in indices]
    # Compile the sql plugin into the shared cache once, before the workers race.
    run_dag((-1, seed, {**opts, "min_cmds": 1, "max_cmds": 1}))

    start = time.monotonic()
    passed = failed = divergences = 0
    failing_dags = []
    categories: dict[str, list[int]] = {}
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for out in pool.imap(run_dag, jobs):
            passed += out.passed
            failed += out.failed
            divergences += out.divergences
            for entry in out.log:
                print(entry, flush=True)
            if out.failed:
                failing_dags.append(out.index)
            for c in out.categories:
                categories.setdefault(c, []).append(out.index)
    elapsed = time.monotonic() - start
    if args.keep:
        print(f"differential: projects kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"differential: {len(indices)} DAGs, {passed + failed} comparisons "
        f"({divergences} known divergences, where aludel refused as documented) in {elapsed:.1f}s"
    )
    if categories:
        print("differential: mismatches by kind (count, kind, first DAGs):")
        for c, dags in sorted(categories.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(dags):4d}  {c}  [dags {', '.join(map(str, dags[:5]))}]")
    if failing_dags:
        print(f"differential: failing DAGs {failing_dags}; their projects are in {args.failures_dir}")
    if not with_stamp:
        print("differential: stamp was NOT compared (aludel has no stamp command yet)")
    print(f"differential: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
