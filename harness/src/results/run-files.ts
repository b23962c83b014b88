// Writes the final files of a run directory: results.json (everything), expected.json and
// observed.json (per kernel, guest and cell), kcidb.json (KCIDB v5.3), results.ktap, junit.xml,
// summary.md, report.html; prints the matrix on stdout.
import type { CellRecord } from '../run/assemble.js';
import type { KernelJobResult } from '../run/kernel-job.js';
import type { AccelChoice } from '../vm/accel.js';
import { behaviourChanges, changeSummary, kernelWithoutSysctl, type BehaviourChange } from './changes.js';
import { renderHtml } from './html.js';
import { toJunit } from './junit.js';
import { gatherKcidbFacts, toKcidb } from './kcidb.js';
import { toKtap } from './ktap.js';
import { matrixMarkdown, matrixText } from './summary.js';
import { writeJson, writeText } from './write.js';
import type { SelftestResult } from '../selftests/run.js';

export interface RunSummaryInput {
  runId: string;
  accel: AccelChoice;
  jobs: KernelJobResult[];
  records: CellRecord[];
  timings: Record<string, number>;
  exitCode: number;
  complete: boolean;
  kernels: Array<{ name: string; release: string; profile: string; cached: boolean; seconds: number; bzImage: string }>;
  image: { cached: boolean; seconds: number; sizes: { initramfsBytes: number; nodeDiskBytes: number } };
}

/** Writes every final file of the run and prints the terminal summary. */
export async function writeRunFiles(runDir: string, s: RunSummaryInput): Promise<void> {
  const kernels = s.jobs.map((j) => ({
    name: j.kernel.name, release: j.kernel.release, profile: j.kernel.profile, unameR: j.unameR,
    bootMs: j.bootMs, kvm: j.kvm, attempts: j.attempts, infraError: j.infraError, bootCrash: j.bootCrash, timings: j.timings,
    buildFailure: j.buildFailure,
    selftests: j.selftests?.map(({ output, ...st }) => ({ ...st, outputTail: output.slice(-4000) })),
    built: s.kernels.find((k) => k.name === j.kernel.name),
  }));
  const results: ResultsDoc = {
    runId: s.runId,
    complete: s.complete,
    exitCode: s.exitCode,
    accel: { requested: s.accel.accel, reason: s.accel.reason, timeScale: s.accel.timeScale, used: kernels.map((k) => ({ kernel: k.name, kvm: k.kvm })) },
    kernels,
    image: s.image,
    timings: s.timings,
    records: s.records.map(({ cell, ...r }) => ({ ...r, params: { autobindReuse: cell.autobindReuse, portRange: cell.portRange, family: cell.family, addr: cell.addr, sockets: cell.sockets, ops: cell.ops, destinations: cell.destinations } })),
  };
  await writeOutputs(runDir, results, s.records, s.accel);
}

/** The serialisable whole of a run: what results.json holds. */
export interface ResultsDoc {
  runId: string;
  complete: boolean;
  exitCode: number;
  accel: { requested: string; reason: string; timeScale: number; used: Array<{ kernel: string; kvm?: { enabled: boolean; present: boolean } }> };
  kernels: Array<{ name: string; release: string; profile: string; unameR?: string; bootMs?: number; kvm?: { enabled: boolean; present: boolean }; attempts: unknown[]; infraError?: string; bootCrash?: { title: string }; timings: Record<string, number>; built?: unknown; buildFailure?: { log: string; tail: string }; selftests?: Array<Omit<SelftestResult, 'output'> & { outputTail: string }> }>;
  image: unknown;
  timings: Record<string, number>;
  records: Array<Omit<CellRecord, 'cell'> & { params: Omit<CellRecord['cell'], 'id' | 'case' | 'title' | 'guests'> }>;
  /** Set on a merged run: the run directories it was made from. */
  mergedFrom?: string[];
}

/** The cell records of a results.json, with their cells rebuilt from the stored parameters. */
export function recordsOf(doc: ResultsDoc): CellRecord[] {
  return doc.records.map(({ params, ...r }) => ({ ...r, cell: { ...params, id: r.id, case: r.case, title: r.title, guests: [r.guest] } }));
}

