"""aludel import alembic: the Python side, run with a Python that has Alembic.

Embedded in the aludel binary and written to a temporary file for each
import. It reads one JSON request on stdin and writes one JSON answer on
stdout; progress and Alembic's own output go to stderr.

Requests:
  {"mode": "list", "alembic_dir": PATH|null}
      every revision of the Alembic script directory, parents first.
  {"mode": "render", "alembic_dir": ..., "dialect": "sqlite"|"postgresql"|"mysql",
   "server_url": SQLALCHEMY_URL|null, "scratch_dir": PATH}
      the same, and for each revision the statements its upgrade() and its
      downgrade() send to a scratch database brought to its parents by
      Alembic itself, or why they cannot be frozen into SQL.

The rules (docs/from-alembic.md): a statement that returns rows is left out
of the SQL; it is schema reflection, fine to freeze because the scratch
database has the schema production has at that revision, when SQLAlchemy's
reflection code issued it or it reads only the catalogue; any other is a
read of data, and the direction is reported as needing porting.
"""

import datetime
import decimal
import json
import os
import re
import sys
import traceback
import uuid

sys.dont_write_bytecode = True


def log(message):
    print(f"aludel import: {message}", file=sys.stderr, flush=True)


try:
    from alembic.config import Config
    from alembic.operations import Operations
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import NullPool
except ImportError as e:  # pragma: no cover - the caller checks first
    print(json.dumps({"error": f"this Python cannot import Alembic: {e}"}))
    sys.exit(0)

# The version table of the scratch databases: a name no project uses, so
# that its statements can never be mistaken for the revision's.
SCRATCH_VERSION_TABLE = "aludel_import_alembic_version"


class ImportFailure(Exception):
    pass


# --------------------------------------------------------------------------
# The script directory


def load_config(alembic_dir):
    """Alembic's Config for ALEMBIC_DIR: a directory holding alembic.ini, an
    ini file, or the script directory itself; by default ./alembic.ini,
    else ./alembic. Relative paths in the ini are Alembic's, relative to the
    directory it is run from: we run from the ini's directory."""
    if alembic_dir is None:
        if os.path.isfile("alembic.ini"):
            alembic_dir = "alembic.ini"
        elif os.path.isdir("alembic"):
            alembic_dir = "alembic"
        else:
            raise ImportFailure(
                "no alembic.ini and no alembic/ directory here: name the Alembic project, "
                "`aludel import alembic PATH` (a directory holding alembic.ini, or the script "
                "directory itself)"
            )
    path = os.path.abspath(alembic_dir)
    ini = None
    if os.path.isfile(path):
        ini = path
    elif os.path.isfile(os.path.join(path, "alembic.ini")):
        ini = os.path.join(path, "alembic.ini")
    elif os.path.isdir(path):
        if not os.path.isdir(os.path.join(path, "versions")) and not os.path.isfile(
            os.path.join(path, "env.py")
        ):
            raise ImportFailure(
                f"{alembic_dir} holds neither alembic.ini nor an Alembic script directory "
                "(env.py, versions/)"
            )
    else:
        raise ImportFailure(f"{alembic_dir} does not exist")
    if ini is not None:
        os.chdir(os.path.dirname(ini))
        cfg = Config(ini)
        if not cfg.get_main_option("script_location"):
            raise ImportFailure(f"{ini} has no script_location in its [alembic] section")
    else:
        cfg = Config()
        cfg.set_main_option("script_location", path)
    return cfg


CREATE_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.M)


def created(script):
    """The script's `Create Date:` as RFC 3339 in UTC; a date without a
    zone is taken as UTC (Alembic writes local time unless `timezone` is
    set, and which zone that was is not recorded)."""
    match = CREATE_DATE.search(script.longdoc or "")
    if not match:
        return None
    raw = match.group(1)
    try:
        when = datetime.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_tuple(value):
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def listing(script):
    revisions = {}
    for rev in script.walk_revisions():
        doc = (rev.doc or "").strip()
        message = doc.splitlines()[0].strip() if doc else ""
        revisions[rev.revision] = {
            "id": rev.revision,
            "parents": list(as_tuple(rev.down_revision)),
            "branch_labels": sorted(rev._orig_branch_labels or ()),
            "depends_on": list(rev._resolved_dependencies or ()),
            "message": message or rev.revision,
            "created": created(rev),
            "path": os.path.abspath(rev.path),
        }
    # Parents and dependencies first, ties by id: the same order every run.
    order, done = [], set()
    pending = sorted(revisions)
    while pending:
        progressed = False
        for rid in list(pending):
            entry = revisions[rid]
            if all(p in done for p in entry["parents"] + entry["depends_on"]):
                order.append(entry)
                done.add(rid)
                pending.remove(rid)
                progressed = True
        if not progressed:
            raise ImportFailure(f"the revision graph has a cycle through {', '.join(pending)}")
    return order


