// The fuzz session's record: summary.json (everything) and summary.md (for people), rewritten
// (write-then-rename) after every batch and every finding, so an interrupted session keeps them.
import type { OpResult } from '../core/cell.js';
import { writeJson, writeText } from '../util/write.js';
import type { Script } from './script.js';
import type { SelftestResult } from '../selftests/run.js';
import type { CrashNote } from './pool.js';

/**
 * The oracle's rule ids (oracle/index.ts), to report the ones a session never exercised; not
 * connect.recycle-time-wait, which needs a TIME_WAIT sock (a closed connection stays in FIN_WAIT1
 * for the rest of a script).
 */
export const KNOWN_RULES = [
  'bind.already-bound', 'bind.no-port', 'autobind.first-scan', 'autobind.relaxed-scan', 'autobind.exhausted', 'listen.connected', 'listen.again',
  'listen.fast-path', 'listen.sole-owner', 'listen.no-conflict', 'listen.bind-conflict', 'connect.already-connected', 'connect.not-closed',
  'connect.bound-port', 'connect.duplicate-4tuple', 'connect.scan-free', 'connect.scan-shared', 'connect.scan-exhausted',
  'close.fin-wait1', 'close.release', 'close.unbound', 'fd.closed',
] as const;

export interface Finding {
  /** Also the case name: fuzz-<seed>[-s<i>of<N>]-<nnn>. */
  id: string;
  kind: 'oracle' | 'behaviour';
  /** "A(reuse=absent) vs B(reuse=1)" or "A(reuse=1) vs oracle". */
  who: string;
  kernels: string[];
  /** The oracle rule at the first differing op (for a behaviour finding: each kernel's own rule there, when the oracle ran). */
  rule: string;
  ruleText?: string;
  signature: string;
  scriptIndex: number;
  foundAfterS: number;
  original: { script: string; sockets: number; ops: number };
  minimal: { script: string; sockets: number; ops: number; value: Script };
  firstDiff: { op: number; what: string; reason: string };
  /** Per op of the minimal script, what each side did ("p1", "EADDRINUSE", …). */
  results: Record<string, string[]>;
  shrink: { steps: string[]; rounds: number; candidates: number; stopped?: string };
  /** The minimal script re-run: how many times the divergence showed. */
  confirmed: string;
  files: { case: string; kselftest: string };
  /** Whose results the kselftest asserts. */
  kselftestAsserts: string;
  /** The kselftest's verdict on each kernel (or why it did not run). */
  kselftest: Record<string, SelftestResult['verdict'] | string>;
  /** In a merge (fuzz/merge.ts): the shard that kept it, and the other shards whose finding had the same minimal script. */
  shard?: string;
  alsoFoundIn?: string[];
}

export interface FuzzSummary {
  seed: number;
  shard: string;
  mode: string;
  kernels: Array<{ name: string; profile: string; release: string; hasSysctl: boolean }>;
  oracleFlip: string[];
  budget: string;
  command: string;
  startedAt: string;
  complete: boolean;
  stopReason: string;
  elapsedS: number;
  /** Time spent running cells (build and first boot excluded). */
  fuzzingS: number;
  scripts: number;
  cellsRun: number;
  streamCells: number;
  shrinkCells: number;
  cellsPerSecond: number;
  timeToFirstFindingS: number | null;
  findings: Finding[];
  /** Divergences whose signature (or minimal script) matched an earlier finding. */
  duplicates: number;
  /** Divergences that did not show again when re-run (not shrunk). */
  flaky: Array<{ scriptIndex: number; signature: string }>;
  /** Cells a guest did not answer with results (error / unsupported). */
  unanswered: number;
  /** Kernel-vs-oracle observations the model allows but finds under 1 % likely (possible.ts): not findings. */
  unlikely: number;
  /** Kernel pairs whose results differed only as each kernel's random port scans allow (compare.ts): not findings. */
  byChance: number;
  /** The first few of those, to check by hand. */
  byChanceExamples: Array<{ scriptIndex: number; a: string; b: string; op: number; reason: string }>;
  crashes: CrashNote[];
  bootMs: Record<string, number[]>;
  ruleCoverage: Record<string, number>;
  rulesNeverExercised: string[];
  /** A merge of shard folders (fuzz/merge.ts): which, and the shards it lacks. */
  mergedFrom?: string[];
  missingShards?: string[];
}

/** "p1", "p2"… for ports in order of appearance (the renaming compareResults allows), errnos as they are. */
export function showResults(rs: OpResult[]): string[] {
  const names = new Map<number, string>();
  return rs.map((r) => {
    if (!r.ok) return r.errno;
    if (r.port === null) return 'ok';
    if (r.port === 0) return 'port 0';
    if (!names.has(r.port)) names.set(r.port, `p${names.size + 1}`);
    return names.get(r.port)!;
  });
}

