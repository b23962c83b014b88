// The bisect run directory: steps.jsonl (one line per step, appended) and summary.md
// (rewritten from steps.jsonl at the end of every step, write-then-rename).
import fs from 'node:fs';
import path from 'node:path';
import { writeText } from '../util/write.js';
import type { Combined, RepeatResult } from './verdict.js';

export interface StepRecord {
  step: number;
  commit: string;
  subject: string;
  /** Top level of the tree under test. */
  tree: string;
  uncommittedChanges: boolean;
  startedAt: string;
  seconds: number;
  mode: 'oracle' | 'behaviour';
  profile?: string;
  good?: { ref: string; commit: string; release: string };
  cells: number;
  selection: string[];
  build?: { seconds: number; cached: boolean; release: string; log: string; error?: string };
  repeats: RepeatResult[];
  verdict: Combined['verdict'] | 'interrupted';
  confidence?: number;
  split?: boolean;
  why: string;
  exitCode: number;
  /** This step's folder (build log, console logs, events.jsonl). */
  dir: string;
}

const STEPS = 'steps.jsonl';

/** Steps recorded so far (lines that do not parse are left out). */
export function readSteps(dir: string): StepRecord[] {
  const file = path.join(dir, STEPS);
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try { return [JSON.parse(l) as StepRecord]; } catch { return []; }
  });
}

/** Appends one step as a JSON line (one write call, so a line is never interleaved). */
export function appendStep(dir: string, step: StepRecord): void {
  fs.appendFileSync(path.join(dir, STEPS), JSON.stringify(step) + '\n');
}

const secs = (s: number | undefined): string => (s === undefined ? '–' : `${s.toFixed(1)} s`);
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** summary.md from every step so far. */
export function renderSummary(steps: readonly StepRecord[]): string {
  const first = steps[0];
  const out = [`# git bisect run`, ''];
  if (first) {
    out.push(`- tree: \`${first.tree}\``);
    out.push(first.mode === 'oracle' ? `- mode: oracle, profile \`${first.profile}\`` : `- mode: behaviour, compared with the good commit \`${first.good?.ref}\` (${first.good?.commit.slice(0, 12) ?? '?'})`);
    out.push(`- cells: ${first.cells}${first.selection.length ? ` (${first.selection.join(' ')})` : ' (the whole plan)'}`, '');
  }
  out.push('| step | commit | subject | build | boot | verdict | confidence | exit | cells not passing |', '|---|---|---|---|---|---|---|---|---|');
  for (const s of steps) {
    const build = s.build ? (s.build.error ? 'FAILED' : s.build.cached ? 'cached' : secs(s.build.seconds)) : '–';
    const boots = s.repeats.map((r) => (r.bootMs === undefined ? 'no boot' : secs(r.bootMs / 1000))).join(', ') || '–';
    const notPassing = s.repeats.reduce((n, r) => n + r.counts.FAIL + r.counts.ERROR + r.counts.MISS, 0);
    out.push(`| ${s.step} | \`${s.commit.slice(0, 12)}\` | ${cell(s.subject)} | ${build} | ${boots} | **${s.verdict}** | ${s.confidence === undefined ? '–' : s.confidence.toFixed(2)} | ${s.exitCode} | ${notPassing} |`);
  }
  for (const s of steps) {
    out.push('', `## Step ${s.step}: \`${s.commit.slice(0, 12)}\` ${s.subject}`, '');
    out.push(`- verdict: **${s.verdict}** (exit ${s.exitCode}): ${s.why}${s.confidence !== undefined ? `; confidence ${s.confidence.toFixed(2)}` : ''}`);
    if (s.build) out.push(`- build: ${s.build.error ? `failed: ${s.build.error.split('\n')[0]}` : `${s.build.release}, ${s.build.cached ? 'cached' : `built in ${secs(s.build.seconds)}`}`} (log \`${s.build.log}\`)`);
    out.push(`- step time: ${secs(s.seconds)}; folder \`${s.dir}\``);
    for (const r of s.repeats) {
      const c = r.counts;
      out.push(`- run ${r.repeat}: ${r.verdict} — ${r.why}; boot ${r.bootMs === undefined ? 'failed' : secs(r.bootMs / 1000)} (attempts: ${r.attempts.map((a) => a.kind).join(', ') || 'none'}); PASS ${c.PASS} FAIL ${c.FAIL} ERROR ${c.ERROR} MISS ${c.MISS} SKIP ${c.SKIP}`);
      for (const m of r.notPassing.slice(0, 20)) out.push(`  - ${m.outcome} ${m.guest} \`${m.id}\`: ${cell(m.reason)}`);
      if (r.notPassing.length > 20) out.push(`  - … ${r.notPassing.length - 20} more in steps.jsonl`);
    }
  }
  return out.join('\n') + '\n';
}

/** Rewrites summary.md from steps.jsonl. */
export async function writeSummary(dir: string): Promise<void> {
  await writeText(dir, 'summary.md', renderSummary(readSteps(dir)));
}
