// summary.md: the counts, the kernels, the matrix, the selftests, the behaviour changes and
// whether the oracle predicted each, what did not pass and why, the unlikely outcomes, timings.
import type { CellRecord } from '../../core/record.js';
import { changeSummary, type BehaviourChange } from '../changes.js';
import { describeSource } from '../source-text.js';
import { countOutcomes, isProblem } from '../../core/verdict.js';
import type { ResultsDoc } from '../results-doc.js';
import { matrixMarkdown, portCoverageLine, unlikelyMarkdown } from '../summary.js';
import type { Output, RunView } from './run-view.js';

export const summaryMd: Output = { file: 'summary.md', render: summary };

function summary(run: RunView): string {
  const { doc: results, records } = run;
  const kernels = results.kernels;
  const counts = countOutcomes(records.map((r) => r.outcome));
  const kernelLines = kernels.map((k) => `- **${k.name}**: \`${k.unameR ?? k.release}\`, profile \`${k.profile}\`, ${results.facts?.sources[k.name] ? `${describeSource(results.facts.sources[k.name])}, ` : ''}${k.bootMs !== undefined ? `SSH ready ${(k.bootMs / 1000).toFixed(1)} s after QEMU start` : `not booted (${k.infraError ?? k.bootCrash?.title})`}, KVM ${k.kvm?.enabled ? 'on' : 'off'}`);
  const problems = records.filter((r) => isProblem(r.outcome));
  const skipped = records.filter((r) => r.outcome === 'SKIP');
  const list = records as CellRecord[];
  return [
    `# Run ${results.runId}${results.complete ? '' : ' (INCOMPLETE)'}`,
    '',
    ...(results.missingShards?.length ? [`**Partial merge: shard ${results.missingShards.join(', ')} missing; their cells are not in this report.**`, ''] : []),
    `Exit code ${results.exitCode}. PASS ${counts.PASS}, FAIL ${counts.FAIL}, ERROR ${counts.ERROR}, MISS ${counts.MISS}, SKIP ${counts.SKIP} (could not run here); n/a ${counts.NA} (do not apply to that kernel: not run, not reported as tests).`,
    `Accelerator: ${results.accel.requested} (${results.accel.reason}).`,
    portCoverageLine(list),
    '',
    ...kernelLines,
    '',
    '## Matrix (observed; `ok` = matches the oracle; `n/a` = does not apply to that kernel; ports renamed p1, p2… per cell)',
    '',
    matrixMarkdown(list),
    '',
    ...selftestsMarkdown(kernels),
    ...changesMarkdown(run.changes),
    ...(problems.length ? ['## Not passing', '', ...problems.map((r) => `- ${r.outcome} ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ''] : []),
    ...unlikelyMarkdown(list),
    ...(skipped.length ? ['## Skipped (could not run here)', '', ...skipped.slice(0, SKIPPED_LISTED).map((r) => `- ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ...(skipped.length > SKIPPED_LISTED ? [`- … ${skipped.length - SKIPPED_LISTED} more in results.ktap and report.html`] : []), ''] : []),
    '## Timings (ms)',
    '',
    ...Object.entries(results.timings).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ].join('\n');
}

/** summary.md's "Kernel selftests" section: each selftest's verdict and its tests, per kernel. */
function selftestsMarkdown(kernels: ResultsDoc['kernels']): string[] {
  const rows = kernels.flatMap((k) => (k.selftests ?? []).map((st) =>
    `| ${k.name} | \`${st.name}\` | ${st.verdict}${st.exitCode !== undefined ? ` (exit ${st.exitCode})` : ''} | ${st.tests.map((x) => `${x.number} ${x.verdict}`).join(', ')} | ${st.sysctlErrors.join(', ') || '-'} |`));
  if (rows.length === 0) return [];
  return ['## Kernel selftests (built from each kernel\'s source, run in the guest)', '', '| kernel | selftest | verdict | tests | sysctls the kernel lacks |', '|---|---|---|---|---|', ...rows, ''];
}

const CHANGES_LISTED = 100;
/** SKIPs listed in summary.md (a kernel without IPv6 skips hundreds of cells for one reason). */
const SKIPPED_LISTED = 100;

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
