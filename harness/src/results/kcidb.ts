// KCIDB JSON v5.3 (kernelci/kcidb-io): what KernelCI's common database takes in. toKcidb() is
// pure and does no I/O: a run document (results.json, or a merge of several) with the facts
// recorded while the run happened (facts.ts: source package version, git commit and URL,
// patchset hashes, compiler, QEMU) → one document with a checkout per kernel source, a build
// per kernel, a `boot` test per kernel and a test per cell that applies (NA cells are no test).
// The schema itself is harness/data/kcidb-io.schema.v5.3.json (test/unit/kcidb.test.ts validates).
import { describeOp, type Op, type OpResult } from '../core/cell.js';
import { dimensionText } from '../core/planned.js';
import type { RunFacts, SourceFacts } from '../run/facts.js';
import { compactResults } from '../core/format.js';
import { dimsOf, type CellParams, type StoredDims } from './results-doc.js';

// ---------------------------------------------------------------------------------------------
// Input: the part of results.json this needs (see run-files.ts for the whole shape).

export type KcidbOutcome = 'PASS' | 'FAIL' | 'ERROR' | 'MISS' | 'SKIP' | 'NA';

export interface KcidbCrash { kind: string; title: string; excerpt?: string }

/** A prediction as results.json holds it (rule texts may be interned: see run-files.ts). */
type ExpectedIn = { kind: 'predicted'; profile?: string; ops: Array<{ result: OpResult; rule?: string | number; models?: string }> } | { kind: string; reason?: string; message?: string };
type ObservedIn = { id?: string; status: string; results?: OpResult[]; reason?: string };
type ParamsIn = { ops?: Op[]; portRange?: readonly [number, number]; dims?: StoredDims };

export interface RunForKcidb {
  runId: string;
  complete?: boolean;
  exitCode?: number;
  accel?: { requested?: string; reason?: string; timeScale?: number };
  /** What was true of the host and the sources while the run happened. */
  facts?: RunFacts;
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
  /** Interned oracle rules ([rule, kernel function]): `rule` of a predicted op may be an index here. */
  rules?: Array<[string, string]>;
  /** Cell id → parameters, for records without their own `params`. */
  cells?: Record<string, unknown>;
  records?: Array<{
    kernel: string;
    /** Format 1 records carry their kernel's release and profile. */
    release?: string;
    profile?: string;
    guest: string;
    id: string;
    case: string;
    title?: string;
    outcome: KcidbOutcome;
    reason: string;
    expected?: ExpectedIn;
    observed?: ObservedIn;
    crash?: KcidbCrash;
    /** The cell's parameters (format 1; format 2 keeps them in `cells`). */
    params?: unknown;
    /** Host-measured duration of the cell, ms. */
    ms?: number;
    /** When the cell started (Unix time, ms). */
    at?: number;
    attempt?: number;
    flaky?: boolean;
  }>;
  /** Case name → title (results.json keeps each title once). */
  cases?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Output: the subset of KCIDB v5.3 this writes (no other property is ever set).

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

export interface KcidbCheckout {
  id: string;
  origin: string;
  tree_name?: string;
  git_repository_url?: string;
  git_repository_branch?: string;
  git_commit_hash?: string;
  git_commit_message?: string;
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

/** The checkout key of a kernel's source: what its kind says identifies the tree plus its patches, else the kernel's name. */
const checkoutKey = (variant: string, src: SourceFacts | undefined): string => src?.checkout?.key ?? variant;

/** The checkout of a kernel's source (without id and origin), from the fields its kind made (no switch on the kind here). */
function checkoutOfSource(src: SourceFacts | undefined, variant: string, profile: string | undefined): Omit<KcidbCheckout, 'id' | 'origin'> {
  const who = `kernel "${variant}"${profile ? `, profile ${profile}` : ''}`;
  if (!src?.checkout) return { comment: `source of ${who} not recorded` };
  return { ...src.checkout.fields, comment: `${src.checkout.comment} (${who})`, misc: src.checkout.misc };
}

/** Compact "bind(s0)=p1 bind(s1)=EADDRINUSE" of results, or undefined without the cell's ops. */
function compact(params: ParamsIn | undefined, results: OpResult[] | undefined): string | undefined {
  if (!results) return undefined;
  if (!params?.ops || !params.portRange) return results.map((r, i) => `op${i}=${r.ok ? (r.port ?? 'p?') : r.errno}`).join(' ');
  return compactResults(params.ops, results, params.portRange);
}

/**
 * The run as a KCIDB v5.3 document. Ids: `<origin>:<runId>:…`, unique per object type. A cell's
 * test starts when the host sent it and lasts until its answer arrived (when the run document
 * has those times; a resumed cell has none); boots and builds have their own durations.
 */
export function toKcidb(run: RunForKcidb, origin = 'kph'): KcidbDoc {
  if (!KCIDB_ORIGIN_PATTERN.test(origin)) throw new Error(`KCIDB origin must match [a-z0-9_]+: ${JSON.stringify(origin)}`);
  const facts = run.facts;
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
    const src = facts?.sources[name];
    const id = `${prefix}:${checkoutKey(name, src)}`;
    checkoutOf.set(name, id);
    if (checkouts.has(id)) continue;
    const c = checkoutOfSource(src, name, kernels.find((k) => k.name === name)?.profile);
    checkouts.set(id, {
      id,
      origin,
      ...c,
      start_time: iso(start),
      valid: kernels.some((k) => checkoutOf.get(k.name) === id && k.built) ? true : undefined,
      misc: { run_id: run.runId, ...c.misc },
    });
  }