/** summary.md: the findings, then the session's figures and the rule coverage. */
export function summaryMarkdown(s: FuzzSummary): string {
  const lines = [
    `# Fuzz session: seed ${s.seed}${s.shard !== '1/1' ? `, shard ${s.shard}` : ''}`,
    '',
    `\`${s.command}\``,
    '',
    `Kernels: ${s.kernels.map((k) => `${k.name} (profile ${k.profile}${k.hasSysctl ? '' : ', no ip_autobind_reuse'})`).join(', ')}; mode ${s.mode}${s.oracleFlip.length ? `; oracle flipped: ${s.oracleFlip.join(', ')}` : ''}.`,
    `${s.complete ? 'Finished' : 'Stopped'}: ${s.stopReason}. ${s.scripts} scripts, ${s.cellsRun} cells (${s.streamCells} exploring, ${s.shrinkCells} confirming and shrinking) in ${s.fuzzingS.toFixed(0)} s of fuzzing: **${s.cellsPerSecond.toFixed(1)} cells/s**; time to first finding: ${s.timeToFirstFindingS === null ? 'no finding' : `${s.timeToFirstFindingS.toFixed(1)} s`}.`,
    `${s.findings.length} finding(s), ${s.duplicates} duplicate divergence(s), ${s.flaky.length} that did not reproduce, ${s.unanswered} cell(s) without results, ${s.crashes.length} kernel crash(es).`,
    ...(s.mergedFrom ? [`Merged from ${s.mergedFrom.length} shard folder(s): ${s.mergedFrom.join(', ')}${s.missingShards?.length ? `; MISSING shard ${s.missingShards.join(', ')}` : ''}.`] : []),
    `Not findings: ${s.unlikely} kernel observation(s) the oracle allows at under 1 % likelihood; ${s.byChance} kernel pair(s) whose results differed only as their random port scans allow${s.byChanceExamples.length ? ` (e.g. script ${s.byChanceExamples[0].scriptIndex}, op ${s.byChanceExamples[0].op}: ${s.byChanceExamples[0].reason})` : ''}.`,
    '',
  ];
  if (s.findings.length) {
    lines.push('## Findings', '', '| finding | who differs | rule | minimal script | first difference | shrink | kselftest |', '|---|---|---|---|---|---|---|');
    for (const f of s.findings) {
      const st = Object.entries(f.kselftest).map(([k, v]) => `${k}: ${v}`).join(', ');
      lines.push(`| ${f.id} | ${f.who} | ${f.rule} | \`${f.minimal.script}\` (${f.minimal.sockets} sockets, ${f.minimal.ops} ops) | op ${f.firstDiff.op} ${f.firstDiff.what}: ${f.firstDiff.reason} | ${f.original.sockets}/${f.original.ops} → ${f.minimal.sockets}/${f.minimal.ops} sockets/ops in ${f.shrink.steps.length} steps${f.shrink.stopped ? ` (${f.shrink.stopped})` : ''} | ${st} |`);
    }
    lines.push('');
    for (const f of s.findings) {
      lines.push(`### ${f.id}`, '', `${f.who}; rule ${f.rule}${f.ruleText ? ` (${f.ruleText})` : ''}; confirmed ${f.confirmed}; found after ${f.foundAfterS.toFixed(1)} s (script ${f.scriptIndex}).`, '');
      if (f.alsoFoundIn?.length) lines.push(`Kept from shard ${f.shard}; the same minimal script was also found by shard ${f.alsoFoundIn.join(', ')}.`, '');
      for (const [who, rs] of Object.entries(f.results)) lines.push(`- ${who}: ${rs.join(' ')}`);
      lines.push('', `Shrink steps: ${f.shrink.steps.join('; ') || '(none)'}.`, '', `Files: \`${f.files.case}\`, \`${f.files.kselftest}\` (asserts ${f.kselftestAsserts}).`,
        `Reproduce: \`npx zx harness/run.mjs --cases ${f.files.case.replace(/\/[^/]*$/, '')} --case ${f.id}${s.oracleFlip.map((x) => ` --oracle-flip ${x}`).join('')} --kernels ${f.kernels.join(',')}\``, '');
    }
  }
  lines.push('## Oracle rule coverage', '', '| rule | ops |', '|---|---|');
  for (const [r, n] of Object.entries(s.ruleCoverage).sort((a, b) => b[1] - a[1])) lines.push(`| ${r} | ${n} |`);
  if (s.rulesNeverExercised.length) lines.push('', `Never exercised: ${s.rulesNeverExercised.join(', ')}.`);
  if (s.crashes.length) lines.push('', '## Kernel crashes', '', ...s.crashes.map((c) => `- ${c.kernel} VM ${c.vm}: ${c.kind} ${c.title} (cells without answer: ${c.cells.length})`));
  lines.push('');
  return lines.join('\n');
}

/** Writes summary.json and summary.md into `dir`. */
export async function writeSummary(dir: string, s: FuzzSummary): Promise<void> {
  await writeJson(dir, 'summary.json', s);
  await writeText(dir, 'summary.md', summaryMarkdown(s));
}
