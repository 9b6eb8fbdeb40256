#!/usr/bin/env node
// The `fernb` command: the CLI is bundled by `npm run build` (run by `npm ci` through `prepare`).
const path = require("node:path");
const fs = require("node:fs");
const cli = path.join(__dirname, "..", "dist", "cli.js");
if (!fs.existsSync(cli)) {
  console.error("fernb is not built yet: run `npm run build` in " + path.dirname(__dirname));
  process.exit(2);
}
require(cli);
