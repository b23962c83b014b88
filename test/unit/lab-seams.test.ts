// The Lab's seams, without booting anything: KPH_FAULT (one grammar, each layer told its part:
// the fault QEMU, the guest's command-line word, the oracle), the reporters made by name, the
// outputs as one list of pure renderers, and a malformed KPH_FAULT refused (exit 2) before a
// run directory is made.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { flippedProfiles, oracleAnswer } from '../../harness/src/oracle/adapter.js';
import { defaultPlan } from '../../harness/src/plan/default.js';
import { OUTPUTS } from '../../harness/src/results/outputs.js';
import { recordsOf, renderOutputs, type ResultsDoc } from '../../harness/src/results/run-files.js';
import { createReporters, REPORTERS } from '../../harness/src/run/reporters.js';
import { emulatorFault, FAULT_QEMU, faultCmdline, oracleFault, parseFaults } from '../../harness/src/util/fault.js';
import { qemuArgs } from '../../harness/src/vm/qemu.js';
import { runCli } from '../helpers/cli.js';

const CELL = 'commit-repro/reuse=1,range=one-port,fam=inet,addr=loopback';

test('KPH_FAULT: one grammar; each entry has its layer, cell and VMs', (t) => {
  const f = parseFaults(`after-1+before-2:warning@${CELL} crash@${CELL} oracle@${CELL}`);
  t.deepEqual(f.map((x) => [x.name, x.layer, x.cell, x.vms]), [
    ['warning', 'emulator', CELL, ['after-1', 'before-2']],
    ['crash', 'guest', CELL, undefined],
    ['oracle', 'harness', CELL, undefined],
  ]);
  t.deepEqual(parseFaults('  '), []);
  t.deepEqual(parseFaults('kill').map((x) => [x.name, x.cell]), [['kill', undefined]]);
});

test('KPH_FAULT: a wrong entry is refused, naming it and what was expected', (t) => {
  t.throws(() => parseFaults('bogus'), { message: /KPH_FAULT: "bogus": unknown fault "bogus" \(expected one of warning, .*oracle\)/ });
  t.throws(() => parseFaults('panic'), { message: /"panic": panic needs a cell: panic@<cell id>/ });
  t.throws(() => parseFaults('kill@'), { message: /empty cell id/ });
  t.throws(() => parseFaults('die-at-boot bad-flag'), { message: /"bad-flag": a second emulator fault/ });
});

test('KPH_FAULT: the emulator fault goes to its VMs only, with start marks and its cell held; the guest fault is a command-line word; the oracle fault to its cell', (t) => {
  const env = { KPH_FAULT: `after-1:stop@${CELL} before-1:sshd@${CELL} oracle@${CELL}` };
  t.like(emulatorFault('after-1', env), { name: 'stop', cell: CELL });
  t.is(emulatorFault('after-2', env), undefined);
  t.deepEqual(faultCmdline('after-1', env), ['kph.cells_mark=1', `kph.cells_hold=${CELL}`]);
  t.deepEqual(faultCmdline('before-1', env), [`kph.cells_fault=sshd@${CELL}`]);
  t.deepEqual(faultCmdline('before-2', env), []);
  t.true(oracleFault(CELL, env));
  t.false(oracleFault(`${CELL}x`, env));
  t.not(fs.statSync(FAULT_QEMU).mode & 0o111, 0, 'the fault QEMU is executable');
});

test('KPH_FAULT reaches the real layers: the QEMU command line of the VM, and the oracle answer', (t) => {
  const saved = process.env.KPH_FAULT;
  process.env.KPH_FAULT = `after-1:crash@${CELL} oracle@${CELL}`;
  try {
    const spec = { name: 'after-1', runId: 'r', runDir: '/tmp', kernel: 'bz', initramfs: 'i', cmdline: [], memoryMiB: 256, accel: { accel: 'tcg' as const, reason: '', timeScale: 3 } };
    const append = (name: string): string => { const a = qemuArgs({ ...spec, name }, 'q', 'p'); return a[a.indexOf('-append') + 1]; };
    t.regex(append('after-1'), new RegExp(`kph\\.cells_fault=crash@${CELL.replace(/[/=,]/g, '.')}$`));
    t.notRegex(append('after-2'), /kph\.cells_fault/);
    const cell = defaultPlan().find((c) => c.id === CELL)!;
    const a = oracleAnswer(cell, '4b01a967+followup', flippedProfiles([]));
    t.is(a.kind, 'oracle-error');
    t.regex(a.kind === 'oracle-error' ? a.message : '', /KPH_FAULT oracle@: injected oracle failure/);
  } finally {
    if (saved === undefined) delete process.env.KPH_FAULT; else process.env.KPH_FAULT = saved;
  }
});

test('reporters are made by name from one table; -q declines the progress reporter; an unknown name is refused', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-reporters-'));
  const out = new PassThrough();
  t.deepEqual(Object.keys(REPORTERS), ['terminal', 'progress', 'event-log']);
  t.is(createReporters(['terminal', 'progress', 'event-log'], { runDir: dir, verbosity: 'normal', out }).length, 3);
  const quiet = createReporters(['terminal', 'progress', 'event-log'], { runDir: dir, verbosity: 'quiet', out });
  t.is(quiet.length, 2);
  for (const r of quiet) r({ type: 'progress', scope: 's', message: 'm' });
  t.regex(fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8'), /"type":"progress","scope":"s","message":"m"/);
  t.throws(() => createReporters(['nope'], { runDir: dir, verbosity: 'normal', out }), { message: /no reporter named "nope" \(known: terminal, progress, event-log\)/ });
});

test('outputs are one list of pure renderers: renderOutputs gives exactly their files, the same bytes twice', (t) => {
  // A run that answered nothing: every output still renders, from the document alone.
  const doc: ResultsDoc = { runId: 'r', complete: true, exitCode: 0, accel: { requested: 'tcg', reason: 'test', timeScale: 3, used: [] }, kernels: [], image: {}, timings: { total: 1 }, records: [] };
  const files = OUTPUTS.map((o) => o.file);
  t.deepEqual(files, ['results.json', 'kcidb.json', 'results.ktap', 'junit.xml', 'summary.md', 'report.html']);
  const records = recordsOf(doc);
  const a = renderOutputs(doc, records);
  t.deepEqual(Object.keys(a), files);
  t.deepEqual(renderOutputs(doc, records), a);
  for (const f of files) t.true(a[f].length > 0, f);
});

test('a malformed KPH_FAULT is exit 2 before a run directory is made', async (t) => {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-fault-bad-'));
  const run = await runCli(['--case', 'commit-repro', '--results', results], { KPH_FAULT: 'after-1:bogus' });
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /kph: KPH_FAULT: "after-1:bogus": unknown fault "bogus"/);
  t.deepEqual(fs.readdirSync(results), [], 'no run directory');
});
