// `harness/fuzz.mjs merge DIR… --out DIR [--allow-partial]`: joins the output folders of one fuzz
// campaign's shards (`--shard i/N`, same seed, kernels, profiles, mode and oracle flips) into one:
// findings deduplicated by their minimal script up to renumbered sockets (the first shard keeps
// it; the others are listed), their case files and kselftests copied, the figures added up,
// summary.json / summary.md / findings.jsonl written. A missing, unfinished, repeated or foreign shard is refused (exit 2)
// unless --allow-partial, which marks the result incomplete and never exits 0.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT } from '../core/verdict.js';
import { writeText } from '../util/write.js';
import { makeDirs, RunDirError } from '../run/run-dir.js';
import { testName } from './emit-kselftest.js';
import { canonicalKey } from './script.js';
import { KNOWN_RULES, writeSummary, type Finding, type FuzzSummary } from './summary.js';

export class FuzzMergeError extends Error {
  override name = 'FuzzMergeError';
}

export const FUZZ_MERGE_HELP = `usage: node harness/fuzz.mjs merge DIR… --out DIR [--allow-partial]

Joins the --out folders of the shards of one fuzz campaign (harness/fuzz.mjs --shard I/N, the
same --seed, --kernels, --profile, --mode and --oracle-flip on every shard) into one folder:
findings deduplicated by their minimal script (kept from the lowest shard, the others named in
alsoFoundIn), their case files and kselftests copied, cells, scripts and rule coverage added up,
cells/s summed (the shards ran side by side), time to first finding the earliest.

Refused with exit 2, one line per problem: a shard missing, given twice, or unfinished
(interrupted or stopped by the lab); a folder that is not fuzz output (no summary.json); shards of
different campaigns (seed, N, kernels, profiles, mode or oracle flips differ).

options:
  --out DIR          the merged folder (created; files in it are replaced)
  --allow-partial    merge what is there: complete: false, missingShards listed, exit never 0
  -h, --help         this text

Exit codes: 0 no finding, 1 findings, 2 cannot merge or bad usage, 3 (--allow-partial) shards missing and no finding.`;

/** One shard's output folder, read. */
export interface FuzzShard { dir: string; index: number; count: number; summary: FuzzSummary }

/** What must be equal across the shards of one campaign. */
function campaign(s: FuzzSummary, count: number): string {
  return JSON.stringify({ seed: s.seed, count, mode: s.mode, kernels: s.kernels.map((k) => [k.name, k.profile, k.hasSysctl]), oracleFlip: [...s.oracleFlip].sort() });
}

/** Reads a shard folder's summary.json; throws naming the folder when it is not fuzz output. */
export function readFuzzShard(dir: string): FuzzShard {
  if (!fs.existsSync(dir)) throw new FuzzMergeError(`${dir}: no such directory`);
  if (!fs.statSync(dir).isDirectory()) throw new FuzzMergeError(`${dir}: not a directory`);
  const file = path.join(dir, 'summary.json');
  if (!fs.existsSync(file)) throw new FuzzMergeError(`${dir}: not a fuzz output folder (no summary.json)`);
  let s: FuzzSummary;
  try { s = JSON.parse(fs.readFileSync(file, 'utf8')) as FuzzSummary; } catch (e) { throw new FuzzMergeError(`${file}: not valid JSON (${(e as Error).message})`); }
  const m = typeof s.shard === 'string' ? /^(\d+)\/(\d+)$/.exec(s.shard) : null;
  if (!m || !Array.isArray(s.findings) || typeof s.seed !== 'number' || !Array.isArray(s.kernels)) {
    throw new FuzzMergeError(`${file}: not a fuzz session summary (key "shard" should be "I/N", with "seed", "kernels" and "findings")`);
  }
  return { dir, index: Number(m[1]), count: Number(m[2]), summary: s };
}

