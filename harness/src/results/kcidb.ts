// KCIDB JSON v5.3 (kernelci/kcidb-io): what KernelCI's common database takes in. toKcidb() is
// pure: a run's results.json (or a merge of several) plus a few facts gathered once (source
// package version, patchset hashes, compiler, QEMU) → one document with a checkout per kernel
// source, a build per kernel variant, a test per kernel boot and a test per cell record.
// The schema itself is harness/data/kcidb-io.schema.v5.3.json (test/kcidb.test.ts validates).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultPair } from '../kernel/defaults.js';

// ---------------------------------------------------------------------------------------------
// Input: the part of results.json this needs (see run-files.ts for the whole shape).

export type KcidbOutcome = 'PASS' | 'FAIL' | 'ERROR' | 'MISS' | 'SKIP' | 'NA';

export interface KcidbCrash { kind: string; title: string; excerpt?: string }

export interface RunForKcidb {
  runId: string;
  complete?: boolean;
  exitCode?: number;
  accel?: { requested?: string; reason?: string; timeScale?: number };
  kernels?: Array<{
    name: string;
    release: string;
    profile: string;
    unameR?: string;
    bootMs?: number;
    kvm?: { enabled: boolean; present?: boolean };
    attempts?: unknown[];
    infraError?: string;
    bootCrash?: KcidbCrash;
    built?: { cached: boolean; seconds: number; bzImage?: string };
    buildFailure?: { log: string; tail: string };
  }>;
  timings?: Record<string, number>;
  records?: Array<{
    kernel: string;
    release?: string;
    profile?: string;
    guest: string;
    id: string;
    case: string;
    title?: string;
    outcome: KcidbOutcome;
    reason: string;
    expected?: unknown;
    observed?: unknown;
    crash?: KcidbCrash;
    params?: unknown;
  }>;
}

/** Where a kernel variant's source came from. */
export interface KcidbSource {
  /** Name of the source, e.g. 'linux-source-6.1' (the Debian package shipping the tarball). */
  source: string;
  /** Version of that source, e.g. the Debian package version '6.1.192-2'. */
  version?: string;
  /** Names of the patch files applied on top, in order ([] = the source as shipped). */
  patches: string[];
  /** KCIDB patchset hash of those patches ('' when there are none); see patchsetHash(). */
  patchsetHash: string;
  /** One sentence on what this source is. */
  comment?: string;
}

/** Facts toKcidb() cannot read itself (it does no I/O); gatherKcidbFacts() collects them. */
export interface KcidbFacts {
  /** Per kernel variant name. A variant without an entry gets a checkout named after the variant. */
  sources?: Record<string, KcidbSource>;
  /** First line of `gcc --version`. */
  compiler?: string;
  /** First line of `qemu-system-x86_64 --version`. */
  qemu?: string;
}

// ---------------------------------------------------------------------------------------------
// Output: the subset of KCIDB v5.3 this writes (no other property is ever set).

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

export interface KcidbCheckout {
  id: string;
  origin: string;
  tree_name?: string;
  patchset_hash?: string;
  start_time?: string;
  valid?: boolean;
  comment?: string;
  misc?: Record<string, unknown>;
}

export interface KcidbBuild {
  id: string;
  origin: string;
  checkout_id: string;
  architecture?: string;
  config_name?: string;
  compiler?: string;
  start_time?: string;
  duration?: number;
  status?: KcidbStatus;
  comment?: string;
  log_excerpt?: string;
  misc?: Record<string, unknown>;
}

export interface KcidbTest {
  id: string;
  origin: string;
  build_id: string;
  path?: string;
  status?: KcidbStatus;
  comment?: string;
  environment?: { comment?: string; misc?: Record<string, unknown> };
  start_time?: string;
  duration?: number;
  log_excerpt?: string;
  misc?: Record<string, unknown>;
}

export interface KcidbDoc {
  version: { major: 5; minor: 3 };
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
}

export const KCIDB_ORIGIN_PATTERN = /^[a-z0-9_]+$/;
/** KCIDB's limit on log_excerpt. */
export const LOG_EXCERPT_MAX = 16384;

// ---------------------------------------------------------------------------------------------

/**
 * The KCIDB patchset hash of patch files given in application order, as KCIDB defines it:
 * `sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64`; '' for no patches.
 */
export function patchsetHash(contents: ReadonlyArray<string | Uint8Array>): string {
  if (contents.length === 0) return '';
  const sha = (d: string | Uint8Array): string => createHash('sha256').update(d).digest('hex');
  return sha(contents.map((c) => `${sha(c)}\n`).join(''));
}

