// Builds the kernels under test from a source tarball: `make tinyconfig` + the harness's Kconfig
// fragment, one cache entry (bzImage + .config) per variant, keyed by content. All variants
// share one persistent build tree (tree.ts), so the second kernel of a pair only recompiles
// what its patches change.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cacheEntry } from '../util/cache.js';
import { assertConfig, kconfigString, parseFragment, renderFragment, type KconfigEntry } from './config.js';
import {
  commonInputs,
  DEFAULT_FRAGMENT,
  DEFAULT_SOURCE_PACKAGE,
  DEFAULT_TARBALL,
  kernelKey,
  KERNEL_RECIPE_VERSION,
  sha256,
  treeKey,
  type CommonInputs,
} from './keys.js';
import { capture, dieWithParent } from './proc.js';
import { runLogged } from '../util/exec.js';
import { applyPatches, markBuilding, restorePristine, withBuildTree, type BuildTree, type TreeContext } from './tree.js';

export interface KernelVariant {
  /** 'after' | 'before' (any [a-z0-9][a-z0-9.-]*, e.g. a kernels/*.yaml name like debian-6.1-after). */
  name: string;
  /** e.g. '-kph-after'; makes `uname -r` name the variant. */
  localversion: string;
  /** Absolute paths, applied in order with patch -p1. */
  patches: string[];
  /** Oracle behaviour profile: 'pre-4b01a967' for before, '4b01a967+followup' for after. */
  profile: string;
}

export interface BuiltKernel {
  name: string;
  profile: string;
  /** Absolute path inside the cache. */
  bzImage: string;
  /** Exact expected `uname -r` (from `make -s kernelrelease`), e.g. '6.1.192-kph-after'. */
  release: string;
  /** The final .config, kept next to bzImage. */
  config: string;
  /** true when nothing was built. */
  cached: boolean;
  /** Wall time spent. */
  seconds: number;
  /** Build log (in logDir). */
  log: string;
}

export interface BuildOptions {
  variants: KernelVariant[];
  logDir: string;
  signal?: AbortSignal;
  onProgress?: (variant: string, message: string) => void;
  /** make -j; default: number of CPUs + 1. */
  jobs?: number;
  /** Kconfig fragment merged on top of tinyconfig; default kernels/config/kph.config. */
  fragment?: string;
  /** Source tarball; default /usr/src/linux-source-6.1.tar.xz. */
  tarball?: string;
  /** Debian package owning the tarball (its version goes into the cache key); default linux-source-6.1. */
  sourcePackage?: string;
}

/** A kernel could not be built. `tail` holds the last lines of the log. */
export class KernelBuildError extends Error {
  constructor(
    readonly variant: string,
    readonly log: string,
    readonly tail: string,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? 'failed');
    super(`kernel ${variant}: ${why}\n(log: ${log})\n--- last lines of the log ---\n${tail}`, options);
    this.name = 'KernelBuildError';
  }
}

/** Fixed build identity, so two builds of the same inputs give the same banner. */
export const BUILD_IDENTITY = {
  KBUILD_BUILD_TIMESTAMP: 'Mon Jan  1 00:00:00 UTC 2024',
  KBUILD_BUILD_USER: 'kph',
  KBUILD_BUILD_HOST: 'kph',
  KBUILD_BUILD_VERSION: '1',
} as const;

const ARCH = 'x86_64';
const BZIMAGE = 'arch/x86/boot/bzImage';
const PROGRESS_EVERY_MS = 5_000;
const TAIL_LINES = 40;

/** Environment for every make: no inherited make/kbuild settings, fixed identity. */
export function makeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'O', 'KBUILD_OUTPUT', 'KCONFIG_CONFIG', 'KCONFIG_ALLCONFIG', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES',
    'CROSS_COMPILE', 'CC', 'HOSTCC', 'LD', 'LLVM', 'KCFLAGS', 'KCPPFLAGS', 'KAFLAGS', 'KBUILD_EXTMOD', 'SUBARCH', 'KBUILD_ABS_SRCTREE',
  ]) {
    delete env[k];
  }
  // LOCALVERSION set but empty: setlocalversion then adds nothing (no "+" for a dirty git tree).
  return { ...env, ...BUILD_IDENTITY, ARCH, LOCALVERSION: '', LC_ALL: 'C' };
}

/** Throws when a variant's name, localversion or patch paths are unusable. */
export function validateVariant(v: KernelVariant): void {
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(v.name)) throw new Error(`kernel variant name ${JSON.stringify(v.name)} must match [a-z0-9][a-z0-9.-]*`);
  if (!/^[A-Za-z0-9._+-]*$/.test(v.localversion)) {
    throw new Error(`kernel ${v.name}: localversion ${JSON.stringify(v.localversion)} may only hold [A-Za-z0-9._+-]`);
  }
  for (const p of v.patches) if (!path.isAbsolute(p)) throw new Error(`kernel ${v.name}: patch path ${p} is not absolute`);
}

