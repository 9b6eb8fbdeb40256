/**
 * Hostile input, generated (seeded, so a failure can be replayed): malformed `.fernb` notebooks,
 * malformed renderer messages, malformed command lines. Each must either be refused with a clear
 * error or work completely; nothing may throw a raw error, lose a key or fail later (at save time,
 * after a run). Issue #16 defects 6, 10 and 13, as a class.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { serialize as v8Serialize } from "node:v8";
import { MAX_NESTING, NotebookFormatError, parseNotebook, serializeNotebook, type Notebook } from "../../extension/notebookFormat";
import { RendererBridge } from "../../extension/rendererBridge";
import { checkMessageShape, RENDERER_MESSAGE_LIMITS } from "../../protocol/messageShape";
import { parseArgs, UsageError, type FlagSpec } from "../../cli/args";
import { handleReviewRendererMessage } from "../../kernel/fer/curation/review";
import { renderHtmlReport } from "../../cli/htmlReport";

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

const base: Notebook = {
  metadata: { zeta: 1, alpha: { b: 2, a: [3, { y: 1, x: 2 }] }, kernel: "fer" },
  cells: [
    { kind: "markdown", language: "markdown", source: "# Title\n\nSome *text*." },
    {
      kind: "code",
      language: "typescript",
      source: "const a = 1;\nconsole.log(a);\n",
      metadata: { tags: ["x"], nested: { deep: { er: true } } },
      execution: { order: 3, success: true, startTime: 1000, endTime: 1500 },
      outputs: [
        { items: [{ mime: "application/vnd.code.notebook.stdout", data: enc.encode("1\n2\n") }] },
        { items: [{ mime: "image/png", data: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255, 254]) }, { mime: "text/plain", data: enc.encode("\uFEFFwith BOM") }], metadata: { k: "v" } },
      ],
    },
    { kind: "code", language: "typescript", source: "" },
  ],
};
const baseText = dec.decode(serializeNotebook(base));

const SPECIAL_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "", " ", "🙂", "a.b", "[0]"];

function nested(depth: number, leaf: unknown, r: () => number): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = r() < 0.5 ? [v] : { [SPECIAL_KEYS[Math.floor(r() * SPECIAL_KEYS.length)] || "k"]: v };
  return v;
}

/** A value of any JSON type, sometimes huge, deep or with special keys. */
function randomValue(r: () => number): unknown {
  const k = Math.floor(r() * 12);
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 1e6) - 5e5;
    case 3: return r() * 1e300;
    case 4: return "x".repeat(Math.floor(r() * 20));
    case 5: return "\u0000\ud800\uffff\u2028" + "é".repeat(Math.floor(r() * 5));
    case 6: return [];
    case 7: return {};
    case 8: return nested(1 + Math.floor(r() * 130), 1, r);
    case 9: return Object.fromEntries(SPECIAL_KEYS.filter(() => r() < 0.5).map((key) => [key, randomValue(r)]));
    case 10: return "y".repeat(Math.floor(r() * 200_000));
    default: return [randomValue(r), randomValue(r)];
  }
}

/** Every container in a JSON value, with a way to set a key in it. */
function containers(v: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
  const stack = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (x && typeof x === "object") {
      out.push(x as Record<string, unknown>);
      for (const key of Object.keys(x)) stack.push((x as Record<string, unknown>)[key]);
    }
  }
  return out;
}