# --------------------------------------------------------------------------
# Recording what a revision sends


CATALOGS = {
    "sqlite": re.compile(r"^(main\.|temp\.)?\"?(sqlite_master|sqlite_schema|sqlite_temp_master|sqlite_temp_schema)\"?$", re.I),
    "postgresql": re.compile(r"^\"?(pg_catalog|information_schema)\"?\.|^\"?pg_[a-z_]+\"?$", re.I),
    "mysql": re.compile(r"^`?information_schema`?\.", re.I),
}
FROM_NAMES = re.compile(r"\b(?:FROM|JOIN)\s+([^\s,()]+)", re.I)


def reads_only_catalog(dialect, statement):
    stripped = statement.lstrip().upper()
    if dialect == "sqlite" and stripped.startswith("PRAGMA"):
        return True
    if dialect == "mysql" and stripped.startswith("SHOW"):
        return True
    names = FROM_NAMES.findall(statement)
    return bool(names) and all(CATALOGS[dialect].search(n) for n in names)


def issued_by_reflection():
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename.replace("\\", "/")
        if "/sqlalchemy/engine/reflection.py" in name or "/sqlalchemy/dialects/" in name:
            return True
        frame = frame.f_back
    return False


class CannotInline(Exception):
    pass


def literal(dialect, value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if dialect == "postgresql":
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CannotInline(f"the float {value!r} has no SQL literal")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise CannotInline(f"the decimal {value} has no SQL literal")
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value).hex()
        if dialect == "postgresql":
            return f"'\\x{data}'::bytea"
        return f"X'{data}'"
    if isinstance(value, datetime.datetime):
        return quote_text(dialect, value.isoformat(sep=" "))
    if isinstance(value, (datetime.date, datetime.time)):
        return quote_text(dialect, value.isoformat())
    if isinstance(value, uuid.UUID):
        return quote_text(dialect, str(value))
    if isinstance(value, str):
        return quote_text(dialect, value)
    raise CannotInline(f"a parameter of type {type(value).__name__} ({value!r:.80}) has no SQL literal aludel trusts")


def quote_text(dialect, value):
    if "\x00" in value:
        raise CannotInline("a text parameter holds a NUL character")
    escaped = value.replace("'", "''")
    if dialect == "mysql":
        # MySQL reads backslash escapes in string literals by default.
        escaped = escaped.replace("\\", "\\\\")
    return f"'{escaped}'"


def inline(dialect, paramstyle, statement, params):
    """`statement` as the driver would receive it with `params` bound, the
    placeholders replaced by literals. Quoted strings, quoted names and
    comments are copied as they are."""
    out = []
    i, n = 0, len(statement)
    position = 0
    percent = paramstyle in ("format", "pyformat")
    has_params = params is not None and len(params) > 0

    def take_positional():
        nonlocal position
        if isinstance(params, dict) or params is None or position >= len(params):
            raise CannotInline(f"statement has more placeholders than parameters: {statement}")
        value = params[position]
        position += 1
        return literal(dialect, value)

    while i < n:
        c = statement[i]
        if c in "'\"`":
            j = i + 1
            while j < n:
                if statement[j] == c:
                    if j + 1 < n and statement[j + 1] == c:
                        j += 2
                        continue
                    break
                if statement[j] == "\\" and dialect == "mysql" and c != "`":
                    j += 2
                    continue
                j += 1
            chunk = statement[i : j + 1]
            if percent:
                chunk = chunk.replace("%%", "%")
            out.append(chunk)
            i = j + 1
            continue
        if statement.startswith("--", i):
            j = statement.find("\n", i)
            j = n if j < 0 else j
            out.append(statement[i:j])
            i = j
            continue
        if statement.startswith("/*", i):
            j = statement.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(statement[i:j])
            i = j
            continue
        if percent and c == "%":
            if statement.startswith("%%", i):
                out.append("%")
                i += 2
                continue
            if statement.startswith("%s", i) and has_params:
                out.append(take_positional())
                i += 2
                continue
            m = re.match(r"%\(([^)]+)\)s", statement[i:])
            if m and has_params:
                if not isinstance(params, dict) or m.group(1) not in params:
                    raise CannotInline(f"no parameter {m.group(1)} for {statement}")
                out.append(literal(dialect, params[m.group(1)]))
                i += m.end()
                continue
        if paramstyle == "qmark" and c == "?" and has_params:
            out.append(take_positional())
            i += 1
            continue
        if paramstyle in ("named", "numeric") and c == ":" and has_params:
            m = re.match(r":([A-Za-z_][A-Za-z0-9_]*|[0-9]+)", statement[i:])
            if m and not statement.startswith("::", i) and (i == 0 or statement[i - 1] != ":"):
                key = m.group(1)
                if isinstance(params, dict):
                    if key not in params:
                        raise CannotInline(f"no parameter {key} for {statement}")
                    out.append(literal(dialect, params[key]))
                else:
                    out.append(literal(dialect, params[int(key) - 1]))
                i += m.end()
                continue
        out.append(c)
        i += 1
    if not isinstance(params, dict) and has_params and position != len(params):
        raise CannotInline(f"statement has fewer placeholders than parameters: {statement}")
    return "".join(out).strip()


