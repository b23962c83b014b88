// Reads what an interrupted run already observed (run.json + events.jsonl) so that
// `--resume <run dir>` runs only the cells that have no answer yet, from any working folder
// (run.json keeps every path option absolute). A damaged line of events.jsonl (a torn last
// line after SIGKILL, `null`, garbage) is skipped with a warning naming file:line.
import fs from 'node:fs';
import path from 'node:path';
import type { GuestCellReport } from '../core/cell.js';
import type { GuestKind, PlannedCell } from '../core/planned.js';
import type { PlanIdentity } from '../plan/identity.js';
import { writeJsonSync } from '../util/write.js';
import type { BootAttempt } from './kernel-job.js';

export interface RunManifest {
  runId: string;
  /** The command-line options of the original run (the plan is rebuilt from them); path options are absolute. */
  argv: string[];
  startedAt: string;
  /** The plan the run belongs to and its shard (absent in run.json of older harnesses). */
  plan?: PlanIdentity;
  /** The working folder of the original run (relative paths of older manifests resolve against it). */
  cwd?: string;
}

type PerGuest<T> = Record<GuestKind, Map<string, T>>;

export interface PriorRun {
  manifest: RunManifest;
  /** kernel → guest → cell id → answer. Only 'done' and 'unsupported' answers count. */
  answered: Map<string, PerGuest<GuestCellReport>>;
  /** kernel → guest → cell id → the attempt (VM number) that gave the answer, when known. */
  answeredOn: Map<string, PerGuest<number>>;
  /** kernel → the VMs the earlier run booted, from its vm-boot events. */
  boots: Map<string, BootAttempt[]>;
  /** Lines of events.jsonl that were skipped, as `file:line: why`. */
  skipped: string[];
}

/** Options whose values are paths (--kernels: the entries that name a file rather than kernels/NAME). */
const PATH_OPTIONS = new Set(['--cases', '--results', '--kernels']);

/** One option value made absolute against `cwd`. */
function absoluteValue(option: string, value: string, cwd: string): string {
  if (option !== '--kernels') return path.resolve(cwd, value);
  return value.split(',').map((k) => {
    const t = k.trim();
    return t.includes('/') || /\.ya?ml$/.test(t) ? path.resolve(cwd, t) : k;
  }).join(',');
}

