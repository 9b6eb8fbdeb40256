#!/usr/bin/env node
// The `fernb` command: the CLI is bundled by `npm run build` (run by `npm ci` through `prepare`).
// No process.exit here: the exit code is set and output is left to drain (a pipe must get all of it).
const path = require("node:path");
const fs = require("node:fs");
const cli = path.join(__dirname, "..", "dist", "cli.js");
if (!fs.existsSync(cli)) {
  console.error("fernb is not built yet: run `npm run build` in " + path.dirname(__dirname));
  process.exitCode = 2;
} else {
  require(cli);
}