function setOwn(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** One malformed notebook: text-, byte- or structure-level damage to the base notebook. */
function mutate(r: () => number): Uint8Array {
  const kind = Math.floor(r() * 9);
  if (kind <= 3) {
    // Structural: set, replace or delete keys anywhere, with values of any type.
    const doc = JSON.parse(baseText) as Record<string, unknown>;
    const all = containers(doc);
    for (let m = 0; m < 1 + Math.floor(r() * 3); m++) {
      const target = all[Math.floor(r() * all.length)];
      const keys = Object.keys(target);
      if (Array.isArray(target)) {
        if (r() < 0.3 && target.length > 0) target.splice(Math.floor(r() * target.length), 1);
        else target[Math.floor(r() * (target.length + 1))] = randomValue(r);
      } else if (r() < 0.2 && keys.length > 0) delete target[keys[Math.floor(r() * keys.length)]];
      else setOwn(target, r() < 0.5 && keys.length > 0 ? keys[Math.floor(r() * keys.length)] : SPECIAL_KEYS[Math.floor(r() * SPECIAL_KEYS.length)], randomValue(r));
    }
    return enc.encode(JSON.stringify(doc, null, r() < 0.5 ? 2 : undefined));
  }
  let text = baseText;
  const bytes = () => enc.encode(text);
  switch (kind) {
    case 4: { // truncation
      const b = bytes();
      return b.slice(0, Math.floor(r() * b.length));
    }
    case 5: { // a byte changed (often invalid UTF-8 or broken JSON)
      const b = bytes();
      b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return b;
    }
    case 6: { // BOMs and invalid UTF-8 sequences
      const b = bytes();
      const insert = [[0xef, 0xbb, 0xbf], [0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]][Math.floor(r() * 5)];
      const at = r() < 0.3 ? 0 : Math.floor(r() * b.length);
      return new Uint8Array([...b.slice(0, at), ...insert, ...b.slice(at)]);
    }
    case 7: { // duplicate keys, numbers JSON cannot round-trip, escapes
      const edits: [RegExp, string][] = [
        [/"kind": "code"/, '"kind": "markdown", "kind": "code"'],
        [/"zeta": 1/, '"zeta": 1e999'],
        [/"zeta": 1/, '"zeta": -0'],
        [/"zeta": 1/, '"zeta": 123456789012345678901234567890'],
        [/"order": 3/, '"order": 1e400'],
        [/"b": 2/, '"__proto__": {"polluted": true}, "b": 2'],
        [/"k": "v"/, '"k": "\\ud800\\u0000"'],
        [/"fernb": 1/, '"fernb": 1.5'],
        [/"x": 2/, '"x": 2, "x": {"constructor": {"prototype": 1}}'],
      ];
      const [re, to] = edits[Math.floor(r() * edits.length)];
      text = text.replace(re, to);
      return bytes();
    }
    default: { // nesting, around the limit and far beyond it
      const depth = [MAX_NESTING - 6, MAX_NESTING - 3, MAX_NESTING, MAX_NESTING + 1, 5000, 200_000][Math.floor(r() * 6)];
      const open = r() < 0.5 ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      text = text.replace(/"tags": \[\s*"x"\s*\]/, `"tags": ${open.repeat(depth)}1${close.repeat(depth)}`);
      return bytes();
    }
  }
}

/** Every key path of a value (to check that no key vanished in a round trip). */
function keyPaths(v: unknown): string[] {
  const out: string[] = [];
  const stack: [unknown, string][] = [[v, ""]];
  while (stack.length > 0) {
    const [x, at] = stack.pop()!;
    if (x && typeof x === "object") for (const key of Object.keys(x)) {
      out.push(`${at}/${key}`);
      stack.push([(x as Record<string, unknown>)[key], `${at}/${key}`]);
    }
  }
  return out.sort();
}

function notebookKeyPaths(nb: Notebook): string[] {
  return [
    ...keyPaths(nb.metadata),
    ...nb.cells.flatMap((c, i) => [...keyPaths(c.metadata ?? {}).map((p) => `cell${i}${p}`), ...(c.outputs ?? []).flatMap((o, k) => keyPaths(o.metadata ?? {}).map((p) => `cell${i}out${k}${p}`))]),
  ];
}

test("generated malformed notebooks: refused with a clear error when opened, or saved byte-stably with every key kept", () => {
  let refused = 0;
  let opened = 0;
  for (let seed = 1; seed <= 700; seed++) {
    const r = rng(seed);
    const bytes = mutate(r);
    let nb: Notebook;
    try {
      nb = parseNotebook(bytes, "hostile.fernb");
    } catch (e) {
      assert.ok(e instanceof NotebookFormatError, `seed ${seed}: a NotebookFormatError, not ${(e as Error).name}: ${(e as Error).message}`);
      assert.match(e.message, /^hostile\.fernb is not a valid fernb notebook: [^]+ The file was left unchanged\.$/, `seed ${seed}`);
      assert.ok(e.message.length < 2000, `seed ${seed}: a readable message (${e.message.length} characters)`);
      refused++;
      continue;
    }
    opened++;
    let s1: Uint8Array;
    try {
      s1 = serializeNotebook(nb);
    } catch (e) {
      assert.fail(`seed ${seed}: the notebook opened but could not be saved: ${(e as Error).message}`);
    }
    const nb1 = parseNotebook(s1, "saved.fernb");
    const s2 = serializeNotebook(nb1);
    assert.ok(Buffer.from(s1).equals(Buffer.from(s2)), `seed ${seed}: saving the saved file changes it`);
    assert.deepEqual(notebookKeyPaths(nb1), notebookKeyPaths(nb), `seed ${seed}: a metadata key vanished on save`);
    assert.equal(nb1.cells.length, nb.cells.length);
    nb.cells.forEach((c, i) => assert.equal(nb1.cells[i].source, c.source, `seed ${seed}: cell ${i} source`));
  }
  assert.ok(refused > 100 && opened > 100, `both outcomes generated (refused ${refused}, opened ${opened})`);
});

test("__proto__ and other special keys in notebook, cell and output metadata survive a save", () => {
  const text = JSON.stringify({
    fernb: 1,
    metadata: JSON.parse('{"__proto__": {"a": 1}, "constructor": 2}'),
    cells: [{ kind: "code", source: "1", metadata: JSON.parse('{"__proto__": {"polluted": true}}'), outputs: [{ items: [{ mime: "text/plain", text: "1" }], metadata: JSON.parse('{"__proto__": []}') }] }],
  });
  const nb = parseNotebook(enc.encode(text));
  const saved = dec.decode(serializeNotebook(nb));
  const back = JSON.parse(saved);
  assert.ok(Object.hasOwn(back.metadata, "__proto__") && Object.hasOwn(back.metadata, "constructor"), saved);
  assert.deepEqual(back.metadata.__proto__, { a: 1 });
  assert.ok(Object.hasOwn(back.cells[0].metadata, "__proto__"), `the cell's metadata is kept, not written as {}: ${saved}`);
  assert.deepEqual(back.cells[0].metadata.__proto__, { polluted: true });
  assert.ok(Object.hasOwn(back.cells[0].outputs[0].metadata, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype was polluted");
});

test("metadata nested 5,000 deep is refused when opened (line and column named), not after a run when saving", () => {
  const deep = `{"fernb": 1, "metadata": {}, "cells": [{"kind": "code", "source": "1", "metadata": ${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}]}`;
  assert.throws(() => parseNotebook(enc.encode(deep), "deep.fernb"), (e: Error) => e instanceof NotebookFormatError && /deep\.fernb is not a valid fernb notebook: it nests more than 100 levels .* \(at line 1, column \d+\)/.test(e.message));
  // Just inside the limit: it opens, saves and opens again.
  const inside = `{"fernb": 1, "metadata": {}, "cells": [{"kind": "code", "source": "1", "metadata": ${'{"a":'.repeat(MAX_NESTING - 3)}1${"}".repeat(MAX_NESTING - 3)}}]}`;
  const nb = parseNotebook(enc.encode(inside));
  assert.deepEqual(parseNotebook(serializeNotebook(nb)).cells[0].metadata, nb.cells[0].metadata);
  // Metadata made deep (or circular) in memory, e.g. by an extension, is a clear error when saving.
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.throws(() => serializeNotebook({ metadata: circular, cells: [] }), (e: Error) => e instanceof NotebookFormatError && /cannot be saved: .* nested more than/.test(e.message));
  let made: unknown = 1;
  for (let i = 0; i < 5000; i++) made = { a: made };
  assert.throws(() => serializeNotebook({ metadata: {}, cells: [{ kind: "code", language: "typescript", source: "", metadata: made as Record<string, unknown> }] }), (e: Error) => e instanceof NotebookFormatError && /cells\[0\]\.metadata is nested more than/.test(e.message));
});

test("a number JSON reads as Infinity (1e999) is refused when opened: it could not be written back", () => {
  assert.throws(() => parseNotebook(enc.encode('{"fernb": 1, "cells": [{"kind": "code", "source": "", "execution": {"order": 1e999}}]}')), /cells\[0\]\.execution\.order holds a number too large/);
});

test("duplicate keys, unknown fields and items with two kinds of data are refused when opened (saving would drop one without a word)", () => {
  const open = (text: string) => () => parseNotebook(enc.encode(text), "x.fernb");
  assert.throws(open('{"fernb": 1, "cells": [{"kind": "markdown", "kind": "code", "source": ""}]}'), /x\.fernb is not a valid fernb notebook: the key "kind" appears twice in one object \(at line 1, column 45\)/);
  assert.throws(open('{"fernb": 1, "metadata": {"a": {"b": 1, "b": 2}}, "cells": []}'), /the key "b" appears twice/);
  assert.throws(open('{"fernb": 1, "metadata": {"\\u0061": 1, "a": 2}, "cells": []}'), /the key "a" appears twice/, "keys compared after their escapes are read");
  // The same key in different objects, or a key-like string as a value, is fine.
  assert.doesNotThrow(open('{"fernb": 1, "metadata": {"a": {"a": "a"}, "b": ["a", {"a": 1}]}, "cells": [{"kind": "code", "source": "\\"kind\\": 1, \\"kind\\""}]}'));
  assert.throws(open('{"fernb": 1, "cells": [{"kind": "code", "source": "", "attachments": {}}]}'), /cells\[0\] has a field "attachments" that fernb does not know/);
  assert.throws(open('{"fernb": 1, "cells": [], "nbformat": 4}'), /the document has a field "nbformat"/);
  assert.throws(open('{"fernb": 1, "cells": [{"kind": "code", "source": "", "execution": {"order": 1, "duration": 2}}]}'), /cells\[0\]\.execution has a field "duration"/);
  assert.throws(open('{"fernb": 1, "cells": [{"kind": "code", "source": "", "outputs": [{"items": [{"mime": "text/plain", "text": "a", "base64": "YQ=="}]}]}]}'), /has both "text" and "base64"/);
  assert.throws(open('{"fernb": 2, "cells": [], "newField": 1}'), /written by a newer fernb/, "a newer version is named as such, not as an unknown field");
});

test("the HTML report: an output's JSON cannot end its script element or switch the HTML parser's state", () => {
  const spec = { title: "<!--<script>x</script>-->", mark: "bar", data: { values: [{ a: "</script><script>alert(1)</script>" }] } };
  const nb: Notebook = { metadata: {}, cells: [{ kind: "code", language: "typescript", source: "", outputs: [{ items: [{ mime: "application/vnd.fernb.chart+json", data: enc.encode(JSON.stringify(spec)) }] }] }] };
  const html = renderHtmlReport(nb, { title: "t", extensionRoot: process.cwd() });
  const m = /<div class="output custom"[^>]*><script type="application\/json">([^]*?)<\/script><\/div>/.exec(html);
  assert.ok(m, "the output's script element");
  assert.ok(!m[1].includes("<"), `no "<" inside the payload: ${m[1]}`);
  assert.deepEqual(JSON.parse(m[1]), spec, "the same JSON");
});

// ---- renderer messages ----------------------------------------------------------------------------

type Editor = { id: string };

function bridgeHarness() {
  let listener: ((e: { editor: Editor; message: unknown }) => unknown) | undefined;
  const posted: { message: Record<string, unknown>; editor?: Editor }[] = [];
  const forwarded: unknown[] = [];
  const messaging = {
    onDidReceiveMessage(l: (e: { editor: Editor; message: unknown }) => unknown) {
      listener = l;
      return { dispose() {} };
    },
    postMessage(message: unknown, editor?: Editor) {
      posted.push({ message: message as Record<string, unknown>, editor });
      return Promise.resolve(true);
    },
  };
  const client = {
    // The real client sends over Node IPC with the "advanced" (v8) serialization: do the same.
    sendRendererMessage(_id: string, message: unknown) {
      v8Serialize({ type: "renderer-message", rendererId: "fernb-review", message });
      forwarded.push(message);
      return true;
    },
    onRendererReply() {
      return () => undefined;
    },
  };
  const bridge = new RendererBridge<Editor>("fernb-review", messaging, () => client as never, () => []);
  return { send: (message: unknown) => listener!({ editor: { id: "e" }, message }), posted, forwarded, bridge };
}

function deepMessage(depth: number): unknown {
  let v: unknown = { requestId: 1 };
  for (let i = 0; i < depth; i++) v = { action: "relabel", requestId: 7, reviewId: "r", nested: v };
  return v;
}

test("a renderer message nested 10,000 levels deep gets an error reply; the bridge's listener does not throw", async () => {
  const h = bridgeHarness();
  assert.doesNotThrow(() => h.send(deepMessage(10_000)));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.forwarded.length, 0, "not forwarded to the kernel");
  assert.equal(h.posted.length, 1, "one reply");
  assert.equal(h.posted[0].message.ok, false);
  assert.match(String(h.posted[0].message.error), /refused: the message is nested more than 32 levels deep/);
  assert.equal(h.posted[0].message.requestId, 7, "the reply carries the requestId, so the renderer can match it");
  h.bridge.dispose();
});

function randomMessage(r: () => number): unknown {
  const k = Math.floor(r() * 10);
  const review = { action: ["relabel", "exclude", "undo", "gradcam"][Math.floor(r() * 4)], reviewId: "rv-1", requestId: Math.floor(r() * 100), path: "happy/x.png", label: "sadness" };
  switch (k) {
    case 0: return review;
    case 1: return deepMessage(Math.floor(r() * 20_000));
    case 2: return { ...review, blob: "z".repeat(Math.floor(r() * 3_000_000)) };
    case 3: return { ...review, list: new Array(Math.floor(r() * 400_000)).fill(0) };
    case 4: { const o: Record<string, unknown> = { ...review }; o.self = o; return o; }
    case 5: return { ...review, big: 10n };
    case 6: return { ...review, fn: () => 1 };
    case 7: return { ...review, when: new Date(0), m: new Map([[1, 2]]) };
    case 8: return [null, undefined, 1, "x", { __proto__: null, a: 1 }][Math.floor(r() * 5)];
    default: return nested(Math.floor(r() * 60), review, r);
  }
}

test("generated malformed renderer messages: each is forwarded or answered with one error reply, never a throw", async () => {
  const h = bridgeHarness();
  let refused = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed * 7919);
    const message = randomMessage(r);
    const before = { posted: h.posted.length, forwarded: h.forwarded.length };
    assert.doesNotThrow(() => h.send(message), `seed ${seed}`);
    await new Promise((res) => setImmediate(res));
    const replies = h.posted.slice(before.posted);
    const forwards = h.forwarded.length - before.forwarded;
    assert.equal(replies.length + forwards, 1, `seed ${seed}: exactly one of forward or reply (${replies.length} replies, ${forwards} forwards)`);
    if (replies.length === 1) {
      refused++;
      assert.equal(replies[0].message.ok, false, `seed ${seed}`);
      assert.match(String(replies[0].message.error), /^The message was refused: /, `seed ${seed}`);
    } else {
      assert.equal(checkMessageShape(message, RENDERER_MESSAGE_LIMITS), undefined, `seed ${seed}: only messages within the bounds are forwarded`);
    }
  }
  assert.ok(refused > 50 && refused < 200, `both outcomes generated (${refused} refused)`);
  h.bridge.dispose();
});

