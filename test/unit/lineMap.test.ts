import { test } from "node:test";
import assert from "node:assert/strict";
import { createConverter } from "tslab/dist/converter";
import { createLineMap } from "../../kernel/lineMap";

test("maps converter output lines back to TypeScript source lines", () => {
  const source = [
    "interface P { x: number; y: number }", // 1
    "const p: P = { x: 1, y: 2 };", // 2
    "", // 3
    "function norm(q: P): number {", // 4
    "  // a comment", // 5
    "  return Math.sqrt(q.x * q.x + q.y * q.y);", // 6
    "}", // 7
    "let total: number = 0;", // 8
    "for (let i = 0; i < 3; i++) {", // 9
    "  total += norm(p);", // 10
    "}", // 11
    'throw new Error("at line 12");', // 12
  ].join("\n");
  const converter = createConverter();
  try {
    const { output, diagnostics } = converter.convert("", source);
    assert.deepEqual(diagnostics, []);
    const map = createLineMap(source, output!);
    const outLines = output!.split("\n");
    const find = (needle: string) => outLines.findIndex((l) => l.includes(needle)) + 1;
    assert.equal(map(find("Math.sqrt")), 6);
    assert.equal(map(find("total += norm")), 10);
    assert.equal(map(find("at line 12")), 12);
    assert.equal(map(find("const p =")), 2);
    // Lines the converter inserts map to the statement before them.
    assert.equal(map(find("exports.total = total")), 8);
  } finally {
    converter.close();
  }
});

test("out-of-range lines are clamped", () => {
  const map = createLineMap("a();\nb();", "a();\nb();");
  assert.equal(map(0), 1);
  assert.equal(map(99), 2);
});
