// Each kernel's selftests, built from that kernel's own source tree (kernel/source.ts's
// SourceTree): once per distinct tree, shared by the kernels built from it (the after/before
// pair share the 6.1 tarball). A prebuilt kernel has no tree, so none.
import fs from 'node:fs';
import type { SourceTree } from '../kernel/source.js';
import { buildSelftest, type BuiltSelftest } from './build.js';
import { knownSelftests } from './known.js';

/** The selftests `names` for each kernel with a source tree, by kernel name (sequential: one gcc at a time). */
export async function selftestsPerKernel(kernels: ReadonlyArray<{ name: string; tree?: SourceTree }>, names: readonly string[], logDir: string): Promise<Map<string, BuiltSelftest[]>> {
  const out = new Map<string, BuiltSelftest[]>();
  if (!names.length) return out;
  const byTree = new Map<string, BuiltSelftest[]>();
  for (const k of kernels) {
    if (!k.tree) continue;
    const key = JSON.stringify(k.tree);
    let built = byTree.get(key);
    if (!built) {
      built = [];
      for (const n of names) built.push(await buildSelftest(n, k.tree, logDir));
      byTree.set(key, built);
    }
    out.set(k.name, built);
  }
  return out;
}

/** The selftests each tarball among `trees` has, when it is installed (git trees are not listed: their selftests are checked when built). */
export async function knownSelftestsOf(trees: readonly SourceTree[]): Promise<Array<{ tarball: string; known: Set<string> }>> {
  const tarballs = [...new Map(trees.flatMap((t) => ('tarball' in t && fs.existsSync(t.tarball) ? [[t.tarball, t] as const] : []))).values()];
  return Promise.all(tarballs.map(async (t) => ({ tarball: t.tarball, known: await knownSelftests(t) })));
}
