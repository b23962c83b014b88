// What every kind of kernel source (a Debian source package, a git tree, a prebuilt bzImage)
// offers the rest of the harness: its facts (where it comes from, version, patches with their
// hashes, compiler, repository, commit, branch, localversion) and its build (a bzImage, its
// release and .config, and the tree its selftests are built from). One file per kind
// (source-*.ts) implements SourceKind; kinds.ts lists them.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BuiltKernel } from './build.js';
import type { KernelSpec } from './spec.js';

/** A patch applied on top of a source: its file name and the sha256 of its content. */
export interface PatchFact { name: string; sha256: string }

/** What every built kind records about its patches and build. */
interface BuiltFacts {
  /** Names of the patch files applied on top, in order ([] = the source as it is). */
  patches: string[];
  /** sha256 of each patch, in the same order. */
  patchHashes?: string[];
  /** KCIDB patchset hash of those patches ('' when there are none); see patchsetHash(). */
  patchsetHash: string;
  /** First line of `gcc --version` of the compiler that builds it. */
  compiler?: string;
  /** CONFIG_LOCALVERSION: `uname -r` ends with it. */
  localversion?: string;
}

/**
 * How a source shows in the outputs, made by its own kind, so that KCIDB and summary.md read
 * these fields and never switch on the kind (a new kind needs no change there).
 */
export interface SourceCheckout {
  /** What identifies the tree plus its patches (the KCIDB checkout id's tail); absent: the kernel's name. */
  key?: string;
  /** One line for humans (summary.md), e.g. "Debian linux-source-6.12 6.12.118-1~deb12u1 + revert.patch". */
  label: string;
  /** KCIDB checkout comment, without which kernel it is (the renderer adds that). */
  comment: string;
  /** The KCIDB v5.3 checkout fields this kind knows. */
  fields: { tree_name?: string; git_repository_url?: string; git_repository_branch?: string; git_commit_hash?: string; git_commit_message?: string; patchset_hash?: string };
  /** Kind-specific facts for KCIDB's misc. */
  misc: Record<string, unknown>;
}

/** What every kind records, whatever it is. */
interface CommonFacts {
  checkout: SourceCheckout;
  /** Built here from source (so the run's compiler built it unless `compiler` says otherwise). */
  fromSource: boolean;
}

/** Where one kernel comes from (recorded in run.json and results.json; KCIDB's checkouts and builds are made of it). */
export type KernelFacts = CommonFacts & (
  | (BuiltFacts & {
    kind: 'debian';
    /** The Debian source package, e.g. 'linux-source-6.12'. */
    package: string;
    /** Its installed version, e.g. '6.12.118-1~deb12u1' (absent when dpkg-query could not tell). */
    version?: string;
    /** The tarball it ships, e.g. /usr/src/linux-source-6.12.tar.xz. */
    tarball?: string;
  })
  | (BuiltFacts & {
    kind: 'git';
    /** The working tree the ref was resolved in. */
    tree: string;
    ref: string;
    /** Full commit hash (absent when the ref did not resolve). */
    commit?: string;
    subject?: string;
    /** The branch the ref names, when it names one. */
    branch?: string;
    /** The remote's https:// URL (KCIDB's git_repository_url), when the tree has one. */
    url?: string;
  })
  | { kind: 'bzImage'; path: string; compiler?: undefined; localversion?: undefined });

/** The object without its undefined members, so facts are the same before and after a JSON round trip. */
export const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** " with a.patch, b.patch" (or '') for a checkout comment. */
export const withPatches = (patches: readonly string[]): string => (patches.length ? ` with ${patches.join(', ')}` : '');

/** " + a.patch + b.patch" (or '') for a label. */
export const plusPatches = (patches: readonly string[]): string => patches.map((p) => ` + ${p}`).join('');

/** A checkout key: a base plus the patch names without their .patch/.diff suffix. */
export const keyWithPatches = (base: string, patches: readonly string[]): string => [base, ...patches.map((p) => p.replace(/\.(patch|diff)$/, ''))].join('+');

/**
 * The source tree a kernel's selftests are built from: a source tarball (its Debian package
 * names its version), or a commit of a git repository.
 */
export type SourceTree =
  | { tarball: string; sourcePackage: string }
  | { git: string; commit: string };

export interface SourceBuildOptions {
  logDir: string;
  signal?: AbortSignal;
  onProgress?: (kernel: string, message: string) => void;
}

/** A kernel as built (or found in the cache, or prebuilt), with the tree its selftests come from (none for a prebuilt image). */
export type SourcedKernel = BuiltKernel & { tree?: SourceTree };

/** One kernel's source: what it is, and how it is built. */
export interface KernelSource {
  /** Debian packages it needs installed (provisioned with the rest). */
  readonly packages: string[];
  /** The tree its selftests come from, when known before the build (a tarball; a git ref resolves when built). */
  readonly tree?: SourceTree;
  /** Where it comes from, as things are now (never throws: what cannot be found is left out). */
  facts(): Promise<KernelFacts>;
  /** Builds it (or finds it in the cache). Throws KernelBuildError when it does not compile. */
  build(opts: SourceBuildOptions): Promise<SourcedKernel>;
}

/** A place in a description file to report a problem at: the key path under the document, or a key of that map. */
export type Complain = (keyPath: Array<string | number>, problem: string, key?: string) => void;

/** The `source:` keys of a description, as the YAML gives them. */
export type RawSource = Record<string, unknown> & { patches?: string[] };

/**
 * A kind of kernel source: the keys it owns under `source:` (the first one selects it), how
 * it reads them, and the KernelSource of a description that uses it.
 */
export interface SourceKind<D extends { kind: string }> {
  kind: D['kind'];
  /** JSON schema of each key it owns under `source:`; the kind's own name comes first and selects it. */
  keys: Record<string, object>;
  /** JSON schema of each top-level key only this kind allows (e.g. bzImage's `release`). */
  topKeys?: Record<string, object>;
  /** Built from source: takes localversion, patches and fragment. */
  built: boolean;
  /** Checks and resolves the YAML's `source:` (base: the description's folder); complains at file:line:col and returns undefined when wrong. */
  resolve(raw: RawSource, top: Record<string, unknown>, base: string, complain: Complain): D | undefined;
  /** The source of a loaded description of this kind. */
  open(spec: KernelSpec & { source: D }): KernelSource;
}

/**
 * The KCIDB patchset hash of patch files given in application order, as KCIDB defines it:
 * `sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64`; '' for no patches.
 */
export function patchsetHash(contents: ReadonlyArray<string | Uint8Array>): string {
  if (contents.length === 0) return '';
  const sha = (d: string | Uint8Array): string => createHash('sha256').update(d).digest('hex');
  return sha(contents.map((c) => `${sha(c)}\n`).join(''));
}

/** Patch names, their hashes and their patchset hash; unreadable patches hash as what could be read. */
export function patchFacts(patches: readonly string[]): Pick<BuiltFacts, 'patches' | 'patchHashes' | 'patchsetHash'> {
  const contents = patches.flatMap((p) => { try { return [fs.readFileSync(p)]; } catch { return []; } });
  return {
    patches: patches.map((p) => path.basename(p)),
    patchHashes: contents.map((c) => createHash('sha256').update(c).digest('hex')),
    patchsetHash: patchsetHash(contents),
  };
}

/** A path of a description: `~/…` is in the home folder, a relative one is relative to `base` (the description's folder). */
export function expandPath(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(base, p);
}