test("kernel side: generated malformed renderer messages get an { ok: false } reply that can be sent back, never a throw", async () => {
  for (let seed = 1; seed <= 120; seed++) {
    const message = randomMessage(rng(seed * 104729));
    const reply = (await handleReviewRendererMessage(message)) as { ok: boolean; error?: string };
    assert.equal(reply.ok, false, `seed ${seed}: no review is open, so nothing can succeed`);
    assert.equal(typeof reply.error, "string", `seed ${seed}`);
    assert.doesNotThrow(() => v8Serialize(reply), `seed ${seed}: the reply can cross the IPC channel`);
  }
});

test("checkMessageShape: bounds depth and size without recursion, accepts plain data", () => {
  assert.equal(checkMessageShape({ action: "relabel", path: "a/b.png", requestId: 1, list: [1, "x", null, true] }), undefined);
  assert.equal(checkMessageShape(new Uint8Array(10)), undefined);
  assert.match(checkMessageShape(deepMessage(1_000_000))!, /nested more than 32 levels/);
  assert.match(checkMessageShape({ s: "x".repeat(2 << 20) })!, /larger than/);
  assert.match(checkMessageShape(new Array(1e6).fill(1))!, /larger than/);
  assert.match(checkMessageShape({ d: new Date() })!, /not plain data/);
  assert.match(checkMessageShape({ f: Symbol("x") })!, /symbol/);
});

