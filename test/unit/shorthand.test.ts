import { test } from "node:test";
import assert from "node:assert/strict";
import { expandShorthandProperties } from "../../kernel/shorthand";

test("expands shorthand properties, including in destructuring assignments, and nothing else", () => {
  assert.equal(expandShorthandProperties("const o = { a, b: 1, c };"), "const o = { a: a, b: 1, c: c };");
  assert.equal(expandShorthandProperties("({ a = 2 } = x);"), "({ a: a = 2 } = x);");
  assert.equal(expandShorthandProperties("const { a, b } = x;\nf({ ...a });"), "const { a, b } = x;\nf({ ...a });");
  assert.equal(expandShorthandProperties("const s = '{ a }'; // { b }"), "const s = '{ a }'; // { b }");
  const multi = "f({\n  epochs,\n  lr: 1,\n});";
  assert.equal(expandShorthandProperties(multi).split("\n").length, multi.split("\n").length, "lines are kept");
});
