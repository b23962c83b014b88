// The kernels of a run: the embedded default pair, or the descriptions named by --kernels
// (kernels/<name>.yaml), each built (or found in the cache, or taken as a prebuilt bzImage).
import { buildKernels, KernelBuildError, type BuiltKernel } from './build.js';
import { defaultPair } from './defaults.js';
import { buildGitKernel, resolveGit } from './git.js';
import { prebuiltKernel } from './prebuilt.js';
import { loadKernelSpecs, type KernelSpec } from './spec.js';

export interface SelectionBuildOptions {
  logDir: string;
  signal?: AbortSignal;
  onProgress?: (variant: string, message: string) => void;
}

/** A Debian package a selected kernel needs, and why (for provisioning's message). */
export interface NeededPackage { name: string; why: string }

export interface KernelSelection {
  /** Kernel names, in the order of the results. */
  names: string[];
  /** The Debian source packages the kernels are built from (provisioned like every other package). */
  packages: NeededPackage[];
  /** Builds every kernel (nothing when cached); results in `names` order. Throws KernelBuildError. */
  build: (opts: SelectionBuildOptions) => Promise<BuiltKernel[]>;
}

/** Builds one described kernel. */
export async function buildSpec(spec: KernelSpec, opts: SelectionBuildOptions): Promise<BuiltKernel> {
  const progress = (m: string): void => opts.onProgress?.(spec.name, m);
  const s = spec.source;
  switch (s.kind) {
    case 'bzImage':
      return prebuiltKernel({ name: spec.name, profile: spec.profile, bzImage: s.path, release: s.release, logDir: opts.logDir });
    case 'debian': {
      const variant = { name: spec.name, localversion: spec.localversion ?? '', patches: spec.patches, profile: spec.profile };
      const [k] = await buildKernels({ variants: [variant], logDir: opts.logDir, signal: opts.signal, onProgress: opts.onProgress, fragment: spec.fragment, tarball: s.tarball, sourcePackage: s.package });
      return k;
    }
    case 'git': {
      const source = await resolveGit(s.repo, s.ref);
      return buildGitKernel({
        name: spec.name, profile: spec.profile, localversion: spec.localversion ?? '', source, patches: spec.patches, fragment: spec.fragment,
        logDir: opts.logDir, signal: opts.signal, onProgress: progress,
      });
    }
  }
}

/** Every Debian source package the descriptions name, once each, with the kernels that need it. */
export function sourcePackages(specs: readonly KernelSpec[]): NeededPackage[] {
  const users = new Map<string, string[]>();
  for (const s of specs) if (s.source.kind === 'debian') users.set(s.source.package, [...(users.get(s.source.package) ?? []), `${s.name} (${s.file})`]);
  return [...users].map(([name, ks]) => ({ name, why: `the source of kernel ${ks.join(', ')}` }));
}

/**
 * The default pair when `names` is undefined (the same buildKernels call, so the same cache
 * entries as ever), else the named descriptions. Descriptions are loaded (and checked) now.
 */
export function kernelSelection(names?: readonly string[]): KernelSelection {
  if (!names) {
    const variants = defaultPair();
    return { names: variants.map((v) => v.name), packages: [], build: (o) => buildKernels({ variants, ...o }) };
  }
  const specs = loadKernelSpecs(names);
  return {
    names: specs.map((s) => s.name),
    packages: sourcePackages(specs),
    async build(opts) {
      // Unpatched kernels first: a following patched one of the same source is then incremental.
      const order = [...specs.keys()].sort((a, b) => specs[a].patches.length - specs[b].patches.length);
      const built = new Array<BuiltKernel>(specs.length);
      for (const i of order) {
        opts.signal?.throwIfAborted();
        try {
          built[i] = await buildSpec(specs[i], opts);
        } catch (e) {
          if (opts.signal?.aborted || e instanceof KernelBuildError) throw e;
          throw new Error(`kernel ${specs[i].name} (${specs[i].file}): ${(e as Error).message}`, { cause: e });
        }
      }
      return built;
    },
  };
}