  const harness = facts?.harness ? { version: facts.harness.version, commit: facts.harness.commit, dirty: facts.harness.dirty } : undefined;
  const buildId = (name: string): string => `${prefix}:${name}`;
  const builds: KcidbBuild[] = names.map((name) => {
    const k = kernels.find((x) => x.name === name);
    return {
      id: buildId(name),
      origin,
      checkout_id: checkoutOf.get(name)!,
      architecture: 'x86_64',
      config_name: 'kph-tinyconfig+fragment',
      // The kernel's own compiler (its facts); a prebuilt image's is not known.
      compiler: facts?.sources[name]?.compiler ?? (facts?.sources[name]?.fromSource === false ? undefined : facts?.compiler),
      start_time: k?.built ? buildStart : undefined,
      duration: k?.built?.seconds,
      status: k?.buildFailure ? 'FAIL' : k?.built ? 'PASS' : undefined,
      log_excerpt: k?.buildFailure ? excerpt(k.buildFailure.tail.slice(-LOG_EXCERPT_MAX)) : undefined,
      comment: `kernel ${name} (${k?.release ?? 'release unknown'})`,
      misc: { kernel: name, release: k?.release, profile: k?.profile, localversion: facts?.sources[name]?.localversion, cached: k?.built?.cached, harness },
    };
  });

  const accelOf = (name: string): string => {
    const kvm = kernels.find((k) => k.name === name)?.kvm;
    return kvm?.enabled ? 'KVM' : kvm ? 'TCG' : (run.accel?.requested ?? 'unknown').toUpperCase();
  };
  const qemu = facts?.qemu ?? 'QEMU';

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
      // KernelCI's path for "the kernel booted to a login".
      path: 'boot',
      status,
      comment: `boot ${k.release} to SSH`,
      environment: { comment: `${qemu} (qemu-system-x86_64), accelerator ${accelOf(k.name)}${run.accel?.reason ? ` (${run.accel.reason})` : ''}` },
      start_time: testsStart,
      duration: k.bootMs !== undefined ? k.bootMs / 1000 : undefined,
      log_excerpt: log ? excerpt(log) : undefined,
      misc: { kernel: k.name, release: k.release, uname_r: k.unameR, attempts: k.attempts, kvm: k.kvm },
    });
  }
  const ruleText = (rule: string | number | undefined): string | undefined => (typeof rule === 'number' ? run.rules?.[rule]?.[0] : rule);
  for (const r of records) {
    if (r.outcome === 'NA') continue;
    const params = (r.params ?? run.cells?.[r.id]) as ParamsIn | undefined;
    const dims = params?.dims ? dimensionText(dimsOf(params as CellParams)) : '';
    const predicted = r.expected?.kind === 'predicted' ? (r.expected as Extract<ExpectedIn, { kind: 'predicted' }>) : undefined;
    const expected = predicted ? compact(params, predicted.ops.map((o) => o.result)) : r.expected ? `[${r.expected.kind}] ${(r.expected as { reason?: string; message?: string }).reason ?? (r.expected as { message?: string }).message ?? ''}`.trim() : undefined;
    const observed = r.observed?.status === 'done' ? compact(params, r.observed.results) : r.observed ? `[${r.observed.status}] ${r.observed.reason ?? ''}`.trim() : undefined;
    // The oracle's rule per operation, for a cell a reader has to look into.
    const rules = r.outcome !== 'PASS' && predicted
      ? predicted.ops.map((o, i) => `${params?.ops?.[i] ? describeOp(params.ops[i]) : `op${i}`}: ${ruleText(o.rule) ?? ''}`)
      : undefined;
    tests.push({
      id: `${prefix}:${r.kernel}:${r.guest}:${r.id}`,
      origin,
      build_id: buildId(r.kernel),
      path: ['kph', r.guest, r.case, ...(dims ? [dims] : [])].map(pathSegment).join('.'),
      status: r.outcome,
      comment: r.title ?? run.cases?.[r.case],
      environment: { comment: `QEMU ${accelOf(r.kernel)}, ${r.guest} guest` },
      start_time: r.at !== undefined ? new Date(r.at).toISOString() : testsStart,
      duration: r.ms !== undefined ? r.ms / 1000 : undefined,
      log_excerpt: r.outcome === 'PASS' ? undefined : excerpt(r.crash ? `${r.reason}\n\n${crashText(r.crash)}` : r.reason),
      misc: { expected, observed, rules, attempt: r.attempt, flaky: r.flaky },
    });
  }

  return clean({ version: { major: 5, minor: 3 }, checkouts: [...checkouts.values()], builds, tests }) as KcidbDoc;
}