/** A KCIDB path segment ([a-zA-Z0-9_-]+): every other character becomes '_'. */
export function pathSegment(s: string): string {
  const seg = s.replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return seg || '_';
}

/** The run's start (UTC) from its id (20261126-095604-abd502), as an RFC 3339 date-time. */
export function runStartTime(runId: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})\b/.exec(runId);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const iso = (d: Date | undefined, plusMs = 0): string | undefined => (d ? new Date(d.getTime() + plusMs).toISOString() : undefined);

/** Keeps the head of a long text within KCIDB's limit, saying what was cut. */
function excerpt(text: string): string {
  if (text.length <= LOG_EXCERPT_MAX) return text;
  const note = `\n[… ${text.length - LOG_EXCERPT_MAX} more characters cut]`;
  return text.slice(0, LOG_EXCERPT_MAX - note.length) + note;
}

/**
 * Removes what KCIDB forbids: null and undefined values (object keys dropped, array items
 * dropped) and NUL characters in strings (→ U+FFFD). Applied to the whole document.
 */
function clean(v: unknown): unknown {
  if (typeof v === 'string') return v.includes('\0') ? v.replace(/\0/g, '\uFFFD') : v;
  if (Array.isArray(v)) return v.filter((x) => x !== null && x !== undefined).map(clean);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = clean(x);
    return out;
  }
  return v;
}

function crashText(c: KcidbCrash): string {
  return `kernel ${c.kind}: ${c.title}${c.excerpt ? `\n${c.excerpt}` : ''}`;
}

/** The embedded default's checkout names: the source, plus the patches' names. */
function checkoutKey(variant: string, src: KcidbSource | undefined): string {
  if (!src) return variant;
  return [src.source, ...src.patches.map((p) => path.basename(p).replace(/\.(patch|diff)$/, ''))].join('+');
}

/**
 * The run as a KCIDB v5.3 document. Ids: `<origin>:<runId>:…`, unique per object type.
 * Cells carry no start time or duration of their own in results.json, so their tests start
 * when the run phase started (run start + provision + build) and have no duration; boots and
 * builds have real durations.
 */
