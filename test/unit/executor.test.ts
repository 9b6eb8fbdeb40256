import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CellExecutor } from "../../kernel/executor";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writePackage(dir: string, declarations: string, js: string): void {
  const pkg = path.join(dir, "node_modules", "churn");
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "churn", main: "index.js", types: "index.d.ts" }));
  fs.writeFileSync(path.join(pkg, "index.d.ts"), declarations);
  fs.writeFileSync(path.join(pkg, "index.js"), js);
}

test("a package reinstalled while the kernel runs raises no background error, and the next cell sees the new types", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-exec-"));
  const cwd = process.cwd();
  const uncaught: string[] = [];
  let executor: CellExecutor | undefined;
  const onUncaught = (e: unknown) => uncaught.push(e instanceof Error ? e.message : String(e));
  process.on("uncaughtException", onUncaught);
  try {
    writePackage(dir, "export declare const a: number;", "exports.a = 1;");
    process.chdir(dir);
    executor = new CellExecutor({ rootDir: dir, preludeDeclarations: "", preludeValues: {} });
    const first = await executor.execute(`import { a } from "churn"; a`, "cell 1");
    assert.equal(first.value, 1);
    // As `npm install` does: the package folder disappears and comes back, several times, with no cell run between.
    for (let i = 0; i < 3; i++) {
      fs.rmSync(path.join(dir, "node_modules"), { recursive: true });
      await sleep(250);
      writePackage(dir, "export declare const a: number;\nexport declare const b: string;", "exports.a = 1; exports.b = 'new';");
      await sleep(500);
    }
    // Type checking sees the new declaration (the module itself stays cached by Node, as in any REPL).
    const second = await executor.execute(`import { b } from "churn"; const s: string = b; typeof s`, "cell 2");
    assert.equal(second.ok, true, JSON.stringify(second.error));
    const third = await executor.execute(`import { c } from "churn"; c`, "cell 3");
    assert.equal(third.ok, false);
    assert.match(third.error?.message ?? "", /no exported member named 'c'|has no exported member 'c'/);
    assert.deepEqual(uncaught, []);
  } finally {
    executor?.close();
    process.off("uncaughtException", onUncaught);
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
