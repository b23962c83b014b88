// `npm run bench`: figures, not verdicts. Boots each kernel N times the harness's way and a
// bare way (plain QEMU flags, same kernel, same minimal initramfs, no Node disk), times
// QEMU start → first SSH login for both; boots each kernel once more for the floor
// (bench-floor.ts: the floor program and the C guest's loop in alternating chunks); then runs
// the main job (warm, and cold first with --cold) and prints its phase timings and cells per
// second. `--json FILE` writes the figures as JSON.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureFloor, type FloorFigures } from './bench-floor.js';
import { authorizedKeyCmdline, buildGuestImage } from './image/build.js';
import { kernelSelection } from './kernel/select.js';
import { newClientKey } from './ssh/keys.js';
import { projectRoot } from './util/paths.js';
import { timeOutputs } from './results/run-files.js';
import { chooseAccel } from './vm/accel.js';
import { bootGuest } from './vm/boot.js';
import { Qmp, parseHostFwdPort } from './vm/qmp.js';
import { GuestSession } from './ssh/session.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/**
 * A bare boot measured the same way as the harness's: plain QEMU flags as in facts.md (same
 * kernel and initramfs, no Node disk, default devices), QEMU start → first SSH login.
 */
async function bareBoot(kernel: string, initramfs: string, cmdline: string[], hostKey: string, privateKey: string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bare-'));
  const qmpPath = path.join(dir, 'qmp.sock');
  const t0 = Date.now();
  const q = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-m', '512', '-nographic', '-no-reboot',
    '-kernel', kernel, '-initrd', initramfs, '-append', ['console=ttyS0', 'panic=-1', 'quiet', ...cmdline].join(' '),
    '-nic', 'user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:0-:22', '-qmp', `unix:${qmpPath},server=on,wait=off`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  q.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    const qmp = await Qmp.connect(qmpPath, 15_000);
    const port = parseHostFwdPort(await qmp.hmp('info usernet'));
    qmp.close();
    if (!port) throw new Error('bare boot: no hostfwd port');
    while (Date.now() - t0 < 60_000) {
      if (out.includes('kph: sshd ready')) {
        try {
          const session = await GuestSession.connect({ port, hostKey, privateKey, readyTimeoutMs: 20_000, keepaliveMs: 15_000 });
          const ms = Date.now() - t0;
          session.close();
          return ms;
        } catch { /* not yet */ }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`bare boot: no SSH within 60 s:\n${out.slice(-1000)}`);
  } finally {
    q.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface MainRun { wallMs: number; outputMs: number; results: { timings: Record<string, number>; kernels: Array<{ name: string; bootMs?: number; timings: Record<string, number>; attempts: Array<{ qemuPeakRssKiB?: number }> }>; records: unknown[] } }

/** Runs the main job as a user would and reads its results.json. */
function mainJob(env: NodeJS.ProcessEnv): Promise<MainRun> {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-'));
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'harness/run.mjs'), '--results', results], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => {
      const dir = fs.readdirSync(results)[0];
      if (code !== 0 || !dir) return reject(new Error(`main job exited ${code}`));
      const wallMs = Date.now() - t0;
      const runDir = path.join(results, dir);
      // Writing the outputs again from the finished run's document, as the run itself did at its end.
      timeOutputs(runDir).then((o) => resolve({ wallMs, outputMs: o.ms, results: JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8')) }), reject);
    });
  });
}

function printMain(label: string, r: MainRun): void {
  console.log(`\n${label}: wall ${s(r.wallMs)}`);
  for (const [k, v] of Object.entries(r.results.timings)) if (k !== 'harnessPeakRssKiB') console.log(`  phase ${k.padEnd(10)} ${s(v)}`);
  for (const k of r.results.kernels) {
    const cellsMs = k.timings.cells_c_ms ?? 0;
    console.log(`  ${k.name.padEnd(7)} boot→SSH ${s(k.bootMs ?? NaN)}  push ${s(k.timings.pushMs ?? 0)}  C cells ${s(cellsMs)}  TS cells ${s(k.timings.cells_ts_ms ?? 0)}`);
  }
  const cMs = r.results.kernels.reduce((a, k) => a + (k.timings.cells_c_ms ?? 0), 0);
  const ran = (r.results.records as Array<{ guest: string; outcome: string }>).filter((x) => x.guest === 'c' && x.outcome !== 'SKIP' && x.outcome !== 'NA').length;
  console.log(`  cells run in the C guest: ${ran}, ${(ran / (cMs / 1000)).toFixed(0)} cells/s inside the guests (summed over kernels)`);
  const qemu = r.results.kernels.flatMap((k) => k.attempts.map((a) => a.qemuPeakRssKiB ?? 0));
  console.log(`  peak memory: harness ${((r.results.timings.harnessPeakRssKiB ?? 0) / 1024).toFixed(0)} MiB, each QEMU up to ${(Math.max(0, ...qemu) / 1024).toFixed(0)} MiB`);
}

