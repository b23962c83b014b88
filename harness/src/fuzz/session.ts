// One fuzz session on a ready VM pool: the script stream in batches, comparison, and for each
// new divergence: confirm, shrink, emit (case file, kselftest compiled and run on every
// kernel), record. Findings are written as they are found; the summary after every batch.
import fs from 'node:fs';
import path from 'node:path';
import { describeOp, type GuestCellReport } from '../core/cell.js';
import { oracleAnswer, type ProfileTable } from '../oracle/adapter.js';
import { compareScript, ruleId, sameDivergence, signature, whoDiffers, type Divergence, type FuzzKernel, type FuzzMode } from './compare.js';
import { caseYaml } from './emit-case.js';
import { kselftestC, testName } from './emit-kselftest.js';
import { scriptAt, shardIndices } from './generate.js';
import { compileKselftest } from './kselftest-build.js';
import type { Budget } from './options.js';
import type { VmPool } from './pool.js';
import { canonicalKey, cellOf, scriptKey, scriptText, type Script } from './script.js';
import { shrink } from './shrink.js';
import { KNOWN_RULES, showResults, writeSummary, type Finding, type FuzzSummary } from './summary.js';

export interface SessionConfig {
  seed: number;
  shard: { index: number; count: number };
  mode: FuzzMode;
  budget: Budget;
  batch: number;
  kernels: FuzzKernel[];
  table: ProfileTable;
  out: string;
  /** tools/testing/selftests headers for compiling emitted kselftests. */
  headers: string;
  signal: AbortSignal;
  say: (s: string) => void;
  /** The summary fields the session does not own (command line, kernels, start…). */
  summary: FuzzSummary;
}

/** Times a confirmation re-runs a script. */
const CONFIRM_RUNS = 3;

export class FuzzSession {
  private readonly s: FuzzSummary;
  private readonly seenSignatures = new Set<string>();
  private readonly seenMinimal = new Set<string>();
  private readonly t0 = Date.now();
  private runMs = 0;
  private pos = 0;

  constructor(private readonly cfg: SessionConfig, private readonly pool: VmPool) {
    this.s = cfg.summary;
  }

  /** Whether the budget is spent. */
  private spent(): boolean {
    const b = this.cfg.budget;
    return b.kind === 'time' ? Date.now() - this.t0 >= b.ms : this.s.cellsRun >= b.cells;
  }

  /** Runs the stream until the budget is spent or the signal aborts; returns the summary. */
  async run(): Promise<FuzzSummary> {
    const { cfg } = this;
    while (!cfg.signal.aborted && !this.spent()) {
      const idx = shardIndices(cfg.shard, this.pos, cfg.batch);
      this.pos += cfg.batch;
      const scripts = idx.map((k) => scriptAt(cfg.seed, k));
      const runs = await this.runScripts(scripts, 'stream');
      if (cfg.signal.aborted) break;
      this.s.scripts += scripts.length;
      for (let i = 0; i < scripts.length; i++) {
        const cmp = compareScript(scripts[i], cfg.kernels, runs[i], cfg.table, cfg.mode);
        for (const r of cmp.rules) this.s.ruleCoverage[r] = (this.s.ruleCoverage[r] ?? 0) + 1;
        this.s.unanswered += cmp.unanswered.length;
        this.s.unlikely += cmp.unlikely;
        this.s.byChance += cmp.byChance.length;
        for (const c of cmp.byChance) if (this.s.byChanceExamples.length < 5) this.s.byChanceExamples.push({ scriptIndex: idx[i], ...c });
        for (const d of cmp.divergences) {
          if (cfg.signal.aborted) break;
          await this.divergence(scripts[i], idx[i], d);
        }
      }
      cfg.say(`${this.s.scripts} scripts, ${this.s.cellsRun} cells, ${this.rate().toFixed(1)} cells/s, ${this.s.findings.length} finding(s)`);
      await this.save();
    }
    this.s.complete = !cfg.signal.aborted;
    this.s.stopReason = cfg.signal.aborted ? 'interrupted' : `budget ${cfg.budget.text} spent`;
    await this.save();
    return this.s;
  }

  /** Cells per second of guest time so far. */
  private rate(): number { return this.runMs ? this.s.cellsRun / (this.runMs / 1000) : 0; }

  /** Updates the figures and rewrites summary.json / summary.md. */
  async save(): Promise<void> {
    this.s.fuzzingS = (Date.now() - this.t0) / 1000;
    this.s.elapsedS = (Date.now() - Date.parse(this.s.startedAt)) / 1000;
    this.s.cellsPerSecond = this.rate();
    this.s.rulesNeverExercised = KNOWN_RULES.filter((r) => !this.s.ruleCoverage[r]);
    await writeSummary(this.cfg.out, this.s);
  }