/** The fragment's entries plus the variant's CONFIG_LOCALVERSION (which overrides the fragment's). */
export function variantEntries(fragment: readonly KconfigEntry[], localversion: string): KconfigEntry[] {
  return [
    ...fragment.filter((e) => e.name !== 'CONFIG_LOCALVERSION'),
    { name: 'CONFIG_LOCALVERSION', value: kconfigString(localversion), line: 0 },
  ];
}

async function readPatches(v: KernelVariant): Promise<Buffer[]> {
  return Promise.all(
    v.patches.map((p) =>
      fs.readFile(p).catch((e: Error) => {
        throw new Error(`kernel ${v.name}: cannot read patch ${p}: ${e.message}`);
      }),
    ),
  );
}

export function resolveInputs(opts: Pick<BuildOptions, 'fragment' | 'tarball' | 'sourcePackage'>): Promise<CommonInputs> {
  return commonInputs(opts.fragment ?? DEFAULT_FRAGMENT, {
    tarball: opts.tarball ?? DEFAULT_TARBALL,
    sourcePackage: opts.sourcePackage ?? DEFAULT_SOURCE_PACKAGE,
  });
}

/** The two cache keys a variant maps to (for tests and diagnostics). */
export async function kernelCacheKeys(
  variant: KernelVariant,
  opts: Pick<BuildOptions, 'fragment' | 'tarball' | 'sourcePackage'> = {},
): Promise<{ tree: string; kernel: string }> {
  const c = await resolveInputs(opts);
  return { tree: treeKey(c), kernel: kernelKey(c, variant.localversion, await readPatches(variant)) };
}