/** Writes results.json and every file derived from it (also used by the merge of shard runs). */
export async function writeOutputs(runDir: string, results: ResultsDoc, records: CellRecord[], accel: { accel: string; reason: string }): Promise<void> {
  const key = (r: CellRecord): string => `${r.kernel}/${r.guest}/${r.id}`;
  const kernels = results.kernels;
  const s = { runId: results.runId, complete: results.complete, exitCode: results.exitCode, records, accel, timings: results.timings };
  await writeJson(runDir, 'expected.json', Object.fromEntries(s.records.map((r) => [key(r), r.expected])));
  await writeJson(runDir, 'observed.json', Object.fromEntries(s.records.map((r) => [key(r), r.observed ?? null])));
  await writeJson(runDir, 'results.json', results);
  await writeJson(runDir, 'kcidb.json', toKcidb(results as Parameters<typeof toKcidb>[0], 'kph', await gatherKcidbFacts()));
  await writeText(runDir, 'results.ktap', toKtap(s.records));
  await writeText(runDir, 'junit.xml', toJunit(s.records, s.runId, new Date()));
  const counts = { PASS: 0, FAIL: 0, ERROR: 0, MISS: 0, SKIP: 0, NA: 0 };
  for (const r of s.records) counts[r.outcome]++;
  const kernelLines = kernels.map((k) => `- **${k.name}**: \`${k.unameR ?? k.release}\`, profile \`${k.profile}\`, ${k.bootMs !== undefined ? `SSH ready ${(k.bootMs / 1000).toFixed(1)} s after QEMU start` : `not booted (${k.infraError ?? k.bootCrash?.title})`}, KVM ${k.kvm?.enabled ? 'on' : 'off'}`);
  const problems = s.records.filter((r) => r.outcome !== 'PASS' && r.outcome !== 'SKIP' && r.outcome !== 'NA');
  // Baseline: the kernel that ran cells without the sysctl (the one before the commit), if any.
  const changes = behaviourChanges(s.records, kernelWithoutSysctl(s.records));
  const md = [
    `# Run ${s.runId}${s.complete ? '' : ' (INCOMPLETE)'}`,
    '',
    `Exit code ${s.exitCode}. PASS ${counts.PASS}, FAIL ${counts.FAIL}, ERROR ${counts.ERROR}, MISS ${counts.MISS}, SKIP ${counts.SKIP}.`,
    `Accelerator: ${s.accel.accel} (${s.accel.reason}).`,
    '',
    ...kernelLines,
    '',
    '## Matrix (observed; `ok` = matches the oracle; ports renamed p1, p2… per cell)',
    '',
    matrixMarkdown(s.records),
    '',
    ...selftestsMarkdown(kernels),
    ...changesMarkdown(changes),
    ...(problems.length ? ['## Not passing', '', ...problems.map((r) => `- ${r.outcome} ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ''] : []),
    '## Timings (ms)',
    '',
    ...Object.entries(s.timings).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ].join('\n');
  await writeText(runDir, 'summary.md', md);
  await writeText(runDir, 'report.html', renderHtml({
    runId: s.runId, complete: s.complete, exitCode: s.exitCode, records: s.records, changes,
    kernels: kernels.map((k) => ({ name: k.name, release: k.unameR ?? k.release, profile: k.profile, bootMs: k.bootMs, selftests: k.selftests })),
  }));
  process.stdout.write(`\n${matrixText(s.records)}\n\n`);
  for (const r of problems) process.stdout.write(`${r.outcome} ${r.kernel} ${r.guest} ${r.id}: ${r.reason}\n`);
  process.stdout.write(`results: ${runDir}\n`);
}

/** summary.md's "Kernel selftests" section: each selftest's verdict and its tests, per kernel. */
function selftestsMarkdown(kernels: ResultsDoc['kernels']): string[] {
  const rows = kernels.flatMap((k) => (k.selftests ?? []).map((st) =>
    `| ${k.name} | \`${st.name}\` | ${st.verdict}${st.exitCode !== undefined ? ` (exit ${st.exitCode})` : ''} | ${st.tests.map((x) => `${x.number} ${x.verdict}`).join(', ')} | ${st.sysctlErrors.join(', ') || '-'} |`));
  if (rows.length === 0) return [];
  return ['## Kernel selftests (built from each kernel\'s source, run in the guest)', '', '| kernel | selftest | verdict | tests | sysctls the kernel lacks |', '|---|---|---|---|---|', ...rows, ''];
}

const CHANGES_LISTED = 100;

/** summary.md's "Behaviour changes" section: counts, then each changed pair and whether the oracle predicted it. */
function changesMarkdown(changes: BehaviourChange[]): string[] {
  const c = changeSummary(changes);
  const notable = changes.filter((x) => x.changed || (x.comparable && x.predictedChange === true));
  const side = (x: BehaviourChange['from']): string => `${x.kernel} reuse=${x.reuse} \`${x.observed}\``;
  const lines = notable.slice(0, CHANGES_LISTED).map((x) => {
    const verdict = x.changed ? (x.explained ? 'predicted by the oracle' : '**not predicted** by the oracle') : '**predicted by the oracle, but unchanged**';
    return `- ${x.guest} \`${x.group}\`: ${side(x.from)} → ${side(x.to)}: ${verdict}${x.rules.length ? ` (rule: ${x.rules.join('; ')})` : ''}`;
  });
  if (notable.length > CHANGES_LISTED) lines.push(`- … ${notable.length - CHANGES_LISTED} more in report.html`);
  return [
    '## Behaviour changes (each kernel × reuse against the baseline)',
    '',
    `${c.changed} changed (${c.changedPredicted} predicted, ${c.changedUnpredicted} not predicted), ${c.unchanged} unchanged, ${c.predictedButUnchanged} predicted but unchanged${c.incomparable ? `, ${c.incomparable} not comparable (ERROR/MISS)` : ''}.`,
    '',
    ...lines,
    ...(lines.length ? [''] : []),
  ];
}
