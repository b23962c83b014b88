// The kernels of a run: the descriptions named by --kernels (kernels/<name>.yaml), or without
// it the default pair, which is just kernels/debian-6.1-after.yaml and debian-6.1-before.yaml
// (named "after" and "before" in results). Each description's source kind (kinds.ts) gives
// its facts and its build.
import { KernelBuildError } from './build.js';
import { SOURCE_KINDS } from './kinds.js';
import type { KernelFacts, KernelSource, SourceBuildOptions, SourceKind, SourcedKernel } from './source.js';
import { loadKernelSpecs, type KernelSpec } from './spec.js';

export type SelectionBuildOptions = SourceBuildOptions;

/** A Debian package a selected kernel needs, and why (for provisioning's message). */
export interface NeededPackage { name: string; why: string }

/** The run's kernels without --kernels: description file → the kernel's name in results. */
export const DEFAULT_KERNELS: ReadonlyArray<{ file: string; name: string }> = [
  { file: 'debian-6.1-after', name: 'after' },
  { file: 'debian-6.1-before', name: 'before' },
];

/** A selected kernel: its description and its source. */
export interface SelectedKernel { spec: KernelSpec; source: KernelSource }

export interface KernelSelection {
  /** Kernel names, in the order of the results. */
  names: string[];
  kernels: SelectedKernel[];
  /** The Debian source packages the kernels are built from (provisioned like every other package). */
  packages: NeededPackage[];
  /** Builds every kernel (nothing when cached); results in `names` order. Throws KernelBuildError. */
  build: (opts: SelectionBuildOptions) => Promise<SourcedKernel[]>;
  /** Each kernel's facts, by name (never throws). */
  facts: () => Promise<Record<string, KernelFacts>>;
}

/** The source of a loaded description, from its kind's file. */
export function openSource(spec: KernelSpec): KernelSource {
  const kind = SOURCE_KINDS.find((k) => k.kind === spec.source.kind) as unknown as SourceKind<KernelSpec['source']>;
  return kind.open(spec);
}

/** Every Debian source package the kernels need, once each, with the kernels that need it. */
function neededPackages(kernels: readonly SelectedKernel[]): NeededPackage[] {
  const users = new Map<string, string[]>();
  for (const k of kernels) for (const p of k.source.packages) users.set(p, [...(users.get(p) ?? []), `${k.spec.name} (${k.spec.file})`]);
  return [...users].map(([name, ks]) => ({ name, why: `the source of kernel ${ks.join(', ')}` }));
}

/** The loaded descriptions of a selection: the named ones, or the default pair under its short names. */
export function selectedSpecs(names?: readonly string[]): KernelSpec[] {
  if (names) return loadKernelSpecs(names);
  const specs = loadKernelSpecs(DEFAULT_KERNELS.map((k) => k.file));
  return specs.map((s, i) => ({ ...s, name: DEFAULT_KERNELS[i].name }));
}

/** The named descriptions (or the default pair when `names` is undefined), loaded and checked now. */
export function kernelSelection(names?: readonly string[]): KernelSelection {
  const specs = selectedSpecs(names);
  const kernels = specs.map((spec) => ({ spec, source: openSource(spec) }));
  return {
    names: specs.map((s) => s.name),
    kernels,
    packages: neededPackages(kernels),
    async build(opts) {
      // Unpatched kernels first: a following patched one of the same source is then incremental.
      const order = [...specs.keys()].sort((a, b) => specs[a].patches.length - specs[b].patches.length);
      const built = new Array<SourcedKernel>(specs.length);
      for (const i of order) {
        opts.signal?.throwIfAborted();
        try {
          built[i] = await kernels[i].source.build(opts);
        } catch (e) {
          if (opts.signal?.aborted || e instanceof KernelBuildError) throw e;
          throw new Error(`kernel ${specs[i].name} (${specs[i].file}): ${(e as Error).message}`, { cause: e });
        }
      }
      return built;
    },
    async facts() {
      const all = await Promise.all(kernels.map(async (k) => [k.spec.name, await k.source.facts()] as const));
      return Object.fromEntries(all);
    },
  };
}
