// Compares one script's runs. Kernel vs oracle: the main job's verdict (oracle/possible.ts), so an
// outcome the kernel's random port scans can legally produce is never a divergence, however
// unlikely. Kernel vs kernel: first by equality pattern (up to a renaming of ephemeral ports);
// results that differ there are still no divergence when each kernel's observation is one the
// other kernel could have produced (possible under the other's profile, on the other's own cell):
// the difference is then the ports the random scans drew, not behaviour. The oracle is only
// consulted for that when the patterns differ; where it cannot answer the difference stands.
import type { AutobindReuse, GuestCellReport, OpResult } from '../core/cell.js';
import { oracleAnswer, type ProfileTable } from '../oracle/adapter.js';
import { compareResults } from '../oracle/compare.js';
import { checkPossible } from '../oracle/possible.js';
import { cellOf, FUZZ_RANGES, type Script } from './script.js';

/** A kernel the fuzzer runs, with the oracle profile it is compared with. */
export interface FuzzKernel { name: string; release: string; bzImage: string; profile: string; hasSysctl: boolean }

export type FuzzMode = 'oracle' | 'behaviour';

/** A difference found for one script. `op` is the index of the first op that differs. */
export type Divergence =
  | { kind: 'oracle'; kernel: string; reuse: AutobindReuse; op: number; rule: string; ruleText: string; reason: string; observed: OpResult[]; predicted: OpResult[] }
  | { kind: 'behaviour'; a: string; b: string; reuseA: AutobindReuse; reuseB: AutobindReuse; op: number; reason: string; observedA: OpResult[]; observedB: OpResult[] };

export interface ScriptComparison {
  divergences: Divergence[];
  /** Oracle rule ids of every predicted op (rule coverage). */
  rules: string[];
  /** Kernels whose guest gave no result for this script (error, unsupported, missing), with why. */
  unanswered: Array<{ kernel: string; why: string }>;
  /** Kernel pairs whose results differ only as their random port scans allow (not divergences). */
  byChance: Array<{ a: string; b: string; op: number; reason: string }>;
  /** Kernel-vs-oracle observations the model allows but finds less than 1 % likely (not divergences). */
  unlikely: number;
}

/** "autobind.relaxed-scan: first scan …" → "autobind.relaxed-scan". */
export const ruleId = (rule: string): string => rule.split(':')[0].trim();

/** Could kernel k, running its own cell of s, have produced `observed`? Undefined when the oracle cannot say. */
export function possibleOn(s: Script, k: FuzzKernel, observed: OpResult[], table: ProfileTable): boolean | undefined {
  const flags = table[k.profile];
  if (!flags) return undefined;
  try {
    return checkPossible(cellOf(s, 'fuzz/possible', k.hasSysctl), flags, observed, 'syscall').possible;
  } catch {
    return undefined;
  }
}

/** Compares one script's reports (by kernel name) with the oracle and across kernels. */
export function compareScript(s: Script, kernels: FuzzKernel[], reports: Map<string, GuestCellReport | undefined>, table: ProfileTable, mode: FuzzMode): ScriptComparison {
  const range = FUZZ_RANGES[s.range];
  const out: ScriptComparison = { divergences: [], rules: [], unanswered: [], byChance: [], unlikely: 0 };
  const done = new Map<string, OpResult[]>();
  for (const k of kernels) {
    const r = reports.get(k.name);
    if (r?.status === 'done') done.set(k.name, r.results);
    else out.unanswered.push({ kernel: k.name, why: r ? `${r.status}: ${r.reason}` : 'no report' });
  }
  if (mode === 'oracle') {
    for (const k of kernels) {
      const observed = done.get(k.name);
      if (!observed) continue;
      const cell = cellOf(s, 'fuzz/oracle', k.hasSysctl);
      const answer = oracleAnswer(cell, k.profile, table);
      if (answer.kind !== 'predicted') continue;
      out.rules.push(...answer.ops.map((p) => ruleId(p.rule)));
      const predicted = answer.ops.map((p) => p.result);
      const v = checkPossible(cell, table[k.profile], observed, 'syscall');
      if (v.possible) {
        if (v.unlikely) out.unlikely++;
        continue;
      }
      const rule = v.rule || answer.ops[v.index]?.rule || '';
      out.divergences.push({
        kind: 'oracle', kernel: k.name, reuse: cell.autobindReuse, op: v.index, rule: rule ? ruleId(rule) : '(no prediction)',
        ruleText: rule, reason: v.reason, observed, predicted,
      });
    }
  }
  for (let i = 0; i < kernels.length; i++) {
    for (let j = i + 1; j < kernels.length; j++) {
      const [a, b] = [kernels[i], kernels[j]];
      const oa = done.get(a.name);
      const ob = done.get(b.name);
      if (!oa || !ob) continue;
      const c = compareResults(oa, ob, range);
      if (c.match || !c.firstMismatch) continue;
      const reason = c.firstMismatch.reason.replace(/predicted/g, b.name).replace(/observed/g, a.name);
      if (possibleOn(s, a, ob, table) === true && possibleOn(s, b, oa, table) === true) {
        out.byChance.push({ a: a.name, b: b.name, op: c.firstMismatch.index, reason });
        continue;
      }
      out.divergences.push({
        kind: 'behaviour', a: a.name, b: b.name, reuseA: cellOf(s, 'x', a.hasSysctl).autobindReuse, reuseB: cellOf(s, 'x', b.hasSysctl).autobindReuse,
        op: c.firstMismatch.index, reason, observedA: oa, observedB: ob,
      });
    }
  }
  return out;
}

/** Short form of a result: "p" for a port (pattern), the errno otherwise. */
const shape = (r: OpResult | undefined): string => (r === undefined ? '-' : r.ok ? 'ok' : r.errno);

/** What identifies "the same finding" before shrinking: who differs, and how the first differing op differs. */
export function signature(d: Divergence): string {
  return d.kind === 'oracle'
    ? `oracle|${d.kernel}|${d.rule}|${shape(d.observed[d.op])}/${shape(d.predicted[d.op])}`
    : `behaviour|${d.a}@${d.reuseA}|${d.b}@${d.reuseB}|${shape(d.observedA[d.op])}/${shape(d.observedB[d.op])}`;
}

/** Whether `d` is the same kind of divergence as `target` (the shrink predicate): same kernels, and for the oracle the same rule. */
export function sameDivergence(d: Divergence, target: Divergence): boolean {
  if (d.kind === 'oracle' && target.kind === 'oracle') return d.kernel === target.kernel && d.rule === target.rule;
  if (d.kind === 'behaviour' && target.kind === 'behaviour') return d.a === target.a && d.b === target.b;
  return false;
}

/** Who differs, in words: "debian-6.1-before(reuse=absent) vs debian-6.1-after(reuse=1)" or "debian-6.1-after vs oracle". */
export function whoDiffers(d: Divergence): string {
  return d.kind === 'oracle' ? `${d.kernel}(reuse=${d.reuse}) vs oracle` : `${d.a}(reuse=${d.reuseA}) vs ${d.b}(reuse=${d.reuseB})`;
}
