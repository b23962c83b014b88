// `npx zx harness/fuzz.mjs`: options, the Lab (signals, sweep, provisioning, accelerator, QEMU
// check, guest image and C guest; run/lab.ts), the kernels and kselftest headers, one VM per
// kernel for the whole session, the session, the exit code.
import fs from 'node:fs';
import path from 'node:path';
import { kernelSelection } from '../kernel/select.js';
import { flippedProfiles, type ProfileTable } from '../oracle/adapter.js';
import { PROFILES, type ProfileName } from '../oracle/index.js';
import { provision, ProvisionError } from '../provision.js';
import { EXIT } from '../core/verdict.js';
import type { RunEvent } from '../run/events.js';
import { Lab } from '../run/lab.js';
import { eventLogReporter } from '../run/reporters.js';
import { resultsRoot } from '../util/paths.js';
import { QemuConfigError } from '../vm/qemu.js';
import type { FuzzKernel } from './compare.js';
import { kselftestHeaders } from './kselftest-build.js';
import { fuzzMergeMain } from './merge.js';
import { FuzzUsageError, HELP, parseFuzzOptions, type FuzzOptions } from './options.js';
import { LabError, VmPool } from './pool.js';
import { FuzzSession } from './session.js';
import { writeSummary, type FuzzSummary } from './summary.js';

const say = (s: string): void => { process.stderr.write(`kph fuzz: ${s}\n`); };

/** Terminal lines for the lab events worth seeing; everything goes to events.jsonl too. */
function terminal(e: RunEvent): void {
  if (e.type === 'progress') say(e.scope === 'accel' ? `accelerator ${e.message}` : `${e.scope}: ${e.message}`);
  else if (e.type === 'vm-boot') say(`${e.kernel}: VM ${e.attempt} ${e.kind} in ${(e.bootMs / 1000).toFixed(1)} s`);
}

/** Runs the fuzzer with argv; returns the exit code. */
export async function fuzzMain(argv: string[]): Promise<number> {
  if (argv[0] === 'merge') return fuzzMergeMain(argv.slice(1));
  let opts: FuzzOptions;
  let table: ProfileTable;
  let selection;
  let lab: Lab;
  try {
    opts = parseFuzzOptions(argv);
    if (opts.help) { process.stdout.write(HELP + '\n'); return EXIT.ok; }
    table = flippedProfiles(opts.oracleFlip);
    selection = kernelSelection(opts.kernels);
    for (const name of Object.keys(opts.profiles)) {
      if (!selection.names.includes(name)) throw new FuzzUsageError(`--profile ${name}=…: no kernel named ${name} in --kernels (${selection.names.join(', ')})`);
    }
    lab = Lab.open({ say, stopping: (sig) => `kph fuzz: ${sig}: stopping; findings so far are written (again to force)\n`, interruptedExit: EXIT.interrupted, provision });
  } catch (e) {
    if (e instanceof FuzzUsageError || (e instanceof Error && /^(--|kernel)/.test(e.message))) { say(e.message); return EXIT.usage; }
    say((e as Error).message);
    return EXIT.usage;
  }
  try {
    return await fuzz(lab, opts, table, selection, argv);
  } finally {
    await lab.dispose();
  }
}