/** The problems that keep `shards` from being one whole campaign: fatal ones, and partial ones (missing or unfinished shards). */
export function fuzzShardProblems(shards: FuzzShard[]): { fatal: string[]; partial: string[]; missing: string[] } {
  const fatal: string[] = [];
  const groups = new Map<string, string[]>();
  for (const s of shards) {
    const id = campaign(s.summary, s.count);
    groups.set(id, [...(groups.get(id) ?? []), `${s.dir} (seed ${s.summary.seed}, shard ${s.index}/${s.count}, ${s.summary.mode}, ${s.summary.kernels.map((k) => `${k.name}=${k.profile}`).join(',')}${s.summary.oracleFlip.length ? `, flip ${s.summary.oracleFlip.join(',')}` : ''})`]);
  }
  if (groups.size > 1) fatal.push(`the folders are not shards of one campaign (seed, N, kernels, profiles, mode or oracle flips differ): ${[...groups.values()].map((g) => g.join(', ')).join(' vs ')}`);
  const byIndex = new Map<number, FuzzShard[]>();
  for (const s of shards) byIndex.set(s.index, [...(byIndex.get(s.index) ?? []), s]);
  for (const [i, ss] of byIndex) if (ss.length > 1) fatal.push(`shard ${i}/${ss[0].count} given ${ss.length} times: ${ss.map((s) => s.dir).join(', ')}`);
  const count = shards[0]?.count ?? 0;
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i)).map((i) => `${i}/${count}`);
  const partial: string[] = [];
  if (missing.length) partial.push(`shard ${missing.join(', ')} missing`);
  for (const s of shards) if (!s.summary.complete) partial.push(`shard ${s.index}/${s.count} (${s.dir}) did not finish: ${s.summary.stopReason}`);
  return { fatal, partial, missing };
}

/** A finding of the merged campaign, with the shards that found the same minimal script too. */
export type MergedFinding = Finding & { shard: string; alsoFoundIn: string[] };

/** Joins checked shards: findings deduplicated by minimal script, figures added up. Pure. */
export function mergeFuzzSummaries(shards: FuzzShard[], missing: string[], command: string): FuzzSummary & { findings: MergedFinding[]; mergedFrom: string[]; missingShards?: string[] } {
  const sorted = [...shards].sort((a, b) => a.index - b.index);
  const first = sorted[0].summary;
  const byScript = new Map<string, MergedFinding>();
  let crossDuplicates = 0;
  for (const sh of sorted) {
    for (const f of sh.summary.findings) {
      const key = canonicalKey(f.minimal.value);
      const kept = byScript.get(key);
      if (kept) { kept.alsoFoundIn.push(`${sh.index}/${sh.count} (${f.id})`); crossDuplicates++; continue; }
      byScript.set(key, { ...f, shard: `${sh.index}/${sh.count}`, alsoFoundIn: [] });
    }
  }
  const sum = (get: (s: FuzzSummary) => number): number => sorted.reduce((a, sh) => a + (get(sh.summary) ?? 0), 0);
  const ruleCoverage: Record<string, number> = {};
  for (const sh of sorted) for (const [r, n] of Object.entries(sh.summary.ruleCoverage)) ruleCoverage[r] = (ruleCoverage[r] ?? 0) + n;
  const bootMs: Record<string, number[]> = {};
  for (const sh of sorted) for (const [k, v] of Object.entries(sh.summary.bootMs)) bootMs[k] = [...(bootMs[k] ?? []), ...v];
  const firsts = sorted.map((sh) => sh.summary.timeToFirstFindingS).filter((x): x is number => x !== null);
  const whole = missing.length === 0 && sorted.every((sh) => sh.summary.complete);
  return {
    ...first,
    shard: sorted.map((sh) => `${sh.index}/${sh.count}`).join('+'),
    command,
    startedAt: sorted.map((sh) => sh.summary.startedAt).sort()[0],
    complete: whole,
    stopReason: whole ? `merged ${sorted.length} shard(s), each ${sorted.map((sh) => sh.summary.stopReason).filter((v, i, a) => a.indexOf(v) === i).join(' / ')}` : `partial merge: ${[...missing.map((m) => `shard ${m} missing`), ...sorted.filter((sh) => !sh.summary.complete).map((sh) => `shard ${sh.index}/${sh.count} ${sh.summary.stopReason}`)].join('; ')}`,
    budget: sorted.map((sh) => sh.summary.budget).filter((v, i, a) => a.indexOf(v) === i).join(' / '),
    elapsedS: Math.max(...sorted.map((sh) => sh.summary.elapsedS)),
    fuzzingS: Math.max(...sorted.map((sh) => sh.summary.fuzzingS)),
    scripts: sum((s) => s.scripts),
    cellsRun: sum((s) => s.cellsRun),
    streamCells: sum((s) => s.streamCells),
    shrinkCells: sum((s) => s.shrinkCells),
    // The shards ran side by side: the campaign's rate is the sum of theirs.
    cellsPerSecond: sum((s) => s.cellsPerSecond),
    timeToFirstFindingS: firsts.length ? Math.min(...firsts) : null,
    findings: [...byScript.values()],
    duplicates: sum((s) => s.duplicates) + crossDuplicates,
    flaky: sorted.flatMap((sh) => sh.summary.flaky),
    unanswered: sum((s) => s.unanswered),
    unlikely: sum((s) => s.unlikely),
    byChance: sum((s) => s.byChance),
    byChanceExamples: sorted.flatMap((sh) => sh.summary.byChanceExamples ?? []).slice(0, 5),
    crashes: sorted.flatMap((sh) => sh.summary.crashes),
    bootMs,
    ruleCoverage,
    rulesNeverExercised: KNOWN_RULES.filter((r) => !ruleCoverage[r]),
    mergedFrom: sorted.map((sh) => sh.dir),
    ...(whole ? {} : { missingShards: missing }),
  };
}

