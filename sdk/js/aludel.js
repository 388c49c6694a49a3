// aludel's JavaScript SDK: the API a `plugin = "js"` revision sees.
//
// It is bundled into the JavaScript plugin (plugins/js), which hands it to
// the revision as the global `aludel` and as the module `"aludel"`:
//
//     import { db, log, progress } from "aludel";
//
//     export function upgrade(ctx) {
//       db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
//       for (const row of db.cursor("SELECT id, name FROM old_users")) {
//         db.execute("INSERT INTO users (id, name) VALUES (?, ?)", [row.id, row.name]);
//       }
//     }
//
// Semantics are the Rust SDK's (sdk/src): every statement runs in the
// revision's transaction; placeholders are the database's own (`?` on SQLite
// and MySQL, `$1` on PostgreSQL; `db.placeholder(n)` helps); a statement that
// fails throws a `DbError` and rolls the whole revision back even if the
// revision catches it; an exception escaping `upgrade`/`downgrade` becomes
// the revision's error text.

import * as raw from "aludel:migration/database@0.2.0";
import * as rawBatches from "aludel:migration/batches@0.2.0";
import * as rawLog from "aludel:migration/log@0.2.0";
import * as rawProgress from "aludel:migration/progress@0.2.0";
import * as preopens from "wasi:filesystem/preopens@0.2.12";
import * as environment from "wasi:cli/environment@0.2.12";

// ---------------------------------------------------------------- errors

/** A statement's failure as the database reported it: `message` and `code`
 * (the SQLSTATE or the database's own code, or `null`). */
export class DbError extends Error {
  constructor(message, code) {
    super(code == null ? message : `${message} (code ${code})`);
    this.name = "DbError";
    this.dbMessage = message;
    this.code = code == null ? null : code;
  }
}

function dbCall(f) {
  try {
    return f();
  } catch (e) {
    // The bindings throw an Error whose `payload` is the WIT `db-error`.
    const p = e && typeof e === "object" && e.payload && typeof e.payload === "object" ? e.payload : null;
    if (p && "message" in p) throw new DbError(String(p.message), p.code == null ? null : String(p.code));
    throw e;
  }
}

// ---------------------------------------------------------------- values

/** A value with an explicit SQL type: what the helpers below return. */
export class Value {
  constructor(tag, val) {
    this.tag = tag;
    if (val !== undefined) this.val = val;
  }
  toString() {
    return this.val === undefined ? "NULL" : String(this.val);
  }
  toJSON() {
    return this.val === undefined ? null : this.val;
  }
}