async function fuzz(lab: Lab, opts: FuzzOptions, table: ProfileTable, selection: ReturnType<typeof kernelSelection>, argv: string[]): Promise<number> {
  const { signal } = lab;
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = path.resolve(opts.out ?? path.join(resultsRoot(), `fuzz-${opts.seed}-${stamp}`));
  fs.mkdirSync(out, { recursive: true });
  say(`seed ${opts.seed}, budget ${opts.budget.text}, kernels ${selection.names.join(', ')}, mode ${opts.mode} → ${out}`);
  lab.report([terminal, eventLogReporter(path.join(out, 'events.jsonl'))]);
  lab.sweep();
  try {
    await lab.provision();
  } catch (e) {
    if (e instanceof ProvisionError) { say(e.message); return EXIT.usage; }
    throw e;
  }
  const accel = lab.accel(opts.accel);
  try { lab.checkQemu(); } catch (e) {
    if (e instanceof QemuConfigError) { say(e.message); return EXIT.usage; }
    throw e;
  }
  let built;
  try {
    built = await Promise.all([
      selection.build({ logDir: out, signal, onProgress: (v, m) => say(`kernel ${v}: ${m}`) }),
      lab.guests(out),
      kselftestHeaders(out),
    ]);
  } catch (e) {
    say(signal.aborted ? 'interrupted during the build' : `build failed: ${(e as Error).message}`);
    return signal.aborted ? EXIT.interrupted : EXIT.infrastructure;
  }
  const [builtKernels, [image, cGuest], headers] = built;
  const kernels: FuzzKernel[] = builtKernels.map((k) => {
    const profile = opts.profiles[k.name] ?? k.profile;
    const flags = PROFILES[profile as ProfileName];
    return { name: k.name, release: k.release, bzImage: k.bzImage, profile, hasSysctl: flags ? flags.autobindReuseSysctl : true };
  });
  const ctx = lab.jobContext({ runId: `fuzz-${opts.seed}-${stamp}`, runDir: out, accel, image, cGuest: cGuest.path, append: opts.append, bootAttempts: 2 });
  const summary: FuzzSummary = {
    seed: opts.seed, shard: `${opts.shard.index}/${opts.shard.count}`, mode: opts.mode,
    kernels: kernels.map((k) => ({ name: k.name, profile: k.profile, release: k.release, hasSysctl: k.hasSysctl })),
    oracleFlip: opts.oracleFlip, budget: opts.budget.text, command: `harness/fuzz.mjs ${argv.join(' ')}`.trim(), startedAt: startedAt.toISOString(),
    complete: false, stopReason: 'running', elapsedS: 0, fuzzingS: 0, scripts: 0, cellsRun: 0, streamCells: 0, shrinkCells: 0, cellsPerSecond: 0,
    timeToFirstFindingS: null, findings: [], duplicates: 0, flaky: [], unanswered: 0, unlikely: 0, byChance: 0, byChanceExamples: [], crashes: [], bootMs: {}, ruleCoverage: {}, rulesNeverExercised: [],
  };
  const pool = new VmPool(kernels, ctx);
  summary.crashes = pool.crashes;
  let session: FuzzSession | undefined;
  try {
    await pool.start();
    summary.bootMs = pool.bootTimes();
    session = new FuzzSession({ seed: opts.seed, shard: opts.shard, mode: opts.mode, budget: opts.budget, batch: opts.batch, kernels, table, out, headers, signal, say, summary }, pool);
    const s = await session.run();
    say(`${s.stopReason}: ${s.scripts} scripts, ${s.cellsRun} cells, ${s.cellsPerSecond.toFixed(1)} cells/s, ${s.findings.length} finding(s)` +
      `${s.timeToFirstFindingS !== null ? `, first after ${s.timeToFirstFindingS.toFixed(1)} s` : ''} → ${path.join(out, 'summary.md')}`);
    if (signal.aborted) return EXIT.interrupted;
    return s.findings.length ? EXIT.mismatch : EXIT.ok;
  } catch (e) {
    if (signal.aborted) { summary.stopReason = 'interrupted'; await session?.save(); return EXIT.interrupted; }
    if (!(e instanceof LabError) && !(e instanceof QemuConfigError)) throw e;
    say(`lab failure: ${e.message}`);
    summary.stopReason = `lab failure: ${e.message}`;
    await (session ? session.save() : writeSummary(out, summary));
    return summary.findings.length ? EXIT.mismatch : EXIT.infrastructure;
  } finally {
    summary.bootMs = pool.bootTimes();
    await pool.stop();
  }
}