/** argv with every path option (--cases, --results, --kernels files; `--opt v` or `--opt=v`) made absolute against `cwd`. */
export function absoluteArgv(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && PATH_OPTIONS.has(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq)}=${absoluteValue(a.slice(0, eq), a.slice(eq + 1), cwd)}`);
    } else if (PATH_OPTIONS.has(a) && i + 1 < argv.length) {
      out.push(a, absoluteValue(a, argv[++i], cwd));
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Writes run.json (durably), the manifest a resume starts from; path options are stored absolute. */
export function writeManifest(runDir: string, m: RunManifest): void {
  const cwd = m.cwd ?? process.cwd();
  writeJsonSync(runDir, 'run.json', { ...m, argv: absoluteArgv(m.argv, cwd), cwd });
}

/** Reads and checks run.json; throws naming the file and what is wrong. */
function readManifest(runDir: string): RunManifest {
  const file = path.join(runDir, 'run.json');
  if (!fs.existsSync(file)) throw new Error(`--resume ${runDir}: not a run directory (no run.json)`);
  let m: Partial<RunManifest> | null;
  try { m = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<RunManifest> | null; } catch (e) {
    throw new Error(`--resume ${runDir}: ${file}: expected the JSON manifest of a run, found unreadable JSON (${(e as Error).message})`);
  }
  if (!m || typeof m !== 'object' || typeof m.runId !== 'string' || !Array.isArray(m.argv) || !m.argv.every((a) => typeof a === 'string')) {
    throw new Error(`--resume ${runDir}: ${file}: expected {"runId": string, "argv": [strings], …}, found ${JSON.stringify(m)?.slice(0, 80)}`);
  }
  const cwd = typeof m.cwd === 'string' ? m.cwd : process.cwd();
  return { runId: m.runId, argv: absoluteArgv(m.argv, cwd), startedAt: String(m.startedAt ?? ''), cwd, ...(m.plan ? { plan: m.plan } : {}) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why an event line cannot be used for resuming, or undefined when it is a usable event. */
function problemOf(e: unknown): string | undefined {
  if (!isObject(e)) return `expected a JSON object, found ${e === null ? 'null' : Array.isArray(e) ? 'an array' : typeof e}`;
  if (typeof e.type !== 'string') return 'expected a "type" string';
  if (e.type === 'cell-observed') {
    if (typeof e.kernel !== 'string' || (e.guest !== 'c' && e.guest !== 'ts') || typeof e.id !== 'string') return 'cell-observed: expected kernel, guest (c or ts) and id';
    if (!isObject(e.report) || typeof e.report.status !== 'string') return 'cell-observed: expected a report with a status';
  }
  if ((e.type === 'vm-starting' || e.type === 'vm-boot') && (typeof e.kernel !== 'string' || !Number.isInteger(e.attempt))) return `${e.type}: expected kernel and an integer attempt`;
  return undefined;
}

const perGuest = <T>(): PerGuest<T> => ({ c: new Map(), ts: new Map() });
const of = <T>(m: Map<string, PerGuest<T>>, k: string): PerGuest<T> => {
  if (!m.has(k)) m.set(k, perGuest());
  return m.get(k)!;
};

/** Reads a run directory's manifest and answers; throws naming the file when it is not a run. */
export function readPriorRun(runDir: string): PriorRun {
  const manifest = readManifest(runDir);
  const prior: PriorRun = { manifest, answered: new Map(), answeredOn: new Map(), boots: new Map(), skipped: [] };
  const log = path.join(runDir, 'events.jsonl');
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : [];
  // kernel → the VM that started last: answers logged without an attempt belong to it.
  const vmOf = new Map<string, number>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${log}:${i + 1}`;
    let e: unknown;
    try { e = JSON.parse(line); } catch (err) {
      prior.skipped.push(`${where}: skipped: ${i === lines.length - 1 ? 'torn last line' : 'not JSON'} (${(err as Error).message})`);
      return;
    }
    const problem = problemOf(e);
    if (problem) { prior.skipped.push(`${where}: skipped: ${problem}`); return; }
    const ev = e as Record<string, unknown>;
    const kernel = ev.kernel as string;
    if (ev.type === 'vm-starting') vmOf.set(kernel, ev.attempt as number);
    if (ev.type === 'vm-boot') {
      const boots = prior.boots.get(kernel) ?? [];
      boots.push({ attempt: ev.attempt as number, kind: ev.kind as BootAttempt['kind'], bootMs: Number(ev.bootMs ?? 0), ...(typeof ev.detail === 'string' ? { detail: ev.detail } : {}) });
      prior.boots.set(kernel, boots);
    }
    if (ev.type !== 'cell-observed') return;
    const report = ev.report as unknown as GuestCellReport;
    if (report.status === 'error') return;
    const guest = ev.guest as GuestKind;
    of(prior.answered, kernel)[guest].set(ev.id as string, report);
    const attempt = Number.isInteger(ev.attempt) ? (ev.attempt as number) : vmOf.get(kernel);
    if (attempt !== undefined) of(prior.answeredOn, kernel)[guest].set(ev.id as string, attempt);
  });
  return prior;
}

/** The cells still to run on one kernel: each cell keeps only the guests without an answer. */
export function remainingCells(cells: PlannedCell[], answered: Record<GuestKind, Map<string, GuestCellReport>> | undefined): PlannedCell[] {
  if (!answered) return cells;
  return cells
    .map((c) => ({ ...c, guests: c.guests.filter((g) => !answered[g].has(c.id)) }))
    .filter((c) => c.guests.length > 0);
}
