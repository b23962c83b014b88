// `harness/merge.mjs RUN_DIR… --out DIR`: joins the run directories of shards (`--shard i/N`)
// into one run directory with every output regenerated from the union of their records.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT, exitCodeFor } from './results/outcome.js';
import { inlineResults, recordsOf, writeOutputs, type ResultsDoc } from './results/run-files.js';
import type { CellRecord } from './run/assemble.js';

export class MergeError extends Error {
  override name = 'MergeError';
}

/** Reads a run directory's results.json; throws naming the directory when it is not a finished run. */
function readRun(dir: string): ResultsDoc {
  const file = path.join(dir, 'results.json');
  if (!fs.existsSync(file)) throw new MergeError(`${dir}: no results.json (not a run directory)`);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as ResultsDoc;
  if (!Array.isArray(doc.records)) throw new MergeError(`${file}: has no records (the run did not finish; resume it with --resume ${dir})`);
  return inlineResults(doc);
}

/** Joins several runs' results: records must not conflict; kernels are joined by name. */
export function mergeDocs(docs: Array<{ dir: string; doc: ResultsDoc }>, runId: string): { doc: ResultsDoc; records: CellRecord[] } {
  if (docs.length === 0) throw new MergeError('nothing to merge: name at least one run directory');
  const byKey = new Map<string, { dir: string; rec: ResultsDoc['records'][number] }>();
  for (const { dir, doc } of docs) {
    for (const rec of doc.records) {
      const key = `${rec.kernel}/${rec.guest}/${rec.id}`;
      const seen = byKey.get(key);
      if (seen && seen.rec.outcome !== rec.outcome) throw new MergeError(`${key} is ${seen.rec.outcome} in ${seen.dir} but ${rec.outcome} in ${dir}`);
      if (!seen) byKey.set(key, { dir, rec });
    }
  }
  const kernels = new Map<string, ResultsDoc['kernels'][number]>();
  for (const { doc } of docs) for (const k of doc.kernels) if (!kernels.has(k.name)) kernels.set(k.name, k);
  const records = [...byKey.values()].map((v) => v.rec);
  const first = docs[0].doc;
  const complete = docs.every((d) => d.doc.complete);
  const doc: ResultsDoc = {
    ...first,
    runId,
    complete,
    exitCode: complete ? exitCodeFor(records.map((r) => r.outcome)) : EXIT.interrupted,
    kernels: [...kernels.values()],
    timings: Object.fromEntries(Object.keys(first.timings).map((k) => [k, Math.max(...docs.map((d) => d.doc.timings[k] ?? 0))])),
    records,
    mergedFrom: docs.map((d) => d.dir),
  };
  return { doc, records: orderLike(recordsOf(doc), docs) };
}

/** Sorts merged records by kernel order, then guest, then cell id, so shard order does not matter. */
function orderLike(records: CellRecord[], docs: Array<{ doc: ResultsDoc }>): CellRecord[] {
  const kernelOrder = [...new Set(docs.flatMap((d) => d.doc.kernels.map((k) => k.name)))];
  return records.sort((a, b) => kernelOrder.indexOf(a.kernel) - kernelOrder.indexOf(b.kernel) || a.guest.localeCompare(b.guest) || a.id.localeCompare(b.id));
}

/** CLI entry; returns the exit code of the merged run. */
export async function mergeMain(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { out: { type: 'string' } }, allowPositionals: true, strict: true });
    if (!values.out) throw new MergeError('--out DIR is required');
    const docs = positionals.map((dir) => ({ dir: path.resolve(dir), doc: readRun(path.resolve(dir)) }));
    const out = path.resolve(values.out);
    fs.mkdirSync(out, { recursive: true });
    const { doc, records } = mergeDocs(docs, `merged-${path.basename(out)}`);
    await writeOutputs(out, doc, records);
    process.stderr.write(`kph: merged ${docs.length} runs, ${records.length} records → ${out} (exit ${doc.exitCode})\n`);
    return doc.exitCode;
  } catch (e) {
    if (e instanceof MergeError || (e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`kph merge: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}
