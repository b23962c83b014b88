// Reads what an interrupted run already observed (run.json + events.jsonl) so that
// `--resume <run dir>` runs only the cells that have no answer yet.
import fs from 'node:fs';
import path from 'node:path';
import type { GuestCellReport } from '../model/cell.js';
import type { GuestKind, PlannedCell } from '../plan/default.js';
import type { RunEvent } from './events.js';
import { InputError } from '../model/errors.js';
import type { PlanIdentity } from '../plan-identity.js';

export interface RunManifest {
  runId: string;
  /** The command-line options of the original run (the plan is rebuilt from them). */
  argv: string[];
  startedAt: string;
  /** The plan the run belongs to and its shard (absent in run.json of older harnesses). */
  plan?: PlanIdentity;
}

export interface PriorRun {
  manifest: RunManifest;
  /** kernel → guest → cell id → answer. Only 'done' and 'unsupported' answers count. */
  answered: Map<string, Record<GuestKind, Map<string, GuestCellReport>>>;
}

/** Writes run.json, the manifest a resume starts from. */
export function writeManifest(runDir: string, m: RunManifest): void {
  fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(m, null, 2) + '\n');
}

/** run.json as a RunManifest; InputError naming the file when it is not one (e.g. `null`, torn JSON). */
function readManifest(file: string): RunManifest {
  let m: unknown;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`--resume: ${file}: expected the JSON manifest of a run, found unreadable JSON (${(e as Error).message})`, { file });
  }
  const o = m as Partial<RunManifest> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.runId !== 'string' || !Array.isArray(o.argv) || !o.argv.every((a) => typeof a === 'string')) {
    throw new InputError(`--resume: ${file}: expected {"runId": string, "argv": [strings], …}, found ${JSON.stringify(m)?.slice(0, 80)}`, { file });
  }
  return o as RunManifest;
}

/** Reads a run directory's manifest and answers; throws naming the file when it is not a run. */
export function readPriorRun(runDir: string): PriorRun {
  const manifestFile = path.join(runDir, 'run.json');
  if (!fs.existsSync(manifestFile)) throw new InputError(`--resume ${runDir}: not a run directory (no run.json)`, { file: runDir });
  const manifest = readManifest(manifestFile);
  const answered: PriorRun['answered'] = new Map();
  const log = path.join(runDir, 'events.jsonl');
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : [];
  for (const line of lines) {
    let e: RunEvent;
    try { e = JSON.parse(line) as RunEvent; } catch { continue; } // a torn last line after SIGKILL
    if (e.type !== 'cell-observed' || !e.report || e.report.status === 'error') continue;
    if (!answered.has(e.kernel)) answered.set(e.kernel, { c: new Map(), ts: new Map() });
    answered.get(e.kernel)![e.guest as GuestKind].set(e.id, e.report);
  }
  return { manifest, answered };
}

/** The cells still to run on one kernel: each cell keeps only the guests without an answer. */
export function remainingCells(cells: PlannedCell[], answered: Record<GuestKind, Map<string, GuestCellReport>> | undefined): PlannedCell[] {
  if (!answered) return cells;
  return cells
    .map((c) => ({ ...c, guests: c.guests.filter((g) => !answered[g].has(c.id)) }))
    .filter((c) => c.guests.length > 0);
}