class Recorder:
    def __init__(self, dialect, paramstyle):
        self.dialect = dialect
        self.paramstyle = paramstyle
        self.active = False
        self.reset()

    def reset(self):
        self.statements = []
        self.reads = []
        self.problem = None
        self._pending = None

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if not self.active:
            return
        reflection = issued_by_reflection()
        rendered = []
        try:
            sets = parameters if executemany else [parameters]
            for params in sets:
                rendered.append(inline(self.dialect, self.paramstyle, statement, params))
        except CannotInline as e:
            if self.problem is None:
                self.problem = f"a statement's parameters cannot be written as SQL: {e}"
        self._pending = (statement, rendered, reflection)

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if not self.active or self._pending is None:
            return
        sent, rendered, reflection = self._pending
        self._pending = None
        if cursor.description is not None:
            # Rows came back: reflection is frozen as the schema it saw, a
            # read of data is not frozen at all.
            if not reflection and not reads_only_catalog(self.dialect, sent):
                self.reads.append(" ".join(sent.split()))
            return
        self.statements.extend(rendered)


# --------------------------------------------------------------------------
# Scratch databases


DRIVERS = {
    "postgresql": ["pg8000", "psycopg2", "psycopg"],
    "mysql": ["pymysql", "MySQLdb"],
}


def with_driver(url, dialect):
    """The server URL with a driver this Python has."""
    import importlib.util

    for module in DRIVERS[dialect]:
        if importlib.util.find_spec(module) is not None:
            name = {"MySQLdb": "mysqldb"}.get(module, module)
            return url.replace(f"{dialect}://", f"{dialect}+{name}://", 1)
    raise ImportFailure(
        f"this Python has no {dialect} driver for SQLAlchemy: install one of "
        f"{', '.join(DRIVERS[dialect])}, or leave out --python to let aludel make its own virtualenv"
    )


def with_database(url, name):
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name)


class Scratch:
    """One empty database, and the revisions Alembic applied to it."""

    counter = 0

    def __init__(self, request):
        self.dialect = request["dialect"]
        Scratch.counter += 1
        if self.dialect == "sqlite":
            path = os.path.join(request["scratch_dir"], f"scratch{Scratch.counter}.db")
            self.url = f"sqlite:///{path}"
            self.admin = None
        else:
            self.name = f"aludel_import_{os.getpid()}_{uuid.uuid4().hex[:8]}_{Scratch.counter}"
            server = with_driver(request["server_url"], self.dialect)
            self.admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as c:
                c.exec_driver_sql(f"CREATE DATABASE {self.name}")
            self.url = with_database(server, self.name)
        self.engine = create_engine(self.url, poolclass=NullPool)
        if self.dialect == "sqlite":
            # pysqlite begins no transaction before DDL: make it, so that a
            # downgrade can be rolled back (SQLAlchemy's documented recipe).
            @event.listens_for(self.engine, "connect")
            def _connect(dbapi_connection, record):
                dbapi_connection.isolation_level = None

            @event.listens_for(self.engine, "begin")
            def _begin(conn):
                conn.exec_driver_sql("BEGIN")

        self.recorder = Recorder(self.dialect, self.engine.dialect.paramstyle)
        event.listen(self.engine, "before_cursor_execute", self.recorder.before)
        event.listen(self.engine, "after_cursor_execute", self.recorder.after)
        self.conn = self.engine.connect()
        self.applied = set()

    def close(self):
        try:
            self.conn.close()
        finally:
            self.engine.dispose()
            if self.admin is not None:
                with self.admin.connect() as c:
                    force = " WITH (FORCE)" if self.dialect == "postgresql" else ""
                    c.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.name}{force}")
                self.admin.dispose()