function textValue(tag, name) {
  return (text) => {
    if (typeof text !== "string") throw new TypeError(`${name}() takes a string`);
    return new Value(tag, text);
  };
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

function isoDate(d) {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function isoTime(d) {
  const ms = d.getUTCMilliseconds();
  const frac = ms ? `.${pad(ms, 3)}` : "";
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`;
}

/** The typed-value helpers. Strings are in the forms the WIT contract names;
 * `date`, `time`, `timestamp` and `timestamptz` also take a `Date` (read in UTC). */
export const types = {
  /** An integer, from a number or a bigint (within the signed 64-bit range). */
  integer(n) {
    return new Value("integer", toInteger(n));
  },
  /** A float, even for an integral number (`float(1)` binds 1.0). */
  float(n) {
    return new Value("float", Number(n));
  },
  text: textValue("text", "text"),
  blob(bytes) {
    return new Value("blob", toBytes(bytes));
  },
  date(d) {
    return new Value("date", d instanceof Date ? isoDate(d) : checkText(d, "date"));
  },
  time(t) {
    return new Value("time", t instanceof Date ? isoTime(t) : checkText(t, "time"));
  },
  timestamp(t) {
    return new Value("timestamp", t instanceof Date ? `${isoDate(t)}T${isoTime(t)}` : checkText(t, "timestamp"));
  },
  timestamptz(t) {
    return new Value("timestamptz", t instanceof Date ? `${isoDate(t)}T${isoTime(t)}Z` : checkText(t, "timestamptz"));
  },
  /** A decimal, from its text (`"-123.4500"`) or a bigint; never from a float. */
  decimal(d) {
    if (typeof d === "bigint") return new Value("decimal", d.toString());
    return new Value("decimal", checkText(d, "decimal"));
  },
  /** A JSON document: text is taken as it is, anything else is `JSON.stringify`d. */
  json(doc) {
    return new Value("json", typeof doc === "string" ? doc : JSON.stringify(doc));
  },
  uuid(u) {
    return new Value("uuid", checkText(u, "uuid").toLowerCase());
  },
  null: new Value("null"),
};

function checkText(v, name) {
  if (typeof v !== "string") throw new TypeError(`${name}() takes a string`);
  return v;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function toInteger(n) {
  if (typeof n === "bigint") {
    if (n < I64_MIN || n > I64_MAX) throw new RangeError(`${n} does not fit a 64-bit integer`);
    // The plugin's bindings carry s64 as a Number: refuse what would round.
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RangeError(`${n} is beyond 2^53: pass it as types.decimal(${n}n) or text`);
    }
    return Number(n);
  }
  if (typeof n !== "number" || !Number.isInteger(n)) throw new TypeError(`${n} is not an integer`);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${n} is beyond 2^53 and may have been rounded`);
  return n;
}

function toBytes(b) {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (Array.isArray(b)) return Uint8Array.from(b);
  throw new TypeError("a blob is a Uint8Array, an ArrayBuffer or an array of bytes");
}

/** A JavaScript value as a WIT `value`: null/undefined, boolean, number
 * (integral numbers bind as integers, others as floats: use `types.float`
 * to force one), bigint, string, Uint8Array/ArrayBuffer (blob), Date
 * (timestamptz) or a `Value` from the helpers. */
export function toValue(v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (v instanceof Value) return v.val === undefined ? { tag: v.tag } : { tag: v.tag, val: v.val };
  switch (typeof v) {
    case "boolean":
      return { tag: "boolean", val: v };
    case "number":
      return Number.isInteger(v) && Number.isSafeInteger(v) ? { tag: "integer", val: v } : { tag: "float", val: v };
    case "bigint":
      return { tag: "integer", val: toInteger(v) };
    case "string":
      return { tag: "text", val: v };
  }
  if (v instanceof Date) return { tag: "timestamptz", val: types.timestamptz(v).val };
  if (v instanceof Uint8Array || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { tag: "blob", val: toBytes(v) };
  }
  throw new TypeError(`cannot bind ${Object.prototype.toString.call(v)} as a SQL value: use a types.* helper`);
}

function toParams(params) {
  if (params === undefined || params === null) return [];
  if (!Array.isArray(params)) throw new TypeError("parameters are an array");
  return params.map(toValue);
}

/** A WIT `value` as JavaScript: null, boolean, number, string, Uint8Array;
 * dates, times, decimals, JSON and UUIDs as their exact text. */
export function fromValue(v) {
  switch (v.tag) {
    case "null":
      return null;
    case "blob":
      return v.val instanceof Uint8Array ? v.val : Uint8Array.from(v.val);
    default:
      return v.val;
  }
}

// ---------------------------------------------------------------- rows

/** One result row. Columns are readable by name (`row.email`, `row.get("email")`)
 * and by position (`row.get(0)`); `row.values` is the array, `row.columns` the names.
 * `row.raw(col)` is the typed `{ tag, val }` as the host sent it. */
export class Row {
  constructor(columns, raw) {
    Object.defineProperty(this, "columns", { value: columns });
    Object.defineProperty(this, "_raw", { value: raw });
    const values = raw.map(fromValue);
    Object.defineProperty(this, "values", { value: values });
    for (let i = 0; i < columns.length; i++) {
      const name = columns[i];
      if (!(name in this)) this[name] = values[i];
    }
  }
  _index(col) {
    if (typeof col === "number") {
      if (col < 0 || col >= this.values.length) throw new RangeError(`no column ${col}: the row has ${this.values.length}`);
      return col;
    }
    const i = this.columns.indexOf(col);
    if (i < 0) throw new RangeError(`no column "${col}": the columns are ${this.columns.join(", ")}`);
    return i;
  }
  get(col) {
    return this.values[this._index(col)];
  }
  raw(col) {
    return this._raw[this._index(col)];
  }
  toJSON() {
    const o = {};
    this.columns.forEach((c, i) => (o[c] = this.values[i]));
    return o;
  }
}

function makeRows(columns, rows) {
  const out = rows.map((r) => new Row(columns, r));
  Object.defineProperty(out, "columns", { value: columns });
  return out;
}

/** How many rows a cursor asks for per batch when iterated row by row. */
const ITER_BATCH = 1000;

/** A result read a batch at a time. Iterate it for one row at a time, or call
 * `nextBatch(n)` (an array of rows, `null` once exhausted), or `batches(n)`.
 * An exhausted cursor closes itself; `close()` (or `using`) ends one early.
 * PostgreSQL refuses `ALTER TABLE` on a table an open cursor reads. */
export class Cursor {
  constructor(inner) {
    this._inner = inner;
    this.columns = inner.columns();
    this._done = false;
  }
  nextBatch(maxRows = ITER_BATCH) {
    if (this._done) return null;
    let rows;
    try {
      rows = dbCall(() => this._inner.next(maxRows));
    } catch (e) {
      this.close();
      throw e;
    }
    if (rows.length === 0) {
      this.close();
      return null;
    }
    return makeRows(this.columns, rows);
  }
  /** Releases the cursor on the host; further reads return nothing. */
  close() {
    if (this._done) return;
    this._done = true;
    const dispose = this._inner[Symbol.dispose];
    if (typeof dispose === "function") dispose.call(this._inner);
  }
  [Symbol.dispose]() {
    this.close();
  }
  *batches(maxRows = ITER_BATCH) {
    try {
      let b;
      while ((b = this.nextBatch(maxRows)) !== null) yield b;
    } finally {
      // A `break` out of a for-of loop closes the cursor too.
      this.close();
    }
  }
  *[Symbol.iterator]() {
    for (const batch of this.batches(ITER_BATCH)) yield* batch;
  }
}

// ---------------------------------------------------------------- database

export const db = {
  /** `"sqlite"`, `"postgresql"` or `"mysql"`. */
  dialect() {
    return raw.getDialect();
  },
  /** The placeholder for the nth parameter (from 1): `?`, or `$n` on PostgreSQL. */
  placeholder(n) {
    return raw.getDialect() === "postgresql" ? `$${n}` : "?";
  },
  /** Runs one statement; returns the number of rows it changed. */
  execute(sql, params) {
    const p = toParams(params);
    return Number(dbCall(() => raw.execute(sql, p)));
  },
  /** Runs one statement; returns all its rows (an array with `.columns`). */
  query(sql, params) {
    const p = toParams(params);
    const set = dbCall(() => raw.query(sql, p));
    return makeRows(set.columns, set.rows);
  },
  /** The first row of a query, or `null`. */
  queryOne(sql, params) {
    const rows = db.query(sql, params);
    return rows.length ? rows[0] : null;
  },
  /** Opens a cursor over one statement's rows; the revision may write while it is open. */
  cursor(sql, params) {
    const p = toParams(params);
    return new Cursor(dbCall(() => raw.openCursor(sql, p)));
  },
  /** Runs one statement once per parameter row; returns the total rows changed. */
  executeMany(sql, rows) {
    if (!Array.isArray(rows)) throw new TypeError("executeMany takes an array of parameter arrays");
    const p = rows.map(toParams);
    return Number(dbCall(() => raw.executeMany(sql, p)));
  },
  /** Runs SQL text holding several statements; no parameters. */
  executeScript(sql) {
    dbCall(() => raw.executeScript(sql));
  },
  /** The rows of `sql` in arrays of `size` rows (the revision's `[batch]
   * size` when omitted), in order of the unique column `key`, for a
   * revision with `transaction = "batched"` (docs/backfills.md):
   *
   *     for (const batch of db.batches("SELECT id, email FROM users", { key: "id", size: 10000 })) { ... }
   *
   * Each batch is committed, with its last key as the position, when the
   * next one is asked for; the last commits with the version-table change.
   * After a failure the next run starts after the last committed position. */
  *batches(sql, { key, size } = {}) {
    if (typeof key !== "string") throw new TypeError("db.batches needs { key: \"<column>\" }");
    const limit = Math.max(1, size == null ? Number(rawBatches.batchSize()) : Number(size));
    // A raw WIT value: handed back to the host as it came.
    let position = rawBatches.resumePosition();
    if (position === undefined) position = null;
    for (;;) {
      const where = position === null ? "" : ` WHERE ${key} > ${db.placeholder(1)}`;
      const params = position === null ? [] : [position];
      const set = dbCall(() =>
        raw.query(`SELECT * FROM (${sql}) AS aludel_batch${where} ORDER BY ${key} LIMIT ${limit}`, params),
      );
      if (set.rows.length === 0) return;
      const at = set.columns.indexOf(key);
      if (at < 0) throw new Error(`db.batches: the query has no column "${key}" to page by; its columns are ${set.columns.join(", ")}`);
      position = set.rows[set.rows.length - 1][at];
      yield makeRows(set.columns, set.rows);
      // The caller is done with the batch: commit it.
      const done = set.rows.length;
      dbCall(() => rawBatches.commitBatch(position, done));
    }
  },
};

// ---------------------------------------------------------------- log, progress

function logAt(level) {
  return (...parts) => rawLog.log(level, parts.map((p) => (typeof p === "string" ? p : stringify(p))).join(" "));
}

function stringify(v) {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

export const log = {
  trace: logAt("trace"),
  debug: logAt("debug"),
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error"),
};

/** Reports `done` units of work finished, out of `total` when known. */
export function progress(done, total) {
  rawProgress.report(Number(done), total == null ? null : Number(total));
}

// ---------------------------------------------------------------- files

function utf8Decode(bytes) {
  if (typeof TextDecoder === "function") return new TextDecoder().decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i++];
    let cp;
    if (b < 0x80) cp = b;
    else if (b < 0xe0) cp = ((b & 0x1f) << 6) | (bytes[i++] & 0x3f);
    else if (b < 0xf0) cp = ((b & 0x0f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    else cp = ((b & 0x07) << 18) | ((bytes[i++] & 0x3f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    out += String.fromCodePoint(cp);
  }
  return out;
}

function revisionDir() {
  const dirs = preopens.getDirectories();
  const root = dirs.find((d) => d[1] === "/") || dirs[0];
  if (!root) throw new Error("the sandbox grants no directory");
  return root[0];
}

/** The revision's own files, read-only: its directory is the sandbox's `/`. */
export const fs = {
  /** The bytes of a file in the revision's directory. */
  readBytes(path) {
    const rel = String(path).replace(/^\/+/, "");
    let file;
    try {
      file = revisionDir().openAt({ symlinkFollow: false }, rel, {}, { read: true });
    } catch (e) {
      throw new Error(`cannot open ${path}: ${typeof e === "string" ? e : stringify(e)}`);
    }
    const chunks = [];
    let total = 0;
    let offset = 0;
    for (;;) {
      const [chunk, eof] = file.read(65536, offset);
      const bytes = chunk instanceof Uint8Array ? chunk : Uint8Array.from(chunk);
      if (bytes.length) {
        chunks.push(bytes);
        total += bytes.length;
        offset += bytes.length;
      }
      if (eof || bytes.length === 0) break;
    }
    if (file[Symbol.dispose]) file[Symbol.dispose]();
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  },
  /** The UTF-8 text of a file in the revision's directory. */
  readText(path) {
    return utf8Decode(fs.readBytes(path));
  },
};

/** The raw WASI interfaces the plugin imports, for tests of the sandbox.
 * Not a stable API. */
export const _wasi = { preopens, environment };