// ---- command lines -----------------------------------------------------------------------------

test("generated command lines: parseArgs returns only known options with values, or a UsageError", () => {
  const spec: Record<string, FlagSpec> = { out: { value: true }, html: { value: true }, json: { value: false }, limit: { value: true }, tta: { value: true } };
  const tokens = ["--out", "--html", "--json", "--tta", "--limit", "-1", "--", "x.fernb", "--bogus", "--out=", "--json=1", "--__proto__", "--constructor", "--toString", "-h", "", "=", "--=x", "--out=a=b", "flip", "-", "--LIMIT", "--limit=3"];
  let ok = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const r = rng(seed);
    const argv = Array.from({ length: Math.floor(r() * 6) }, () => tokens[Math.floor(r() * tokens.length)]);
    let parsed;
    try {
      parsed = parseArgs("run", argv, spec);
    } catch (e) {
      assert.ok(e instanceof UsageError, `${JSON.stringify(argv)}: ${(e as Error).message}`);
      continue;
    }
    ok++;
    assert.equal(Object.getPrototypeOf(parsed.flags), null);
    for (const [name, value] of Object.entries(parsed.flags)) {
      assert.ok(Object.hasOwn(spec, name), `${JSON.stringify(argv)}: unknown option ${name} accepted`);
      if (spec[name].value) assert.ok(typeof value === "string" && value !== "", `${JSON.stringify(argv)}: --${name} without a value`);
      else assert.equal(value, true);
    }
  }
  assert.ok(ok > 100, `some command lines are valid (${ok})`);
  assert.throws(() => parseArgs("audit", ["--limit"], spec), /--limit needs a value/);
  assert.throws(() => parseArgs("evaluate", ["--tta", "--json"], spec), /--tta needs a value/);
  assert.throws(() => parseArgs("run", ["--out", "a", "--out", "b"], spec), /--out is given more than once/);
  assert.throws(() => parseArgs("run", ["--__proto__", "x"], spec), /Unknown option "--__proto__"/);
});