  /** Runs scripts once on every kernel (one exec per kernel); per script, the reports by kernel. */
  private async runScripts(scripts: Script[], purpose: 'stream' | 'shrink'): Promise<Array<Map<string, GuestCellReport | undefined>>> {
    const byKernel = new Map(this.cfg.kernels.map((k) => [k.name, scripts.map((s, i) => cellOf(s, `fuzz/${i}`, k.hasSysctl))]));
    const t = Date.now();
    const got = await this.pool.run(byKernel);
    this.runMs += Date.now() - t;
    const n = scripts.length * this.cfg.kernels.length;
    this.s.cellsRun += n;
    if (purpose === 'stream') this.s.streamCells += n; else this.s.shrinkCells += n;
    return scripts.map((_, i) => new Map(this.cfg.kernels.map((k) => [k.name, got.get(k.name)?.get(`fuzz/${i}`)])));
  }

  /** For each script, whether it still shows a divergence like `target` (and that divergence). */
  private async holds(scripts: Script[], target: Divergence): Promise<Array<Divergence | undefined>> {
    const runs = await this.runScripts(scripts, 'shrink');
    return scripts.map((s, i) => compareScript(s, this.cfg.kernels, runs[i], this.cfg.table, this.cfg.mode).divergences.find((d) => sameDivergence(d, target)));
  }

