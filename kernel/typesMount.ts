/**
 * How `<any folder>/node_modules/<name>` is mounted onto a declarations folder for the type checker,
 * as if it were a symlink: both the kernel (kernel/executor.ts, through ts.sys) and the editor's
 * language service (extension/language/host.ts) map paths with this, so an `import … from "fernb"`
 * is typed the same in both. No imports: the extension bundle includes it without kernel code.
 */

/** A path mapper: a path inside `<any folder>/node_modules/<name>` goes to the same place under `mounts[name]`; others stay as they are. */
export function createMount(mounts: Record<string, string>): (p: string) => string {
  const entries = Object.entries(mounts).map(([name, dir]) => [`/node_modules/${name}`, dir.replace(/\\/g, "/")] as const);
  return (p) => {
    const norm = p.replace(/\\/g, "/");
    for (const [marker, dir] of entries) {
      const i = norm.indexOf(marker);
      if (i < 0) continue;
      const rest = norm.slice(i + marker.length);
      if (rest === "" || rest.startsWith("/")) return dir + rest;
    }
    return p;
  };
}
