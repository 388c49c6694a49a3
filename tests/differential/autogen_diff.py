#!/usr/bin/env python3
"""Differential test of autogenerate: aludel against Alembic's compare_metadata.

For every schema pair of tests/fixtures/schemas/<backend>/ (start.sql,
target.sql, optional rows.sql and flags; see tests/all/autogen.rs):

 1. The start is made in a fresh database; the target in another, and
    SQLAlchemy reflects it into a MetaData: the "models" Alembic compares.
 2. Alembic's false positives are measured, not guessed: compare_metadata
    of the target database against its own reflection. Whatever Alembic
    reports there it would report with no change at all; those entries are
    printed and left out of the next two steps.
 3. compare_metadata(start database, target metadata), with compare_type
    and compare_server_default: every operation Alembic finds, aludel's
    `check --format json` must find too (a rename given in `flags` covers
    Alembic's drop and add of the same names).
 4. aludel writes the revision (`revision --autogenerate`) and applies it;
    compare_metadata(upgraded database, target metadata) must then be
    empty.

Run by ./scripts/test, or by hand:

    target/differential-venv/bin/python tests/differential/autogen_diff.py \
        --aludel target/debug/aludel --backend sqlite [--only NAME]

The last line is `autogen differential: N passed, M failed`; the exit
status is non-zero when M > 0.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import warnings

sys.dont_write_bytecode = True
warnings.simplefilter("ignore")

import sqlalchemy as sa  # noqa: E402
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PG_ADMIN = "postgresql+pg8000://postgres@127.0.0.1:5432/test"


class Database:
    """A fresh database of the backend, its aludel URL and an engine."""

    def __init__(self, backend: str, tmp: str, name: str):
        self.backend = backend
        if backend == "sqlite":
            path = os.path.join(tmp, f"{name}.db")
            self.url = f"sqlite://{path}"
            self.engine = sa.create_engine(f"sqlite:///{path}")
            self.path = path
        else:
            self.name = f"aludel_diff_{name}_{secrets.token_hex(4)}"
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            admin.dispose()
            self.url = f"postgres://postgres@127.0.0.1:5432/{self.name}"
            self.engine = sa.create_engine(
                f"postgresql+pg8000://postgres@127.0.0.1:5432/{self.name}"
            )

    def run_script(self, sql: str) -> None:
        if not sql.strip():
            return
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path)
            con.executescript(sql)
            con.commit()
            con.close()
        else:
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                for statement in split(sql):
                    cur.execute(statement)
                raw.commit()
            finally:
                raw.close()

    def drop(self) -> None:
        self.engine.dispose()
        if self.backend != "sqlite":
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin.dispose()


def split(sql: str) -> list[str]:
    """Statements of a script without dollar quoting (the corpus has none)."""
    out, cur, quote = [], [], None
    for ch in sql:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ";":
            s = "".join(cur).strip()
            if s:
                out.append(s)
            cur = []
        else:
            cur.append(ch)
    s = "".join(cur).strip()
    if s:
        out.append(s)
    return out


def include_name(name, type_, parent_names):
    # aludel's own tables are never compared.
    return not (type_ == "table" and name and name.startswith("aludel_"))


def alembic_diffs(engine, metadata) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": include_name,
            },
        )
        diffs = compare_metadata(ctx, metadata)
    flat = []
    for d in diffs:
        if isinstance(d, list):
            flat.extend(d)
        else:
            flat.append(d)
    return flat


def key(diff) -> tuple:
    """An Alembic diff as (kind, table, name): what aludel must also find."""
    op = diff[0]
    if op in ("add_table", "remove_table"):
        return ("table", diff[1].name, "")
    if op in ("add_column", "remove_column"):
        return ("column", diff[2], diff[3].name)
    if op.startswith("modify_"):
        return ("column", diff[2], diff[3])
    if op in ("add_index", "remove_index"):
        return ("index", diff[1].table.name, diff[1].name or "")
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return ("constraint", diff[1].table.name, "")
    if op in ("add_table_comment", "remove_table_comment"):
        return ("table_comment", diff[1].name, "")
    return (op, "", "")


def shown(value) -> str:
    """A compared value as text: a server default by its SQL, not its id."""
    value = getattr(value, "arg", value)
    text = getattr(value, "text", None)
    return repr(text) if isinstance(text, str) else repr(value)


def describe(diff) -> str:
    op = diff[0]
    if op in ("add_table", "remove_table"):
        return f"{op} {diff[1].name}"
    if op in ("add_column", "remove_column"):
        return f"{op} {diff[2]}.{diff[3].name}"
    if op.startswith("modify_"):
        return f"{op} {diff[2]}.{diff[3]}: {shown(diff[-2])} -> {shown(diff[-1])}"
    if op in ("add_index", "remove_index"):
        return f"{op} {diff[1].name}"
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return f"{op} on {diff[1].table.name}"
    return str(diff)


def aludel_keys(changes: list) -> set:
    """What aludel's changes cover, in the terms of key()."""
    out = set()
    for c in changes:
        d = c["detail"]
        op = d["op"]
        if op in ("create_table", "drop_table"):
            out.add(("table", d["table"]["name"], ""))
        elif op == "rename_table":
            out.add(("table", d["from"], ""))
            out.add(("table", d["to"], ""))
        elif op in ("add_column", "drop_column"):
            out.add(("column", d["table"], d["column"]["name"]))
        elif op == "alter_column":
            out.add(("column", d["table"], d["to"]["name"]))
        elif op == "rename_column":
            out.add(("column", d["table"], d["from"]))
            out.add(("column", d["table"], d["to"]))
        elif op in ("add_index", "drop_index"):
            out.add(("index", d["table"], d["index"]["name"]))
        elif op in ("add_constraint", "drop_constraint"):
            out.add(("constraint", d["table"], ""))
            # A unique index Alembic reports as an index.
            name = d["constraint"].get("name")
            if name:
                out.add(("index", d["table"], name))
        elif op == "table_comment":
            out.add(("table_comment", d["table"], ""))
    return out


