// The shard set a merge is given: reads each run directory's run.json (which shard of which
// plan) and results.json (finished or not), and decides whether the set is one whole plan:
// every shard 1/N … N/N present exactly once, all of the same plan and N, all finished.
import fs from 'node:fs';
import path from 'node:path';
import { parseOptions, type Options } from './cli.js';
import type { PlanIdentity } from './plan/identity.js';
import { inlineResults, type ResultsDoc } from './results/run-files.js';
import type { RunManifest } from './run/resume.js';

export class MergeError extends Error {
  override name = 'MergeError';
}

/** One run directory given to the merge. */
export interface ShardRun {
  dir: string;
  /** Which slice of the plan the run took ({1, 1} for a run without --shard). */
  shard: { index: number; count: number };
  /** The options that define the plan, as canonical JSON (where results go and lab knobs left out). */
  planOptions: string;
  /** run.json's plan record (absent when an older harness wrote run.json). */
  plan?: PlanIdentity;
  /** The finished results, or why the run is not finished. */
  results: { kind: 'finished'; doc: ResultsDoc } | { kind: 'unfinished'; reason: string };
}

/** Options that say where and how a run ran, not what it ran: shards may differ in them. */
const NOT_PLAN: ReadonlyArray<keyof Options> = ['shard', 'resultsDir', 'jobs', 'bootAttempts', 'timeoutScale', 'accel', 'resume', 'help', 'buildOnly', 'planOnly', 'oracleOnly'];

/** "2/4" */
export const shardName = (s: { index: number; count: number }): string => `${s.index}/${s.count}`;