/** C cells (not SKIP) a kernel ran in the main job, and their rate over its C guest time. */
function mainCells(r: MainRun, kernel: string): { cells: number; perS: number } {
  const k = r.results.kernels.find((x) => x.name === kernel);
  const cells = (r.results.records as Array<{ kernel: string; guest: string; outcome: string }>).filter((x) => x.kernel === kernel && x.guest === 'c' && x.outcome !== 'SKIP' && x.outcome !== 'NA').length;
  const ms = k?.timings.cells_c_ms ?? 0;
  return { cells, perS: ms > 0 ? cells / (ms / 1000) : 0 };
}

/** How long writing the main job's output files takes (rendered again from its results.json). */
const outputWriteMs = (r: MainRun): number => r.outputMs;

/** The --json FILE argument, if any. */
function jsonPath(argv: string[]): string | undefined {
  const i = argv.indexOf('--json');
  if (i < 0) return undefined;
  const file = argv[i + 1];
  if (!file || file.startsWith('--')) throw new Error('npm run bench: --json wants a file name (npm run bench -- --json FILE)');
  return path.resolve(file);
}

async function main(): Promise<void> {
  const cold = process.argv.includes('--cold');
  const json = jsonPath(process.argv);
  const n = Number(process.env.KPH_BENCH_BOOTS ?? 3);
  const rounds = Number(process.env.KPH_BENCH_FLOOR_ROUNDS ?? 8);
  const chunk = Number(process.env.KPH_BENCH_FLOOR_CHUNK ?? 40);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-logs-'));
  if (cold) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-cache-'));
    printMain(`cold run (empty cache ${cache})`, await mainJob({ ...process.env, KPH_CACHE_DIR: cache }));
    fs.rmSync(cache, { recursive: true, force: true });
  }
  const [kernels, image] = await Promise.all([kernelSelection().build({ logDir }), buildGuestImage({ logDir })]);
  const accel = chooseAccel();
  const key = newClientKey();
  const cmdline = authorizedKeyCmdline(key.publicKey);
  const bootRatio = new Map<string, number>();
  console.log(`QEMU start → first SSH login (${accel.accel}, ${n} boots each, median): harness = its QEMU flags + Node disk; bare = plain -nographic QEMU, same kernel and initramfs, no disk`);
  for (const k of kernels) {
    const ssh: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < n; i++) {
      const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-vm-'));
      const b = await bootGuest({ spec: { name: `${k.name}-${i}`, runId: 'bench', runDir, kernel: k.bzImage, initramfs: image.initramfs, disk: image.nodeDisk, cmdline, memoryMiB: 512, accel }, hostKey: image.hostKey, privateKey: key.privateKey, deadlineMs: 60_000, keepaliveMs: 15_000 });
      if (b.kind !== 'ready') throw new Error(`${k.name}: boot ${b.kind}`);
      b.session.close();
      await b.vm.stop(1_000);
      ssh.push(b.bootMs);
      bare.push(await bareBoot(k.bzImage, image.initramfs, cmdline, image.hostKey, key.privateKey));
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    bootRatio.set(k.name, median(ssh) / median(bare));
    console.log(`  ${k.name.padEnd(7)} harness ${s(median(ssh))}   bare ${s(median(bare))}   ratio ${(median(ssh) / median(bare)).toFixed(2)}`);
  }

  console.log(`\nThe floor (${rounds} rounds of ${chunk}, alternating on one VM per kernel): kph-floor = fork + unshare(CLONE_NEWNET) + two SO_REUSEADDR sockets bound to port 0 + exit + waitpid; floor+lo = the same with lo brought up (what a loopback cell needs); harness = the C guest's loop as the harness runs it, on the cells that apply to the kernel (done reports only; the namespace pooled while cells leave it clean), fresh-netns = the same chunks with kph-cells --fresh-netns (a namespace per cell, as the floor); rates timed in the guest (host-timed, with one SSH exec per chunk, in brackets)`);
  const floors: FloorFigures[] = [];
  for (const k of kernels) {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-floor-'));
    const f = await measureFloor({ kernel: k, image, key, cmdline, accel, logDir, runDir, rounds, chunk });
    fs.rmSync(runDir, { recursive: true, force: true });
    floors.push(f);
    const floorPerS = f.floorIterations / f.floorSeconds;
    const loopPerS = f.loopCells / f.loopSeconds;
    const hostRatio = (f.loopCells / f.loopHostSeconds) / (f.floorIterations / f.floorHostSeconds);
    console.log(`  ${k.name.padEnd(7)} floor ${floorPerS.toFixed(1)} cells/s   harness ${loopPerS.toFixed(1)} cells/s   ratio ${(loopPerS / floorPerS).toFixed(2)} (${hostRatio.toFixed(2)})   QEMU CPU per iteration: floor ${f.floorCpuMs.toFixed(1)} ms, cell ${f.loopCpuMs.toFixed(1)} ms, ratio ${(f.floorCpuMs / f.loopCpuMs).toFixed(2)}`);
    const floorLoPerS = f.floorLoIterations / f.floorLoSeconds;
    console.log(`          floor+lo ${floorLoPerS.toFixed(1)} cells/s (harness / floor+lo ${(loopPerS / floorLoPerS).toFixed(2)}); QEMU CPU per iteration with lo ${f.floorLoCpuMs.toFixed(1)} ms: lo up costs ${(f.floorLoCpuMs - f.floorCpuMs).toFixed(1)} ms of a fresh namespace, and a cell ${f.loopCpuMs > f.floorCpuMs ? `${(f.loopCpuMs - f.floorCpuMs).toFixed(1)} ms more` : `${(f.floorCpuMs - f.loopCpuMs).toFixed(1)} ms less`} than the floor`);
    console.log(`          fresh-netns ${(f.freshCells / f.freshSeconds).toFixed(1)} cells/s (pooled / fresh ${(loopPerS / (f.freshCells / f.freshSeconds)).toFixed(2)}); the pooled loop made ${f.loopNetns} namespaces for ${f.loopCells} cells`);
    console.log(`          loop phases, ms per cell: ${Object.entries(f.phases).map(([p, ms]) => `${p} ${ms.toFixed(2)}`).join(', ')}`);
  }

  const warm = await mainJob(process.env);
  printMain('warm run', warm);
  const writeMs = outputWriteMs(warm);
  console.log(`  output writing: ${s(writeMs)}`);
  for (const k of kernels) {
    const m = mainCells(warm, k.name);
    const f = floors.find((x) => x.kernel === k.name)!;
    console.log(`  ${k.name.padEnd(7)} ${m.cells} C cells at ${m.perS.toFixed(1)} cells/s in the warm run; floor ${(f.floorIterations / f.floorSeconds).toFixed(1)}/s`);
  }

  if (json) {
    const out = {
      accel: accel.accel,
      warm_wall_s: warm.wallMs / 1000,
      output_write_s: writeMs / 1000,
      kernels: Object.fromEntries(kernels.map((k) => {
        const f = floors.find((x) => x.kernel === k.name)!;
        const m = mainCells(warm, k.name);
        const floorPerS = f.floorIterations / f.floorSeconds;
        const loopPerS = f.loopCells / f.loopSeconds;
        return [k.name, {
          // The guest loop beside the floor, same VM, alternating chunks: the ratio to read.
          cells: f.loopCells,
          cells_per_s: loopPerS,
          floor_cells_per_s: floorPerS,
          ratio: loopPerS / floorPerS,
          floor_iterations: f.floorIterations,
          // The floor with lo brought up in each namespace: what is left of the gap is the cells' own work.
          floor_lo_cells_per_s: f.floorLoIterations / f.floorLoSeconds,
          ratio_to_floor_lo: loopPerS / (f.floorLoIterations / f.floorLoSeconds),
          cpu_ms_per_floor_lo_iteration: f.floorLoCpuMs,
          host_timed_ratio: (f.loopCells / f.loopHostSeconds) / (f.floorIterations / f.floorHostSeconds),
          loop_phases_ms_per_cell: f.phases,
          // The same chunks with a fresh namespace per cell (kph-cells --fresh-netns), and how many the pooled loop made.
          fresh_netns_cells_per_s: f.freshCells / f.freshSeconds,
          pool_gain: loopPerS / (f.freshCells / f.freshSeconds),
          netns_per_cell: f.loopNetns / Math.max(1, f.loopCells),
          cpu_ms_per_cell: f.loopCpuMs,
          cpu_ms_per_floor_iteration: f.floorCpuMs,
          cpu_ratio: f.floorCpuMs / f.loopCpuMs,
          // The warm main job: every C cell of the plan that is not SKIP, over the kernel's C guest time.
          warm_cells: m.cells,
          warm_cells_per_s: m.perS,
          warm_ratio: m.perS / floorPerS,
          boot_ratio: bootRatio.get(k.name) ?? null,
        }];
      })),
    };
    fs.writeFileSync(json, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nfigures written to ${json}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
