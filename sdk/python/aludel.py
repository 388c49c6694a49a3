"""The Python SDK of aludel: what a revision's ``migration.py`` imports.

A Python revision is a directory with ``revision.toml`` (``plugin = "python"``)
and ``migration.py`` defining ``upgrade(ctx)`` and ``downgrade(ctx)``. The
shared ``python`` plugin runs it; this module is bundled into that plugin, so
``import aludel`` needs nothing installed::

    from aludel import db, log, progress

    def upgrade(ctx):
        db.execute("ALTER TABLE people ADD COLUMN email TEXT")
        for row in db.cursor("SELECT id, name FROM people"):
            log.info(f"{row['id']}: {row['name']}")

    def downgrade(ctx):
        db.execute("ALTER TABLE people DROP COLUMN email")

Semantics are those of the Rust SDK (``aludel-sdk``):

* Parameters are Python values: ``None``, ``bool``, ``int`` (signed 64-bit),
  ``float``, ``str``, ``bytes``, and ``datetime.date``/``time``/``datetime``
  (a ``datetime`` with ``tzinfo`` is a ``timestamptz``), ``decimal.Decimal``,
  ``uuid.UUID``, and :class:`Json` for a JSON document. Result columns come
  back as the same Python types (a ``json`` column is parsed).
* Placeholders are the database's own (``?`` on SQLite and MySQL, ``$1`` on
  PostgreSQL): :meth:`Dialect.placeholder` writes them.
* A failed statement raises :class:`DbError` and makes the whole revision roll
  back, even if the revision catches it and returns normally.
* An exception escaping ``upgrade``/``downgrade`` fails the revision; its
  type, message and the last lines of its traceback are shown to the operator.
"""

import datetime as _dt
import decimal as _decimal
import json as _json
import uuid as _uuid

from componentize_py_types import Err as _Err
from wit_world.imports import batches as _batches
from wit_world.imports import database as _database
from wit_world.imports import log as _log
from wit_world.imports import progress as _progress
from wit_world.imports import types as _t

__all__ = [
    "Batches", "Context", "Cursor", "DbError", "Dialect", "Error", "Json", "Row", "Rows",
    "db", "log", "progress",
]

#: Rows a cursor asks the host for at a time when iterated (as the Rust SDK).
ITER_BATCH = 1000

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


class Error(Exception):
    """An error of the SDK: a value that cannot be converted, a missing column."""


