/**
 * The fast path (native OpenBLAS kernels) is announced when it is missing: the backend line, which
 * the training cell, `npm start`, the CLI and the status bar show, names the one command that
 * installs it; FERNB_NATIVE=0 (a deliberate choice) is not reported as missing.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { FAST_PATH_COMMAND, fastPathMissing } from "../../kernel/fer/backend";

test("a missing native addon is reported with its reason and the install command", () => {
  const saved = process.env.FERNB_NATIVE;
  delete process.env.FERNB_NATIVE;
  try {
    const notice = fastPathMissing("not built (no dist/native/fernb_native.node)", true);
    assert.ok(notice, "a notice is given");
    assert.match(notice!, /fast path missing/);
    assert.match(notice!, /not built \(no dist\/native\/fernb_native\.node\)/);
    assert.ok(notice!.endsWith(FAST_PATH_COMMAND), notice);
    assert.match(FAST_PATH_COMMAND, /setup\.sh && npm run build$/);
  } finally {
    if (saved !== undefined) process.env.FERNB_NATIVE = saved;
  }
});

test("an installed package without the addon says where the fast path exists", () => {
  const saved = process.env.FERNB_NATIVE;
  delete process.env.FERNB_NATIVE;
  try {
    const notice = fastPathMissing("not built", false)!;
    assert.match(notice, /prebuilt only in the linux-x64 package/);
    assert.match(notice, /build fernb from its source/);
    // This checkout carries the source, so the default says to install it here.
    assert.match(fastPathMissing("not built")!, /Install it with: /);
  } finally {
    if (saved !== undefined) process.env.FERNB_NATIVE = saved;
  }
});

test("FERNB_NATIVE=0 turns the native kernels off without a warning", () => {
  const saved = process.env.FERNB_NATIVE;
  process.env.FERNB_NATIVE = "0";
  try {
    assert.equal(fastPathMissing("turned off (FERNB_NATIVE=0)"), undefined);
  } finally {
    if (saved === undefined) delete process.env.FERNB_NATIVE;
    else process.env.FERNB_NATIVE = saved;
  }
});
