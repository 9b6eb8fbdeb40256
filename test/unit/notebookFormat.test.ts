import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { NotebookFormatError, parseNotebook, serializeNotebook, type Notebook } from "../../extension/notebookFormat";

const enc = new TextEncoder();
const dec = new TextDecoder();
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 255, 254]);

const sample: Notebook = {
  metadata: { zeta: 1, alpha: { b: 2, a: [3, { y: 1, x: 2 }] } },
  cells: [
    { kind: "markdown", language: "markdown", source: "# Title\n\nSome *text*." },
    {
      kind: "code",
      language: "typescript",
      source: "const a = 1;\nconsole.log(a);\n",
      metadata: { tags: ["x"] },
      execution: { order: 3, success: true, startTime: 1000, endTime: 1500 },
      outputs: [
        { items: [{ mime: "application/vnd.code.notebook.stdout", data: enc.encode("1\n2\n") }] },
        { items: [{ mime: "image/png", data: png }, { mime: "text/plain", data: enc.encode("\uFEFFwith BOM") }], metadata: { k: "v" } },
        { items: [{ mime: "application/vnd.fernb.chart+json", data: enc.encode('{"mark":"bar"}') }] },
      ],
    },
    { kind: "code", language: "typescript", source: "" },
  ],
};

test("serialize → parse round-trips cells, metadata and outputs exactly", () => {
  const back = parseNotebook(serializeNotebook(sample));
  assert.deepEqual(back.metadata, sample.metadata);
  assert.equal(back.cells.length, 3);
  assert.deepEqual(back.cells[0], sample.cells[0]);
  assert.equal(back.cells[1].source, sample.cells[1].source);
  assert.deepEqual(back.cells[1].metadata, sample.cells[1].metadata);
  assert.deepEqual(back.cells[1].execution, sample.cells[1].execution);
  const outs = back.cells[1].outputs!;
  assert.equal(outs.length, 3);
  assert.deepEqual([...outs[1].items[0].data], [...png], "binary output bytes survive");
  assert.deepEqual([...outs[1].items[1].data], [...enc.encode("\uFEFFwith BOM")], "text bytes survive, BOM included");
  assert.equal(dec.decode(outs[0].items[0].data), "1\n2\n");
  assert.deepEqual(outs[1].metadata, { k: "v" });
  assert.equal(back.cells[2].source, "");
});

test("serialization is stable: pretty-printed, sorted metadata keys, trailing newline, byte-identical", () => {
  const first = serializeNotebook(sample);
  const second = serializeNotebook(parseNotebook(first));
  assert.equal(dec.decode(second), dec.decode(first));
  const text = dec.decode(first);
  assert.ok(text.endsWith("}\n"));
  assert.ok(text.includes('\n  "cells": ['), "two-space indentation");
  assert.ok(text.indexOf('"alpha"') < text.indexOf('"zeta"'), "metadata keys sorted");
  assert.ok(text.includes('"const a = 1;\\n",'), "source stored as lines");
  assert.ok(text.includes('"base64": "iVBORw0KGgoAAAAN//4="'), "PNG stored as base64");
});

test("the shipped notebooks are in canonical form", () => {
  const names = [...readdirSync("notebooks").filter((f) => f.endsWith(".fernb")).map((f) => `notebooks/${f}`), "test/fixtures/e2e.fernb"];
  assert.ok(names.length >= 4);
  for (const name of names) {
    const bytes = readFileSync(name);
    assert.equal(dec.decode(serializeNotebook(parseNotebook(bytes))), dec.decode(bytes), `${name} is canonical`);
  }
});

test("an empty file is an empty notebook", () => {
  assert.deepEqual(parseNotebook(new Uint8Array()), { metadata: {}, cells: [] });
  assert.deepEqual(parseNotebook(enc.encode("  \n")), { metadata: {}, cells: [] });
});

test("plain string sources are accepted", () => {
  const nb = parseNotebook(enc.encode('{"fernb":1,"cells":[{"kind":"code","source":"x"}]}'));
  assert.equal(nb.cells[0].source, "x");
  assert.equal(nb.cells[0].language, "typescript");
});

function rejects(text: string | Uint8Array, pattern: RegExp): void {
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  assert.throws(
    () => parseNotebook(bytes, "demo.fernb"),
    (e: unknown) => {
      assert.ok(e instanceof NotebookFormatError, "a NotebookFormatError");
      assert.match(e.message, /^demo\.fernb is not a valid fernb notebook: /);
      assert.match(e.message, pattern);
      assert.match(e.message, /The file was left unchanged\.$/);
      return true;
    },
  );
}

test("a truncated file gets a clear error", () => {
  const full = dec.decode(serializeNotebook(sample));
  rejects(full.slice(0, Math.floor(full.length / 2)), /(ends too early|line \d+, column \d+)/);
});

test("malformed notebooks get errors that say what and where", () => {
  rejects("{ not json", /line 1, column \d+/);
  rejects("[1,2]", /the document must be a JSON object/);
  rejects('{"cells":[]}', /no "fernb" version field/);
  rejects('{"fernb":99,"cells":[]}', /version 99, written by a newer fernb/);
  rejects('{"fernb":1,"cells":{}}', /"cells" must be an array/);
  rejects('{"fernb":1,"cells":[{"kind":"python","source":""}]}', /cells\[0\]\.kind must be "code" or "markdown"/);
  rejects('{"fernb":1,"cells":[{"kind":"code","source":3}]}', /cells\[0\]\.source must be a string/);
  rejects('{"fernb":1,"cells":[{"kind":"code","source":"","outputs":[{"items":[{"mime":"x/y"}]}]}]}', /cells\[0\]\.outputs\[0\]\.items\[0\] needs "text" or "base64"/);
  rejects('{"fernb":1,"cells":[{"kind":"code","source":"","outputs":[{"items":[{"mime":"x/y","base64":"%%"}]}]}]}', /base64/);
  rejects(new Uint8Array([0xff, 0xfe, 0x00]), /not UTF-8/);
});
