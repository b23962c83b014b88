// `harness/merge.mjs RUN_DIR… --out DIR [--allow-partial]`: joins the run directories of one
// plan's shards (`--shard i/N`) into one run directory with every output regenerated from the
// union of their records. An incomplete or inconsistent set of shards is refused (exit 2)
// unless --allow-partial, which marks the result incomplete and never exits 0.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkShardSet, MergeError, readShardRun, type ShardSet } from './merge-shards.js';
import { EXIT, exitCodeFor } from './core/verdict.js';
import { recordsOf, writeOutputs, type ResultsDoc } from './results/run-files.js';
import type { CellRecord } from './core/record.js';
import { versionLine } from './util/version.js';
import { makeDirs, RunDirError } from './run/run-dir.js';

export { MergeError } from './merge-shards.js';

export const MERGE_HELP = `Usage: npx zx harness/merge.mjs RUN_DIR… --out DIR [--allow-partial]

Joins the run directories of the shards of one plan (harness/run.mjs --shard I/N, one run
directory per shard) into one run directory: results.json, summary.md, report.html,
junit.xml, results.ktap, kcidb.json, expected.json and observed.json, regenerated from the
union of the shards' records.

Each RUN_DIR's run.json says which shard it is and of which plan. The merge refuses, with
exit 2 and one line per problem:
  - a shard missing ("shard 2/4 and 4/4 missing"), or one that did not finish
    (results.json complete: false; finish it with harness/run.mjs --resume RUN_DIR)
  - a shard given twice
  - runs of different plans (options other than --shard, --results, --jobs, --accel,
    --boot-attempts, --timeout-scale differ, or different selected cells) or different N
  - a RUN_DIR that does not exist or is not a run directory (no run.json)

Options:
  --out DIR          the merged run directory (created; files in it are replaced)
  --allow-partial    merge the finished shards that are there: results.json says
                     complete: false and lists missingShards, summary.md says which are
                     missing, and the exit code is 1 (a cell differs) or 3, never 0
  -h, --help         this text
  --version          print the harness version

Exit codes: the merged run's, as harness/run.mjs: 0 every cell matches the oracle; 1 a cell
differs or a kernel crashed; 3 the lab failed, or (--allow-partial) shards are missing;
2 the shards cannot be merged or bad usage; 4 internal error.`;

/** Joins a checked shard set's results: records must not conflict; kernels are joined by name. */
export function mergeDocs(set: ShardSet, runId: string): { doc: ResultsDoc; records: CellRecord[] } {
  const docs = set.runs;
  const byKey = new Map<string, { dir: string; rec: ResultsDoc['records'][number] }>();
  for (const { dir, doc } of docs) {
    for (const rec of doc.records) {
      const key = `${rec.kernel}/${rec.guest}/${rec.id}`;
      const seen = byKey.get(key);
      if (seen) throw new MergeError(`${key} is in two shards: ${seen.dir} (${seen.rec.outcome}) and ${dir} (${rec.outcome})`);
      byKey.set(key, { dir, rec });
    }
  }
  const kernels = new Map<string, ResultsDoc['kernels'][number]>();
  for (const { doc } of docs) for (const k of doc.kernels) if (!kernels.has(k.name)) kernels.set(k.name, k);
  const records = [...byKey.values()].map((v) => v.rec);
  const first = docs[0].doc;
  const whole = set.missing.length === 0;
  const outcomes = exitCodeFor(records.map((r) => r.outcome));
  const doc: ResultsDoc = {
    ...first,
    runId,
    complete: whole,
    // A partial merge is never green: a difference still says 1, anything else says the lab's 3.
    exitCode: whole ? outcomes : outcomes === EXIT.ok ? EXIT.infrastructure : outcomes,
    kernels: [...kernels.values()],
    timings: Object.fromEntries(Object.keys(first.timings).map((k) => [k, Math.max(...docs.map((d) => d.doc.timings[k] ?? 0))])),
    records,
    mergedFrom: docs.map((d) => d.dir),
    ...(whole ? {} : { missingShards: set.missing }),
  };
  return { doc, records: orderLike(recordsOf(doc), docs) };
}

/** Sorts merged records by kernel order, then guest, then cell id, so shard order does not matter. */
function orderLike(records: CellRecord[], docs: Array<{ doc: ResultsDoc }>): CellRecord[] {
  const kernelOrder = [...new Set(docs.flatMap((d) => d.doc.kernels.map((k) => k.name)))];
  return records.sort((a, b) => kernelOrder.indexOf(a.kernel) - kernelOrder.indexOf(b.kernel) || a.guest.localeCompare(b.guest) || a.id.localeCompare(b.id));
}

/** CLI entry; returns the exit code of the merged run (2 when the shards cannot be merged). */
export async function mergeMain(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, 'allow-partial': { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) { process.stdout.write(MERGE_HELP + '\n'); return EXIT.ok; }
    if (values.version) { process.stdout.write(versionLine() + '\n'); return EXIT.ok; }
    if (!values.out) throw new MergeError('--out DIR is required');
    const out = path.resolve(values.out);
    const runs = positionals.map((dir) => readShardRun(path.resolve(dir)));
    if (runs.some((r) => r.dir === out)) throw new MergeError(`--out ${out} is one of the run directories being merged`);
    const set = checkShardSet(runs, values['allow-partial'] ?? false);
    const { doc, records } = mergeDocs(set, `merged-${path.basename(out)}`);
    makeDirs(out, '--out');
    await writeOutputs(out, doc, records);
    const partial = set.missing.length ? `; INCOMPLETE: shard ${set.missing.join(', ')} missing` : '';
    process.stderr.write(`kph: merged shards ${set.runs.map((r) => r.shard).join(', ')}, ${records.length} records → ${out}${partial} (exit ${doc.exitCode})\n`);
    return doc.exitCode;
  } catch (e) {
    if (e instanceof MergeError || e instanceof RunDirError || (e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`kph merge: ${e.message.split('\n').join('\nkph merge: ')}\n${e instanceof MergeError ? '' : 'Run with --help for the options.\n'}`);
      return EXIT.usage;
    }
    throw e;
  }
}