/** "a", "a and b", "a, b and c" */
function listing(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Parses a JSON file; throws naming the file when it is missing or not JSON. */
function readJson(file: string): unknown {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new MergeError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  try { return JSON.parse(text); } catch (e) { throw new MergeError(`${file}: not valid JSON (${(e as Error).message})`); }
}

/** Reads one run directory; throws naming it when it is not a run directory at all. */
export function readShardRun(dir: string): ShardRun {
  if (!fs.existsSync(dir)) throw new MergeError(`${dir}: no such directory`);
  if (!fs.statSync(dir).isDirectory()) throw new MergeError(`${dir}: not a directory`);
  const manifestFile = path.join(dir, 'run.json');
  if (!fs.existsSync(manifestFile)) throw new MergeError(`${dir}: not a run directory (no run.json)`);
  const manifest = readJson(manifestFile) as Partial<RunManifest>;
  if (!Array.isArray(manifest.argv) || !manifest.argv.every((a) => typeof a === 'string')) throw new MergeError(`${manifestFile}: key "argv" should be a list of strings (the run's options)`);
  let opts: Options;
  try { opts = parseOptions(manifest.argv); } catch (e) { throw new MergeError(`${manifestFile}: key "argv" is not a valid command line: ${(e as Error).message.split('\n')[0]}`); }
  const planOptions = JSON.stringify(Object.fromEntries(Object.entries(opts).filter(([k]) => !NOT_PLAN.includes(k as keyof Options)).sort(([a], [b]) => a.localeCompare(b))));
  const plan = manifest.plan;
  if (plan && opts.shard && (plan.shard?.index !== opts.shard.index || plan.shard?.count !== opts.shard.count)) {
    throw new MergeError(`${manifestFile}: key "plan.shard" (${plan.shard ? shardName(plan.shard) : 'none'}) disagrees with --shard ${shardName(opts.shard)} in "argv"`);
  }
  return { dir, shard: opts.shard ?? { index: 1, count: 1 }, planOptions, plan, results: readResults(dir) };
}

/** results.json of a run directory, or why the run is not finished. */
function readResults(dir: string): ShardRun['results'] {
  const file = path.join(dir, 'results.json');
  if (!fs.existsSync(file)) return { kind: 'unfinished', reason: 'no results.json' };
  const doc = readJson(file) as ResultsDoc & { buildOnly?: boolean };
  if (doc.buildOnly) return { kind: 'unfinished', reason: 'a --build-only run (nothing ran)' };
  if (!doc.complete) return { kind: 'unfinished', reason: `results.json says complete: false (resume it with --resume ${dir})` };
  if (!Array.isArray(doc.records)) return { kind: 'unfinished', reason: 'results.json has no records' };
  return { kind: 'finished', doc: inlineResults(doc) };
}

/** What the merge will join: the finished shards, in shard order, and the shards it lacks. */
export interface ShardSet {
  runs: Array<{ dir: string; doc: ResultsDoc; shard: string }>;
  count: number;
  /** Shards absent or unfinished, e.g. ["2/4", "4/4"] (only with allowPartial). */
  missing: string[];
}

/** The problems that make `runs` not one whole plan, one line each. */
export function shardProblems(runs: ShardRun[]): { fatal: string[]; partial: string[]; missing: string[] } {
  const fatal: string[] = [];
  const counts = new Map<number, string[]>();
  for (const r of runs) counts.set(r.shard.count, [...(counts.get(r.shard.count) ?? []), `${shardName(r.shard)} (${r.dir})`]);
  if (counts.size > 1) fatal.push(`the runs split their plan into different numbers of shards: ${[...counts.values()].map((v) => listing(v)).join(' vs ')}`);
  const plans = new Map<string, string[]>();
  for (const r of runs) {
    const id = `${r.planOptions} ${r.plan ? `${r.plan.digest} ${r.plan.cells}` : ''}`;
    plans.set(id, [...(plans.get(id) ?? []), r.dir]);
  }
  if (plans.size > 1) fatal.push(`the runs are not shards of one plan (their options apart from --shard/--results, or their selected cells, differ): ${[...plans.values()].map((v) => listing(v)).join(' vs ')}`);
  const byIndex = new Map<number, ShardRun[]>();
  for (const r of runs) byIndex.set(r.shard.index, [...(byIndex.get(r.shard.index) ?? []), r]);
  for (const [, rs] of byIndex) if (rs.length > 1) fatal.push(`shard ${shardName(rs[0].shard)} given ${rs.length} times: ${listing(rs.map((r) => r.dir))}`);
  const partial: string[] = [];
  for (const r of runs) if (r.results.kind === 'unfinished') partial.push(`shard ${shardName(r.shard)} (${r.dir}) did not finish: ${r.results.reason}`);
  const count = runs[0]?.shard.count ?? 0;
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i)).map((i) => `${i}/${count}`);
  if (missing.length) partial.unshift(`shard ${listing(missing)} missing`);
  return { fatal, partial, missing };
}

/** Checks the set; throws MergeError listing every problem unless it is only partial and allowPartial is set. */
export function checkShardSet(runs: ShardRun[], allowPartial: boolean): ShardSet {
  if (runs.length === 0) throw new MergeError('nothing to merge: name at least one run directory');
  const p = shardProblems(runs);
  if (p.fatal.length) throw new MergeError(p.fatal.join('\n'));
  if (p.partial.length && !allowPartial) throw new MergeError(`${p.partial.join('\n')}\nthe merged result would not be the whole plan; pass --allow-partial to merge what is there (marked incomplete, exit code never 0)`);
  const finished: ShardSet['runs'] = [];
  for (const r of [...runs].sort((x, y) => x.shard.index - y.shard.index)) if (r.results.kind === 'finished') finished.push({ dir: r.dir, doc: r.results.doc, shard: shardName(r.shard) });
  if (finished.length === 0) throw new MergeError(`no finished shard to merge:\n${p.partial.join('\n')}`);
  const count = runs[0].shard.count;
  const unfinished = runs.filter((r) => r.results.kind === 'unfinished').map((r) => r.shard.index);
  const missing = [...p.missing.map((m) => Number(m.split('/')[0])), ...unfinished].sort((x, y) => x - y).map((i) => `${i}/${count}`);
  return { runs: finished, count, missing };
}