class DbError(Error):
    """A statement's failure, as the database reported it.

    ``message`` is the database's message; ``code`` is the SQLSTATE or the
    database's own code, or ``None``.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        if self.code is not None:
            return f"{self.message} (code {self.code})"
        return self.message


def _call(f, *args):
    try:
        return f(*args)
    except _Err as e:
        err = e.value
        raise DbError(err.message, err.code) from None


class Json:
    """A JSON document as a parameter: ``Json({"a": 1})`` or ``Json.text('{"a":1}')``."""

    __slots__ = ("_text",)

    def __init__(self, value):
        self._text = _json.dumps(value, separators=(",", ":"))

    @classmethod
    def text(cls, text):
        """A document already serialised; sent as is."""
        obj = cls.__new__(cls)
        obj._text = str(text)
        return obj

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"Json.text({self._text!r})"


def to_value(v):
    """The WIT value of a Python value (see the module's documentation)."""
    if v is None:
        return _t.Value_Null()
    if v is True or v is False:
        return _t.Value_Boolean(v)
    if isinstance(v, int):
        if not _I64_MIN <= v <= _I64_MAX:
            raise Error(f"integer {v} does not fit in a signed 64-bit value")
        return _t.Value_Integer(int(v))
    if isinstance(v, float):
        return _t.Value_Float(v)
    if isinstance(v, str):
        return _t.Value_Text(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _t.Value_Blob(bytes(v))
    if isinstance(v, _dt.datetime):  # before date: datetime is a date
        if v.tzinfo is not None and v.utcoffset() is not None:
            return _t.Value_Timestamptz(v.isoformat())
        return _t.Value_Timestamp(v.isoformat())
    if isinstance(v, _dt.date):
        return _t.Value_Date(v.isoformat())
    if isinstance(v, _dt.time):
        if v.tzinfo is not None:
            raise Error("a time with a time zone has no SQL type: drop tzinfo")
        return _t.Value_Time(v.isoformat())
    if isinstance(v, _decimal.Decimal):
        if not v.is_finite():
            raise Error(f"decimal {v} is not a finite number")
        return _t.Value_Decimal(format(v, "f"))
    if isinstance(v, _uuid.UUID):
        return _t.Value_Uuid(str(v))
    if isinstance(v, Json):
        return _t.Value_Json(v._text)
    if type(v).__module__ == _t.__name__ and type(v).__name__.startswith("Value_"):
        return v  # already a WIT value
    raise Error(f"cannot use a {type(v).__name__} as an SQL value")


def _from_value(v):
    c = type(v)
    if c is _t.Value_Text or c is _t.Value_Integer or c is _t.Value_Float or c is _t.Value_Boolean:
        return v.value
    if c is _t.Value_Null:
        return None
    if c is _t.Value_Blob:
        return bytes(v.value)
    if c is _t.Value_Date:
        return _dt.date.fromisoformat(v.value)
    if c is _t.Value_Time:
        return _dt.time.fromisoformat(v.value)
    if c is _t.Value_Timestamp or c is _t.Value_Timestamptz:
        return _dt.datetime.fromisoformat(v.value)
    if c is _t.Value_Decimal:
        return _decimal.Decimal(v.value)
    if c is _t.Value_Json:
        return _json.loads(v.value)
    if c is _t.Value_Uuid:
        return _uuid.UUID(v.value)
    raise Error(f"unknown value {v!r}")


def _params(params):
    if params is None:
        return []
    if isinstance(params, (str, bytes)):
        raise Error("params is a sequence of values, not one string: write [value]")
    return [to_value(p) for p in params]


class Row:
    """One result row: ``row["name"]``, ``row[0]``, ``row.get("name")``, ``dict(row)``."""

    __slots__ = ("_columns", "_index", "_values")

    def __init__(self, columns, index, values):
        self._columns = columns
        self._index = index
        self._values = values

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                key = self._index[key]
            except KeyError:
                raise KeyError(
                    f"no column {key!r}: the columns are {', '.join(self._columns)}"
                ) from None
        return self._values[key]

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def keys(self):
        return list(self._columns)

    def values(self):
        return list(self._values)

    def items(self):
        return list(zip(self._columns, self._values))

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other):
        if isinstance(other, Row):
            return self._columns == other._columns and self._values == other._values
        return NotImplemented

    def __repr__(self):
        inner = ", ".join(f"{c}={v!r}" for c, v in zip(self._columns, self._values))
        return f"Row({inner})"


def _rows(columns, raw_rows):
    columns = tuple(columns)
    index = {c: i for i, c in reversed(list(enumerate(columns)))}
    return [Row(columns, index, [_from_value(v) for v in r]) for r in raw_rows]


class Rows(list):
    """The rows of a query, a list of :class:`Row`, with ``columns``."""

    def __init__(self, columns, rows):
        super().__init__(rows)
        self.columns = list(columns)

    def first(self):
        """The first row, or ``None``."""
        return self[0] if self else None

    def scalar(self):
        """The first column of the first row, or ``None`` when there is no row."""
        return self[0][0] if self else None


class Cursor:
    """Rows read a batch at a time. Iterating yields :class:`Row` objects;
    :meth:`batches` and :meth:`next_batch` give lists. Use ``with`` (or
    :meth:`close`) to free it early."""

    def __init__(self, inner):
        self._inner = inner
        self.columns = list(inner.columns())
        self._index = {c: i for i, c in reversed(list(enumerate(self.columns)))}
        self._done = False

    def next_batch(self, max_rows=ITER_BATCH):
        """Up to ``max_rows`` more rows, or ``None`` once the cursor is exhausted."""
        if self._done:
            return None
        raw = _call(self._inner.next, max(1, int(max_rows)))
        if not raw:
            self._done = True
            self.close()
            return None
        cols = tuple(self.columns)
        idx = self._index
        return [Row(cols, idx, [_from_value(v) for v in r]) for r in raw]

    def batches(self, size=ITER_BATCH):
        """Yields lists of up to ``size`` rows until the cursor is exhausted."""
        while True:
            batch = self.next_batch(size)
            if batch is None:
                return
            yield batch

    def __iter__(self):
        for batch in self.batches(ITER_BATCH):
            yield from batch

    def close(self):
        inner, self._inner = self._inner, None
        self._done = True
        if inner is not None:
            inner.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return None


class Batches:
    """What :meth:`_Db.batches` returns: an iterator of :class:`Rows`, keyset
    paginated as ``SELECT * FROM (<sql>) AS aludel_batch WHERE <key> > ?
    ORDER BY <key> LIMIT <size>``."""

    def __init__(self, sql, key, size=None):
        self._sql = sql
        self._key = key
        self._size = max(1, int(size) if size is not None else _batches.batch_size())
        # A raw WIT value: handed back to the host as it came.
        self._position = _batches.resume_position()
        self._pending = None
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._pending is not None:
            _call(_batches.commit_batch, self._position, self._pending)
            self._pending = None
        if self._position is None:
            where, params = "", []
        else:
            where = f" WHERE {self._key} > {db.dialect().placeholder(1)}"
            params = [self._position]
        sql = (f"SELECT * FROM ({self._sql}) AS aludel_batch{where} "
               f"ORDER BY {self._key} LIMIT {self._size}")
        rs = _call(_database.query, sql, params)
        if not rs.rows:
            self._done = True
            raise StopIteration
        if self._key not in rs.columns:
            raise Error(f"db.batches: the query has no column {self._key!r} to page by; "
                        f"its columns are {rs.columns!r}")
        self._position = rs.rows[-1][rs.columns.index(self._key)]
        self._pending = len(rs.rows)
        return Rows(rs.columns, _rows(rs.columns, rs.rows))


class Dialect:
    """Which database the revision runs against: ``db.dialect().name`` is
    ``"sqlite"``, ``"postgresql"`` or ``"mysql"``."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def placeholder(self, n):
        """The placeholder of the ``n``th parameter, counting from 1."""
        return f"${n}" if self.name == "postgresql" else "?"

    def placeholders(self, count, start=1):
        """``count`` placeholders joined by ``, ``."""
        return ", ".join(self.placeholder(i) for i in range(start, start + count))

    def __eq__(self, other):
        if isinstance(other, str):
            return self.name == other
        return isinstance(other, Dialect) and self.name == other.name

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"Dialect({self.name!r})"


_DIALECTS = {
    _t.Dialect.SQLITE: Dialect("sqlite"),
    _t.Dialect.POSTGRESQL: Dialect("postgresql"),
    _t.Dialect.MYSQL: Dialect("mysql"),
}


class _Db:
    """The database, brokered by the host: ``aludel.db``."""

    def dialect(self):
        return _DIALECTS[_database.get_dialect()]

    def execute(self, sql, params=None):
        """Runs one statement; returns the number of rows it changed."""
        return _call(_database.execute, sql, _params(params))

    def query(self, sql, params=None):
        """Runs one statement; returns all its rows as :class:`Rows`."""
        rs = _call(_database.query, sql, _params(params))
        return Rows(rs.columns, _rows(rs.columns, rs.rows))

    def cursor(self, sql, params=None):
        """Opens a :class:`Cursor` over the rows of one statement."""
        return Cursor(_call(_database.open_cursor, sql, _params(params)))

    def execute_many(self, sql, rows):
        """Runs one statement once per parameter list; returns the rows changed."""
        return _call(_database.execute_many, sql, [_params(r) for r in rows])

    def execute_script(self, sql):
        """Runs SQL text that may hold several statements, without parameters."""
        _call(_database.execute_script, sql)

    def batches(self, sql, key, size=None):
        """The rows of ``sql`` in :class:`Rows` of ``size`` (the revision's
        ``[batch] size`` when ``None``), in order of the unique column
        ``key``, for a revision with ``transaction = "batched"``
        (docs/backfills.md)::

            for batch in db.batches("SELECT id, email FROM users", key="id", size=10_000):
                db.execute_many("UPDATE users SET email = ? WHERE id = ?",
                                [[r["email"].lower(), r["id"]] for r in batch])

        Each batch is committed, with its last key as the position, when the
        next one is asked for; the last commits with the version-table
        change. After a failure the next run starts after the last
        committed position."""
        return Batches(sql, key, size)


class _Log:
    """Messages for aludel's log, attributed to the revision: ``aludel.log``."""

    def trace(self, message):
        _log.log(_log.Level.TRACE, str(message))

    def debug(self, message):
        _log.log(_log.Level.DEBUG, str(message))

    def info(self, message):
        _log.log(_log.Level.INFO, str(message))

    def warn(self, message):
        _log.log(_log.Level.WARN, str(message))

    warning = warn

    def error(self, message):
        _log.log(_log.Level.ERROR, str(message))


def progress(done, total=None):
    """Reports ``done`` units of work out of ``total`` (``None`` when unknown)."""
    _progress.report(int(done), None if total is None else int(total))


class Context:
    """What the host tells the revision: ``revision`` (its id), ``direction``
    (``"upgrade"`` or ``"downgrade"``), ``args`` (the ``[args]`` of
    ``revision.toml`` as a dict) and ``offline`` (``--sql``: queries return
    nothing)."""

    __slots__ = ("revision", "direction", "args", "offline")

    def __init__(self, revision, direction, args, offline):
        self.revision = revision
        self.direction = direction
        self.args = args
        self.offline = offline

    def __repr__(self):
        return (f"Context(revision={self.revision!r}, direction={self.direction!r}, "
                f"args={self.args!r}, offline={self.offline!r})")


db = _Db()
log = _Log()
