// What a kernel build depends on, and the content keys derived from it. Two keys:
//  - the build-tree key (source + fragment + compiler): one persistent tree shared by every
//    variant built from the same source, so the second kernel of a pair is an incremental build;
//  - the kernel key (tree inputs + localversion + the variant's patches' contents): one cache
//    entry holding a bzImage and its .config.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { contentKey } from '../util/cache.js';
import { projectRoot } from '../util/paths.js';
import { capture } from './proc.js';

/** Bump when the recipe (commands, environment, layout of the entries) changes. */
export const KERNEL_RECIPE_VERSION = 'kph-kernel-recipe-1';
/** buildKernels' source when it is given none (the kernel descriptions always give theirs). */
export const DEFAULT_TARBALL = '/usr/src/linux-source-6.1.tar.xz';
export const DEFAULT_SOURCE_PACKAGE = 'linux-source-6.1';
/** The Kconfig fragment merged on top of tinyconfig when a description or a build names none. */
export const DEFAULT_FRAGMENT = path.join(projectRoot, 'kernels', 'config', 'kph.config');

export interface SourceSpec {
  /** Kernel source tarball (one top-level directory). */
  tarball: string;
  /** Debian package that ships it; its version goes into the key ("not-installed" if dpkg does not know it). */
  sourcePackage: string;
}

/** Everything shared by the variants of one buildKernels call. */
export interface CommonInputs {
  source: SourceSpec;
  /** e.g. "linux-source-6.1=6.1.192-2 linux-source-6.1.tar.xz size=138009412 mtime=1763288220000" */
  sourceId: string;
  fragmentPath: string;
  fragmentText: string;
  /** First line of `gcc --version`. */
  compiler: string;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const dpkgMemo = new Map<string, Promise<string>>();
let gccMemo: Promise<string> | undefined;

async function dpkgVersion(pkg: string, stamp: string): Promise<string> {
  const memoKey = `${pkg}\0${stamp}`;
  let p = dpkgMemo.get(memoKey);
  if (!p) {
    p = capture('dpkg-query', ['-W', '-f=${Version}', pkg]).then(
      (r) => r.stdout.trim() || 'unknown',
      () => 'not-installed',
    );
    dpkgMemo.set(memoKey, p);
  }
  return p;
}

/** Package version plus tarball name, size and mtime (a stat, not a hash: cheap on every call). */
export async function sourceIdentity(spec: SourceSpec): Promise<string> {
  const st = await fs.stat(spec.tarball);
  const mtime = Math.floor(st.mtimeMs);
  const version = await dpkgVersion(spec.sourcePackage, `${spec.tarball}:${st.size}:${mtime}`);
  return `${spec.sourcePackage}=${version} ${path.basename(spec.tarball)} size=${st.size} mtime=${mtime}`;
}

/** First line of `gcc --version` (the builder always compiles with the host's gcc). */
export function compilerIdentity(): Promise<string> {
  gccMemo ??= capture('gcc', ['--version']).then((r) => r.stdout.split('\n')[0].trim());
  // A failure should not stick for the life of the process.
  gccMemo.catch(() => {
    gccMemo = undefined;
  });
  return gccMemo;
}

export async function commonInputs(fragmentPath: string, source: SourceSpec): Promise<CommonInputs> {
  const [sourceId, fragmentText, compiler] = await Promise.all([
    sourceIdentity(source),
    fs.readFile(fragmentPath, 'utf8'),
    compilerIdentity(),
  ]);
  return { source, sourceId, fragmentPath, fragmentText, compiler };
}

/** Key of the persistent build tree: source + fragment + compiler. */
export function treeKey(c: CommonInputs): string {
  return contentKey([KERNEL_RECIPE_VERSION, 'tree', c.sourceId, c.fragmentText, c.compiler]);
}

/** Key of one kernel: the tree's inputs plus localversion and the patches' contents, in order. */
export function kernelKey(c: CommonInputs, localversion: string, patchContents: readonly Buffer[]): string {
  return contentKey([
    KERNEL_RECIPE_VERSION,
    'kernel',
    c.sourceId,
    c.fragmentText,
    c.compiler,
    localversion,
    String(patchContents.length),
    ...patchContents,
  ]);
}
