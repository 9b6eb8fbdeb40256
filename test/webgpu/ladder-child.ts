/**
 * Helper of adapter.test.ts (not a test): runs the backend ladder as the kernel does, with the
 * environment it was given, and prints the BackendInfo as one JSON line.
 */
import { initBackend } from "../../kernel/fer/backend";

initBackend().then(
  (info) => console.log(JSON.stringify(info)),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