def aludel(args: list[str], cwd: str, binary: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["ALUDEL_CACHE_DIR"] = os.path.join(cwd, ".cache")
    return subprocess.run(
        [binary, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def run_pair(pair: str, backend: str, binary: str) -> list[str]:
    """The failures of one pair (empty when it passes)."""
    read = lambda f: (  # noqa: E731
        open(os.path.join(pair, f)).read() if os.path.exists(os.path.join(pair, f)) else ""
    )
    start_sql, target_sql, rows_sql = read("start.sql"), read("target.sql"), read("rows.sql")
    flags = [line.strip() for line in read("flags").splitlines() if line.strip()]
    failures = []
    with tempfile.TemporaryDirectory(prefix="aludel-autogen-diff-") as tmp:
        start = Database(backend, tmp, "start")
        target = Database(backend, tmp, "target")
        try:
            start.run_script(start_sql)
            start.run_script(rows_sql)
            target.run_script(target_sql)
            metadata = sa.MetaData()
            metadata.reflect(target.engine)

            false_positives = {describe(d) for d in alembic_diffs(target.engine, metadata)}
            for fp in sorted(false_positives):
                print(f"  alembic false positive (target against itself): {fp}")

            project = os.path.join(tmp, "project")
            os.makedirs(project)
            r = aludel(["init", "."], project, binary)
            assert r.returncode == 0, r.stderr
            with open(os.path.join(project, "aludel.toml")) as f:
                config = f.read()
            config = config.replace('url = "sqlite://aludel.db"', f'url = "{start.url}"')
            config += '\n[models]\nsql = ["models.sql"]\n'
            with open(os.path.join(project, "aludel.toml"), "w") as f:
                f.write(config)
            with open(os.path.join(project, "models.sql"), "w") as f:
                f.write(target_sql)

            try:
                found = [d for d in alembic_diffs(start.engine, metadata) if describe(d) not in false_positives]
            except sa.exc.DBAPIError as e:
                # Alembic's PostgreSQL default comparison runs
                # `SELECT <db default> = <model default>`, which fails when
                # the column's type changes (text = integer): Alembic cannot
                # compare this pair, so there is nothing to hold aludel to.
                print(f"  Alembic cannot compare the start (its own error): {str(e.orig).splitlines()[0][:160]}")
                found = []
            r = aludel(["check", "--format", "json"], project, binary)
            if r.returncode not in (0, 1):
                return [f"aludel check could not compare: {r.stderr.strip()}"]
            changes = json.loads(r.stdout)["changes"]
            print(f"  Alembic finds {len(found)} operation(s), aludel {len(changes)} change(s)")
            covered = aludel_keys(changes)
            renamed_tables = {
                c["detail"]["from"]: c["detail"]["to"]
                for c in changes
                if c["detail"]["op"] == "rename_table"
            }
            for d in found:
                k = key(d)
                if k in covered:
                    continue
                # Whatever is in a table aludel creates, drops or renames
                # is covered by that.
                if ("table", k[1], "") in covered or k[1] in renamed_tables.values():
                    continue
                failures.append(f"Alembic finds `{describe(d)}`, aludel does not")

            r = aludel(["revision", "--autogenerate", "-m", "differential", *flags], project, binary)
            if r.returncode != 0:
                return failures + [f"aludel revision --autogenerate failed: {r.stderr.strip()}"]
            r = aludel(["upgrade", "head"], project, binary)
            if r.returncode != 0:
                return failures + [f"aludel upgrade head failed: {r.stderr.strip()}"]
            start.engine.dispose()
            left = [d for d in alembic_diffs(start.engine, metadata) if describe(d) not in false_positives]
            for d in left:
                failures.append(f"after aludel's revision, Alembic still finds `{describe(d)}`")
        finally:
            start.drop()
            target.drop()
    return failures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--aludel", required=True)
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--only", action="append", default=[])
    args = p.parse_args()
    binary = os.path.abspath(args.aludel)
    corpus = os.path.join(ROOT, "tests", "fixtures", "schemas", args.backend)
    pairs = sorted(
        d for d in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, d, "target.sql"))
    )
    if args.only:
        pairs = [d for d in pairs if d in args.only]
    passed = failed = 0
    for name in pairs:
        print(f"{args.backend} {name}")
        failures = run_pair(os.path.join(corpus, name), args.backend, binary)
        if failures:
            failed += 1
            for f in failures:
                print(f"  FAIL {f}")
        else:
            passed += 1
    print(f"autogen differential ({args.backend}): {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