  /** A new divergence: confirm, shrink, emit, record. Known signatures only count as duplicates. */
  private async divergence(script: Script, index: number, d: Divergence): Promise<void> {
    const { cfg } = this;
    const sig = signature(d);
    if (this.seenSignatures.has(sig)) { this.s.duplicates++; return; }
    this.seenSignatures.add(sig);
    const foundAfterS = (Date.now() - this.t0) / 1000;
    this.s.timeToFirstFindingS ??= foundAfterS;
    cfg.say(`divergence in script ${index} (${whoDiffers(d)}, op ${d.op}: ${d.reason}); confirming and shrinking`);
    const again = await this.holds(Array(CONFIRM_RUNS - 1).fill(script), d);
    if (!cfg.signal.aborted && again.some((x) => !x)) {
      this.s.flaky.push({ scriptIndex: index, signature: sig });
      cfg.say(`script ${index}: the divergence did not show on every re-run; not shrunk`);
      return;
    }
    // The divergence each accepted candidate showed: the minimal script's results come from its own run.
    const shown = new Map<string, Divergence>([[scriptKey(script), d]]);
    const shrunk = await shrink(script, async (cands) => {
      const ds = await this.holds(cands, d);
      ds.forEach((x, i) => { if (x) shown.set(scriptKey(cands[i]), x); });
      return ds.map(Boolean);
    }, { signal: cfg.signal });
    const key = scriptKey(shrunk.script);
    if (this.seenMinimal.has(canonicalKey(shrunk.script))) { this.s.duplicates++; cfg.say(`script ${index} shrinks to an earlier finding's script`); return; }
    this.seenMinimal.add(canonicalKey(shrunk.script));
    // Interrupted: the smallest script so far is written as it is, without re-runs.
    const checks = cfg.signal.aborted ? [] : await this.holds(Array(CONFIRM_RUNS).fill(shrunk.script), d);
    const minimalD = checks.find(Boolean) ?? shown.get(key)!;
    const confirmed = cfg.signal.aborted ? 'not re-run (interrupted)' : `${checks.filter(Boolean).length}/${CONFIRM_RUNS}`;
    const n = this.s.findings.length + 1;
    const id = `fuzz-${cfg.seed}${cfg.shard.count > 1 ? `-s${cfg.shard.index}of${cfg.shard.count}` : ''}-${String(n).padStart(3, '0')}`;
    const finding = await this.emit(id, script, index, foundAfterS, shrunk, minimalD, confirmed);
    this.s.findings.push(finding);
    fs.appendFileSync(path.join(cfg.out, 'findings.jsonl'), JSON.stringify(finding) + '\n');
    await this.save();
    cfg.say(`finding ${id}: ${finding.who}, rule ${finding.rule}: ${finding.minimal.script} (${finding.minimal.sockets} sockets, ${finding.minimal.ops} ops; kselftest ${Object.entries(finding.kselftest).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  }

  /** The oracle's rule at op `op` for a kernel (its own profile), or undefined. */
  private ruleAt(s: Script, k: FuzzKernel, op: number): string | undefined {
    const a = oracleAnswer(cellOf(s, 'fuzz/rule', k.hasSysctl), k.profile, this.cfg.table);
    return a.kind === 'predicted' ? a.ops[op]?.rule : undefined;
  }

  /** Writes the case file and the kselftest, compiles it, runs it on every kernel; builds the record. */
  private async emit(id: string, original: Script, index: number, foundAfterS: number, shrunk: Awaited<ReturnType<typeof shrink>>, d: Divergence, confirmed: string): Promise<Finding> {
    const { cfg } = this;
    const s = shrunk.script;
    const byName = new Map(cfg.kernels.map((k) => [k.name, k]));
    const results: Record<string, string[]> = {};
    let rule: string;
    let ruleText: string | undefined;
    let kernels: string[];
    let expected;
    let asserts: string;
    let reuse;
    if (d.kind === 'oracle') {
      results[`${d.kernel} (reuse=${d.reuse})`] = showResults(d.observed);
      results[`oracle (${byName.get(d.kernel)!.profile})`] = showResults(d.predicted);
      ({ rule, ruleText } = d);
      kernels = [d.kernel];
      expected = d.observed;
      asserts = d.kernel;
      reuse = [d.reuse];
    } else {
      results[`${d.a} (reuse=${d.reuseA})`] = showResults(d.observedA);
      results[`${d.b} (reuse=${d.reuseB})`] = showResults(d.observedB);
      const ra = this.ruleAt(s, byName.get(d.a)!, d.op);
      const rb = this.ruleAt(s, byName.get(d.b)!, d.op);
      rule = `${d.a}: ${ra ? ruleId(ra) : '?'}; ${d.b}: ${rb ? ruleId(rb) : '?'}`;
      ruleText = [ra, rb].filter(Boolean).join(' | ');
      kernels = [d.a, d.b];
      expected = d.observedB;
      asserts = d.b;
      reuse = [d.reuseA, d.reuseB];
    }
    const header = [
      `Found by harness/fuzz.mjs --seed ${cfg.seed}${cfg.shard.count > 1 ? ` --shard ${cfg.shard.index}/${cfg.shard.count}` : ''} (script ${index}), shrunk in ${shrunk.steps.length} steps.`,
      `${whoDiffers(d)}: op ${d.op}: ${d.reason}.`,
      `Oracle rule: ${rule}.`,
    ];
    const casesDir = path.join(cfg.out, 'cases');
    const testsDir = path.join(cfg.out, 'kselftests');
    fs.mkdirSync(casesDir, { recursive: true });
    fs.mkdirSync(testsDir, { recursive: true });
    const caseFile = path.join(casesDir, `${id}.yaml`);
    fs.writeFileSync(caseFile, caseYaml(id, `fuzz finding: ${whoDiffers(d)} at op ${d.op}`, s, reuse, header));
    const cFile = path.join(testsDir, `${testName(id)}.c`);
    fs.writeFileSync(cFile, kselftestC(id, s, expected, asserts, header));
    const verdicts: Record<string, string> = {};
    try {
      if (cfg.signal.aborted) throw new Error('interrupted');
      const built = await compileKselftest(cFile, cfg.headers, path.join(testsDir, `${testName(id)}.log`));
      const rs = await Promise.all(cfg.kernels.map((k) => this.pool.selftest(k.name, built)));
      cfg.kernels.forEach((k, i) => { verdicts[k.name] = rs[i].verdict; });
      fs.writeFileSync(path.join(testsDir, `${testName(id)}.ktap`), cfg.kernels.map((k, i) => `# ${k.name}\n${rs[i].output}`).join('\n'));
    } catch (e) {
      for (const k of cfg.kernels) verdicts[k.name] = `not run: ${(e as Error).message.split('\n')[0]}`;
    }
    const rel = (f: string): string => { const r = path.relative(process.cwd(), f); return r && !r.startsWith('..') ? r : f; };
    return {
      id, kind: d.kind, who: whoDiffers(d), kernels, rule, ruleText, signature: signature(d), scriptIndex: index, foundAfterS,
      original: { script: scriptText(original), sockets: original.sockets.length, ops: original.ops.length },
      minimal: { script: scriptText(s), sockets: s.sockets.length, ops: s.ops.length, value: s },
      firstDiff: { op: d.op, what: s.ops[d.op] ? describeOp(s.ops[d.op]) : '', reason: d.reason },
      results,
      shrink: { steps: shrunk.steps, rounds: shrunk.rounds, candidates: shrunk.tested, stopped: shrunk.stopped },
      confirmed, files: { case: rel(caseFile), kselftest: rel(cFile) }, kselftestAsserts: asserts, kselftest: verdicts,
    };
  }
}