def settle(conn):
    if conn.in_transaction():
        conn.commit()


def environment(cfg, script, conn, **kw):
    env = EnvironmentContext(cfg, script, **kw)
    env.configure(connection=conn, version_table=SCRATCH_VERSION_TABLE, transactional_ddl=True)
    return env


def upgrade_to(cfg, script, scratch, target):
    """Alembic's own upgrade of the scratch database to `target`."""

    def fn(rev, context):
        return script._upgrade_revs(target, rev)

    env = EnvironmentContext(cfg, script, fn=fn)
    with env:
        env.configure(connection=scratch.conn, version_table=SCRATCH_VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()
    settle(scratch.conn)


def capture(cfg, script, scratch, rev_id, direction):
    """Runs the revision's upgrade() or downgrade() on the scratch database
    in a transaction, recording what it sends. An upgrade is committed and
    stamped (the database is then at the revision); a downgrade is rolled
    back where DDL is transactional."""
    conn = scratch.conn
    settle(conn)
    module = script.get_revision(rev_id).module
    recorder = scratch.recorder
    recorder.reset()
    trans = conn.begin()
    failure = None
    env = EnvironmentContext(cfg, script)
    with env:
        env.configure(connection=conn, version_table=SCRATCH_VERSION_TABLE)
        context = env.get_context()
        with Operations.context(context):
            recorder.active = True
            try:
                getattr(module, direction)()
            except Exception as e:  # the revision's own error, reported
                failure = f"its {direction}() failed on the scratch database: {type(e).__name__}: {e}"
                log(f"{rev_id} {direction}():\n{traceback.format_exc()}")
            finally:
                recorder.active = False
        if failure is None and direction == "upgrade":
            context.stamp(script, rev_id)
    if failure is None and direction == "upgrade":
        trans.commit()
        scratch.applied.add(rev_id)
    else:
        trans.rollback()
        if scratch.dialect == "mysql" or failure is not None:
            # What ran cannot be known to be undone (MySQL commits DDL).
            scratch.applied = None
    if failure is None and recorder.reads:
        failure = "it reads data: " + "; ".join(recorder.reads[:3])
    if failure is None and recorder.problem:
        failure = recorder.problem
    result = {"statements": list(recorder.statements)}
    if failure is not None:
        result["reason"] = failure
    return result


def render(cfg, script, request, revisions):
    ancestors = {}
    for r in revisions:
        below = set()
        for p in r["parents"] + r["depends_on"]:
            below.add(p)
            below |= ancestors[p]
        ancestors[r["id"]] = below
    results = []
    scratch = None
    try:
        for r in revisions:
            rid = r["id"]
            log(f"rendering {rid} ({r['message']})")
            need = ancestors[rid]
            if scratch is not None and (scratch.applied is None or not scratch.applied <= need):
                scratch.close()
                scratch = None
            if scratch is None:
                scratch = Scratch(request)
            entry = {"id": rid}
            try:
                for target in r["parents"] + r["depends_on"]:
                    upgrade_to(cfg, script, scratch, target)
                scratch.applied |= need
            except Exception as e:
                entry["upgrade"] = entry["downgrade"] = {
                    "statements": [],
                    "reason": f"Alembic could not bring a scratch database to its parents: {type(e).__name__}: {e}",
                }
                log(traceback.format_exc())
                scratch.close()
                scratch = None
                results.append(entry)
                continue
            entry["upgrade"] = capture(cfg, script, scratch, rid, "upgrade")
            if "reason" in entry["upgrade"] and scratch.applied is None:
                entry["downgrade"] = {
                    "statements": [],
                    "reason": "not rendered: the upgrade could not run on the scratch database",
                }
            else:
                entry["downgrade"] = capture(cfg, script, scratch, rid, "downgrade")
            results.append(entry)
    finally:
        if scratch is not None:
            scratch.close()
    return results


def main():
    request = json.load(sys.stdin)
    try:
        cfg = load_config(request.get("alembic_dir"))
        script = ScriptDirectory.from_config(cfg)
        revisions = listing(script)
        answer = {
            "script_location": os.path.abspath(script.dir),
            "revisions": revisions,
        }
        if request["mode"] == "render":
            answer["rendered"] = render(cfg, script, request, revisions)
    except ImportFailure as e:
        answer = {"error": str(e)}
    except Exception as e:
        log(traceback.format_exc())
        answer = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