/** Copies a finding's case file and kselftest files from its shard folder; returns the new paths. */
function copyFindingFiles(shardDir: string, f: Finding, out: string): Finding['files'] {
  const t = testName(f.id);
  const files = { case: path.join(out, 'cases', `${f.id}.yaml`), kselftest: path.join(out, 'kselftests', `${t}.c`) };
  fs.mkdirSync(path.dirname(files.case), { recursive: true });
  fs.mkdirSync(path.dirname(files.kselftest), { recursive: true });
  fs.copyFileSync(path.join(shardDir, 'cases', `${f.id}.yaml`), files.case);
  for (const ext of ['.c', '', '.ktap', '.log']) {
    const from = path.join(shardDir, 'kselftests', `${t}${ext}`);
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(out, 'kselftests', `${t}${ext}`));
  }
  return files;
}

/** CLI entry of `fuzz.mjs merge`; returns the exit code. */
export async function fuzzMergeMain(argv: string[]): Promise<number> {
  const say = (s: string): void => { process.stderr.write(`kph fuzz merge: ${s.split('\n').join('\nkph fuzz merge: ')}\n`); };
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { out: { type: 'string' }, 'allow-partial': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    } catch (e) {
      throw new FuzzMergeError(`${(e as Error).message} (see --help)`);
    }
    const { values, positionals } = parsed;
    if (values.help) { process.stdout.write(FUZZ_MERGE_HELP + '\n'); return EXIT.ok; }
    if (!values.out) throw new FuzzMergeError('--out DIR is required');
    if (positionals.length === 0) throw new FuzzMergeError('nothing to merge: name the --out folders of the shards');
    const out = path.resolve(values.out);
    const shards = positionals.map((d) => readFuzzShard(path.resolve(d)));
    if (shards.some((s) => s.dir === out)) throw new FuzzMergeError(`--out ${out} is one of the shard folders being merged`);
    const p = fuzzShardProblems(shards);
    if (p.fatal.length) throw new FuzzMergeError(p.fatal.join('\n'));
    if (p.partial.length && !values['allow-partial']) throw new FuzzMergeError(`${p.partial.join('\n')}\nthe merge would not be the whole campaign; pass --allow-partial to merge what is there (marked incomplete, exit code never 0)`);
    const merged = mergeFuzzSummaries(shards, p.missing, `harness/fuzz.mjs merge ${argv.join(' ')}`);
    makeDirs(out, '--out');
    const byDir = new Map(shards.map((s) => [`${s.index}/${s.count}`, s.dir]));
    for (const f of merged.findings) f.files = copyFindingFiles(byDir.get(f.shard)!, f, out);
    await writeText(out, 'findings.jsonl', merged.findings.map((f) => JSON.stringify(f) + '\n').join(''));
    await writeSummary(out, merged);
    const code = merged.findings.length ? EXIT.mismatch : merged.complete ? EXIT.ok : EXIT.infrastructure;
    say(`merged shards ${merged.shard}: ${merged.findings.length} finding(s) (${merged.duplicates} duplicate(s)), ${merged.cellsRun} cells → ${out}${merged.complete ? '' : `; INCOMPLETE: ${merged.stopReason}`} (exit ${code})`);
    return code;
  } catch (e) {
    if (e instanceof FuzzMergeError || e instanceof RunDirError) { say(e.message); return EXIT.usage; }
    throw e;
  }
}
