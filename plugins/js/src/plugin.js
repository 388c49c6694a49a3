// The JavaScript interpreter plugin: one component (QuickJS, built with
// componentize-qjs) shared by every `plugin = "js"` revision. On upgrade or
// downgrade it reads the revision's own `migration.js` from the revision
// directory (the sandbox's read-only `/`), evaluates it, and calls its
// `upgrade(ctx)` or `downgrade(ctx)`.
//
// `migration.js` is written as an ES module: `import ... from "aludel"`
// and `export function upgrade(ctx)`. QuickJS inside the component cannot
// load a module from a string, so the plugin rewrites those two forms line
// for line (line numbers in errors stay right) and evaluates the source as
// a function body. Plain `function upgrade(ctx)`, `export default { upgrade,
// downgrade }` and CommonJS `module.exports` work too.

import * as sdk from "./aludel.js";

const aludel = {
  db: sdk.db,
  log: sdk.log,
  progress: sdk.progress,
  types: sdk.types,
  fs: sdk.fs,
  DbError: sdk.DbError,
  Value: sdk.Value,
  Row: sdk.Row,
  Cursor: sdk.Cursor,
  toValue: sdk.toValue,
  fromValue: sdk.fromValue,
  _wasi: sdk._wasi,
};
aludel.default = aludel;
Object.freeze(aludel);
globalThis.aludel = aludel;

const SOURCE = "migration.js";

/** Rewrites the module syntax a revision uses into a function body. */
export function transform(source) {
  const importRe = /^(\s*)import\s+(.+?)\s+from\s+["']aludel["']\s*;?\s*$/;
  const lines = source.split("\n").map((line) => {
    const m = importRe.exec(line);
    if (m) {
      const [, indent, clause] = m;
      const ns = /^\*\s+as\s+([\w$]+)$/.exec(clause);
      if (ns) return `${indent}const ${ns[1]} = __aludel;`;
      const both = /^([\w$]+)\s*,\s*(\{.*\})$/.exec(clause);
      if (both) return `${indent}const ${both[1]} = __aludel, ${named(both[2])} = __aludel;`;
      if (clause.startsWith("{")) return `${indent}const ${named(clause)} = __aludel;`;
      return `${indent}const ${clause} = __aludel;`;
    }
    if (/^\s*import\s/.test(line) && /from\s+["']/.test(line)) {
      throw new Error(`${SOURCE}: only the module "aludel" can be imported: ${line.trim()}`);
    }
    return line
      .replace(/^(\s*)export\s+default\s+/, "$1__exports.default = ")
      .replace(/^(\s*)export\s+(async\s+function|function|const|let|var|class)\b/, "$1$2")
      .replace(/^(\s*)export\s*\{[^}]*\}\s*;?/, "$1");
  });
  return lines.join("\n");
}

function named(clause) {
  // `{ a as b, c }` → `{ a: b, c }`
  return clause.replace(/([\w$]+)\s+as\s+([\w$]+)/g, "$1: $2");
}

function pick(body, name) {
  const scope = body.scope;
  const candidates = [scope[name], body.exports.default && body.exports.default[name], body.module.exports[name]];
  return candidates.find((f) => typeof f === "function");
}

let loaded = null;

function load() {
  if (loaded) return loaded;
  let source;
  try {
    source = sdk.fs.readText(SOURCE);
  } catch (e) {
    throw new Error(`the revision has no readable ${SOURCE} (${e.message})`);
  }
  const exportsObj = {};
  const module = { exports: exportsObj };
  const body =
    transform(source) +
    "\n;return { upgrade: typeof upgrade === 'function' ? upgrade : undefined," +
    " downgrade: typeof downgrade === 'function' ? downgrade : undefined };";
  let fn;
  try {
    fn = new Function("__aludel", "__exports", "module", "exports", body);
  } catch (e) {
    throw new Error(`${SOURCE} does not parse: ${e.message}`);
  }
  const scope = fn(aludel, exportsObj, module, module.exports);
  loaded = { scope, exports: exportsObj, module };
  return loaded;
}

function describe(e) {
  if (e instanceof Error) {
    let text = `${e.name === "Error" ? "" : e.name + ": "}${e.message}`;
    const stack = typeof e.stack === "string" ? e.stack.trim() : "";
    if (stack) text += `\n${stack}`;
    return text;
  }
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

function run(name, ctx) {
  try {
    const body = load();
    const f = pick(body, name);
    if (!f) throw new Error(`${SOURCE} defines no ${name}(ctx) function`);
    let args = {};
    try {
      args = JSON.parse(ctx.args || "{}");
    } catch {
      args = {};
    }
    const context = Object.freeze({
      revision: ctx.revision,
      direction: ctx.direction,
      args,
      argsText: ctx.args,
      offline: ctx.offline,
    });
    const out = f(context);
    if (out && typeof out.then === "function") {
      throw new Error(`${name}() returned a promise: revisions run synchronously, drop \`async\``);
    }
  } catch (e) {
    throw describe(e);
  }
}

export const revision = {
  upgrade(ctx) {
    run("upgrade", ctx);
  },
  downgrade(ctx) {
    run("downgrade", ctx);
  },
};