export function toKcidb(run: RunForKcidb, origin = 'kph', facts: KcidbFacts = {}): KcidbDoc {
  if (!KCIDB_ORIGIN_PATTERN.test(origin)) throw new Error(`KCIDB origin must match [a-z0-9_]+: ${JSON.stringify(origin)}`);
  const prefix = `${origin}:${run.runId}`;
  const kernels = run.kernels ?? [];
  const records = run.records ?? [];
  const timings = run.timings ?? {};
  const start = runStartTime(run.runId);
  const buildStart = iso(start, timings.provision ?? 0);
  const testsStart = iso(start, (timings.provision ?? 0) + (timings.build ?? 0));
  // Kernel names that appear only in records (e.g. a partial merge) still get a build.
  const names = [...new Set([...kernels.map((k) => k.name), ...records.map((r) => r.kernel)])];

  const checkouts = new Map<string, KcidbCheckout>();
  const checkoutOf = new Map<string, string>();
  for (const name of names) {
    const src = facts.sources?.[name];
    const id = `${prefix}:${checkoutKey(name, src)}`;
    checkoutOf.set(name, id);
    if (checkouts.has(id)) continue;
    checkouts.set(id, {
      id,
      origin,
      tree_name: src?.source,
      patchset_hash: src?.patchsetHash,
      start_time: iso(start),
      valid: kernels.some((k) => checkoutOf.get(k.name) === id && k.built) ? true : undefined,
      comment: src?.comment,
      misc: { run_id: run.runId, source: src?.source, source_version: src?.version, patches: src?.patches },
    });
  }

  const buildId = (name: string): string => `${prefix}:${name}`;
  const builds: KcidbBuild[] = names.map((name) => {
    const k = kernels.find((x) => x.name === name);
    const r = records.find((x) => x.kernel === name);
    return {
      id: buildId(name),
      origin,
      checkout_id: checkoutOf.get(name)!,
      architecture: 'x86_64',
      config_name: 'kph-tinyconfig+fragment',
      compiler: facts.compiler,
      start_time: k?.built ? buildStart : undefined,
      duration: k?.built?.seconds,
      status: k?.buildFailure ? 'FAIL' : k?.built ? 'PASS' : undefined,
      log_excerpt: k?.buildFailure ? k.buildFailure.tail.slice(-16384) : undefined,
      comment: `kernel ${name} (${k?.release ?? r?.release ?? 'release unknown'})`,
      misc: { kernel: name, release: k?.release ?? r?.release, profile: k?.profile ?? r?.profile, cached: k?.built?.cached },
    };
  });

  const envComment = (name: string): string => {
    const kvm = kernels.find((k) => k.name === name)?.kvm;
    const accel = kvm?.enabled ? 'KVM' : kvm ? 'TCG' : (run.accel?.requested ?? 'unknown').toUpperCase();
    return `${facts.qemu ?? 'QEMU'} (qemu-system-x86_64), accelerator ${accel}${run.accel?.reason ? ` (${run.accel.reason})` : ''}`;
  };

  const tests: KcidbTest[] = [];
  for (const k of kernels) {
    // The boot itself: a crash while booting fails it; a lab failure is ERROR; never tried is MISS.
    const booted = k.bootMs !== undefined && (k.unameR === undefined || k.unameR === k.release);
    const status: KcidbStatus = k.bootCrash ? 'FAIL' : booted ? 'PASS' : (k.attempts?.length ?? 0) === 0 ? 'MISS' : 'ERROR';
    const log = [k.infraError, k.bootCrash && crashText(k.bootCrash)].filter(Boolean).join('\n\n');
    tests.push({
      id: `${prefix}:${k.name}:boot`,
      origin,
      build_id: buildId(k.name),
      path: 'kph.boot',
      status,
      comment: `boot ${k.release} to SSH`,
      environment: { comment: envComment(k.name) },
      start_time: testsStart,
      duration: k.bootMs !== undefined ? k.bootMs / 1000 : undefined,
      log_excerpt: log ? excerpt(log) : undefined,
      misc: { kernel: k.name, release: k.release, uname_r: k.unameR, attempts: k.attempts, kvm: k.kvm },
    });
  }
  for (const r of records) {
    const slash = r.id.indexOf('/');
    const dims = slash >= 0 ? r.id.slice(slash + 1) : '';
    tests.push({
      id: `${prefix}:${r.kernel}:${r.guest}:${r.id}`,
      origin,
      build_id: buildId(r.kernel),
      path: ['kph', r.guest, r.case, ...(dims ? [dims] : [])].map(pathSegment).join('.'),
      status: r.outcome === 'NA' ? 'SKIP' : r.outcome,
      comment: r.title,
      environment: { comment: envComment(r.kernel) },
      start_time: testsStart,
      log_excerpt: excerpt(r.crash ? `${r.reason}\n\n${crashText(r.crash)}` : r.reason),
      misc: { kernel: r.kernel, release: r.release, profile: r.profile, guest: r.guest, cell: r.id, case: r.case, expected: r.expected, observed: r.observed, params: r.params },
    });
  }

  return clean({ version: { major: 5, minor: 3 }, checkouts: [...checkouts.values()], builds, tests }) as KcidbDoc;
}

// ---------------------------------------------------------------------------------------------
// I/O: the facts toKcidb() takes, read once per run.

const run = promisify(execFile);

async function firstLine(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 10_000 });
    return stdout.split('\n')[0].trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Facts for toKcidb(): the embedded default pair's source (Debian linux-source-6.1 and its
 * installed version) and patchset hashes from the patch files' contents, gcc and QEMU versions.
 * Never throws: what cannot be read is left out.
 */
export async function gatherKcidbFacts(): Promise<KcidbFacts> {
  const pkg = 'linux-source-6.1';
  const [version, compiler, qemu] = await Promise.all([
    firstLine('dpkg-query', ['-W', '-f=${Version}', pkg]),
    firstLine('gcc', ['--version']),
    firstLine(process.env.KPH_QEMU ?? 'qemu-system-x86_64', ['--version']),
  ]);
  const sources: Record<string, KcidbSource> = {};
  for (const v of defaultPair()) {
    try {
      const contents = await Promise.all(v.patches.map((p) => fs.readFile(p)));
      const names = v.patches.map((p) => path.basename(p));
      sources[v.name] = {
        source: pkg,
        version,
        patches: names,
        patchsetHash: patchsetHash(contents),
        comment: names.length
          ? `Debian ${pkg}${version ? ` ${version}` : ''} with ${names.join(', ')} (kernel "${v.name}", profile ${v.profile})`
          : `Debian ${pkg}${version ? ` ${version}` : ''} as shipped (kernel "${v.name}", profile ${v.profile})`,
      };
    } catch {
      // A patch that cannot be read: no source facts for this variant.
    }
  }
  return { sources, compiler, qemu };
}