export async function logTail(log: string): Promise<string> {
  const lines = (await fs.readFile(log, 'utf8').catch(() => '')).split('\n');
  // The first compiler error says why; what follows it (make's summary, the tree repair) does not.
  const firstError = lines.findIndex((l) => /\berror:|\*\*\* \[/.test(l));
  if (firstError >= 0) return lines.slice(Math.max(0, firstError - 5), firstError - 5 + TAIL_LINES).join('\n').trimEnd();
  return lines.slice(-TAIL_LINES - 1).join('\n').trimEnd();
}

/** Counts the CC lines of make's output and reports the count every few seconds. */
export function compileCounter(report: (m: string) => void): { onOutput: (chunk: string) => void; stop: () => void } {
  let rest = '';
  let count = 0;
  let reported = -1;
  const timer = setInterval(() => {
    if (count !== reported) {
      reported = count;
      report(`compiled ${count} objects`);
    }
  }, PROGRESS_EVERY_MS);
  timer.unref();
  return {
    onOutput(chunk) {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (/^\s*CC\s/.test(l)) count++;
    },
    stop() {
      clearInterval(timer);
      if (count !== reported) report(`compiled ${count} objects`);
    },
  };
}

interface VariantJob {
  v: KernelVariant;
  c: CommonInputs;
  fragment: KconfigEntry[];
  patches: Buffer[];
  jobs: number;
  log: string;
  signal?: AbortSignal;
  progress: (m: string) => void;
}

/** Configure + build in the (pristine, locked) tree, copy the results into `out`. */
async function buildInTree(tree: BuildTree, job: VariantJob, out: string): Promise<void> {
  const { v, c, log, signal, progress } = job;
  const env = makeEnv();
  const ctx: TreeContext = { log, signal, progress };
  const run = async (cmd: string, args: string[], onOutput?: (chunk: string) => void): Promise<void> => {
    const [bin, argv] = await dieWithParent(cmd, args);
    await runLogged(bin, argv, { cwd: tree.src, env, log, signal, onOutput });
  };
  try {
    await applyPatches(
      tree,
      v.patches.map((p, i) => ({ origin: p, content: job.patches[i] })),
      ctx,
    );
    // From here on make writes into the tree: an interruption makes the next user delete
    // whatever was written after the stamp (a half-written scripts/kconfig/conf included).
    await markBuilding(tree, true);

    progress(`configuring (tinyconfig + ${path.basename(c.fragmentPath)}, LOCALVERSION=${v.localversion})`);
    const wanted = variantEntries(job.fragment, v.localversion);
    const merged = path.join(tree.dir, `fragment-${v.name}.config`);
    await fs.writeFile(merged, renderFragment(wanted));
    await run('make', ['tinyconfig']);
    await run('scripts/kconfig/merge_config.sh', ['-m', '.config', merged]);
    await run('make', ['olddefconfig']);
    assertConfig(c.fragmentPath, wanted, await fs.readFile(path.join(tree.src, '.config'), 'utf8'));

    progress(`compiling bzImage (make -j${job.jobs})`);
    const counter = compileCounter(progress);
    try {
      await run('make', [`-j${job.jobs}`, 'bzImage'], counter.onOutput);
    } finally {
      counter.stop();
    }

    const release = (await capture('make', ['-s', 'kernelrelease'], { cwd: tree.src, env, signal })).stdout.trim();
    const recorded = (await fs.readFile(path.join(tree.src, 'include/config/kernel.release'), 'utf8')).trim();
    if (release !== recorded || !release.endsWith(v.localversion)) {
      throw new Error(`kernel release ${JSON.stringify(release)} (include/config/kernel.release: ${JSON.stringify(recorded)}) does not end with ${v.localversion}`);
    }
    const image = await fs.readFile(path.join(tree.src, BZIMAGE));
    // The real-mode setup code carries "<release> (<user>@<host>) #<n> ..." uncompressed.
    if (!image.includes(Buffer.from(`${release} (`))) throw new Error(`${BZIMAGE} does not contain the release string ${release}`);

    progress('copying bzImage and .config into the cache');
    await fs.writeFile(path.join(out, 'bzImage'), image);
    await fs.copyFile(path.join(tree.src, '.config'), path.join(out, 'config'));
    await fs.copyFile(path.join(tree.src, 'System.map'), path.join(out, 'System.map'));
    await fs.writeFile(path.join(out, 'release'), `${release}\n`);
    await fs.writeFile(
      path.join(out, 'build.json'),
      JSON.stringify(
        {
          recipe: KERNEL_RECIPE_VERSION,
          variant: v.name,
          profile: v.profile,
          localversion: v.localversion,
          release,
          source: c.sourceId,
          fragment: { path: c.fragmentPath, sha256: sha256(c.fragmentText) },
          compiler: c.compiler,
          patches: v.patches.map((p, i) => ({ path: p, sha256: sha256(job.patches[i]) })),
          buildTree: tree.dir,
          builtAt: new Date().toISOString(),
        },
        null,
        2,
      ) + '\n',
    );
    await markBuilding(tree, false);
  } finally {
    await restorePristine(tree, ctx);
  }
}

async function buildVariant(job: VariantJob): Promise<BuiltKernel> {
  const { v, c, log, progress } = job;
  const t0 = performance.now();
  const key = kernelKey(c, v.localversion, job.patches);
  let built = false;
  const entry = await cacheEntry('kernel', key, async (out) => {
    built = true;
    await fs.appendFile(
      log,
      `\n=== kernel ${v.name} (${v.localversion}) key ${key}: ${c.sourceId}; ${c.compiler}; fragment ${c.fragmentPath}; ` +
        `patches: ${v.patches.join(', ') || 'none'}; started ${new Date().toISOString()}\n`,
    );
    await withBuildTree(treeKey(c), c.source.tarball, { log, signal: job.signal, progress }, (tree) => buildInTree(tree, job, out));
  });
  const release = (await fs.readFile(path.join(entry.dir, 'release'), 'utf8')).trim();
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  if (!built) await fs.appendFile(log, `\n=== kernel ${v.name}: cached ${entry.dir} (${release})\n`);
  progress(built ? `built ${release} in ${seconds} s` : `cached ${release}`);
  return {
    name: v.name,
    profile: v.profile,
    bzImage: path.join(entry.dir, 'bzImage'),
    release,
    config: path.join(entry.dir, 'config'),
    cached: !built,
    seconds,
    log,
  };
}

/**
 * Builds (or finds in the cache) each variant, in order, and returns them in the same order.
 * Put the variant with no patches first: the tree is built once for it and each following
 * variant is an incremental build. Throws KernelBuildError when a kernel cannot be built.
 */
export async function buildKernels(opts: BuildOptions): Promise<BuiltKernel[]> {
  const names = new Set<string>();
  for (const v of opts.variants) {
    validateVariant(v);
    if (names.has(v.name)) throw new Error(`kernel variant ${v.name} is listed twice`);
    names.add(v.name);
  }
  await fs.mkdir(opts.logDir, { recursive: true });
  const c = await resolveInputs(opts);
  const fragment = parseFragment(c.fragmentText, c.fragmentPath);
  const jobs = opts.jobs ?? os.availableParallelism() + 1;
  const results: BuiltKernel[] = [];
  for (const v of opts.variants) {
    opts.signal?.throwIfAborted();
    const log = path.resolve(opts.logDir, `kernel-${v.name}.log`);
    const progress = (m: string): void => opts.onProgress?.(v.name, m);
    try {
      const patches = await readPatches(v);
      results.push(await buildVariant({ v, c, fragment, patches, jobs, log, signal: opts.signal, progress }));
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (e instanceof KernelBuildError) throw e;
      throw new KernelBuildError(v.name, log, await logTail(log), { cause: e });
    }
  }
  return results;
}
