"""The `python` interpreter plugin: one component shared by every Python
revision. On `upgrade`/`downgrade` it reads the revision's own
`migration.py` from its read-only directory (preopened as `/`), executes it
as the module `migration`, and calls its `upgrade(ctx)` / `downgrade(ctx)`.

Everything imported here is imported while componentize-py pre-initialises
the component, so it is part of the snapshot and costs nothing at start.
"""

import datetime  # noqa: F401  (pre-imported for revisions: in the snapshot)
import decimal  # noqa: F401
import json
import re  # noqa: F401
import sys
import traceback
import types as _pytypes
import uuid  # noqa: F401

import aludel
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types as wit

MIGRATION = "/migration.py"
#: Lines of the traceback kept in the error shown to the operator.
TRACEBACK_LINES = 8


def _load():
    try:
        with open(MIGRATION, encoding="utf-8") as f:
            source = f.read()
    except OSError as e:
        raise Err(f"cannot read migration.py in the revision directory: {e}") from None
    module = _pytypes.ModuleType("migration")
    module.__file__ = MIGRATION
    sys.modules["migration"] = module
    code = compile(source, "migration.py", "exec")
    exec(code, module.__dict__)
    return module


def _describe(e):
    lines = traceback.format_exception(type(e), e, e.__traceback__)
    text = "".join(lines).rstrip().splitlines()
    # Drop the frames of this plugin: the operator cares about migration.py.
    text = [l for l in text if l.strip()]
    tail = text[-TRACEBACK_LINES:]
    head = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return head + "\n" + "\n".join(tail)


def _run(ctx, name):
    try:
        args = json.loads(ctx.args) if ctx.args else {}
        direction = "upgrade" if ctx.direction == wit.Direction.UPGRADE else "downgrade"
        module = _load()
        func = getattr(module, name, None)
        if not callable(func):
            raise Err(f"migration.py defines no {name}(ctx) function")
        func(aludel.Context(ctx.revision, direction, args, ctx.offline))
    except Err:
        raise
    except SystemExit as e:
        if e.code not in (None, 0):
            raise Err(f"migration.py called sys.exit({e.code!r})") from None
    except BaseException as e:  # noqa: BLE001 - every failure becomes the err string
        raise Err(_describe(e)) from None
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


class Revision(exports.Revision):
    def upgrade(self, ctx):
        _run(ctx, "upgrade")

    def downgrade(self, ctx):
        _run(ctx, "downgrade")
