// `npm run bench`: figures, not verdicts. Boots each kernel N times the harness's way and a
// bare way (plain QEMU flags, same kernel, same minimal initramfs, no Node disk), times
// QEMU start → first SSH login for both, then runs the main job (warm, and cold first with
// --cold) and prints its phase timings and cells per second.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { authorizedKeyCmdline, buildGuestImage } from './image/build.js';
import { buildKernels } from './kernel/build.js';
import { defaultPair } from './kernel/defaults.js';
import { newClientKey } from './ssh/keys.js';
import { projectRoot } from './util/paths.js';
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

interface MainRun { wallMs: number; results: { timings: Record<string, number>; kernels: Array<{ name: string; bootMs?: number; timings: Record<string, number>; attempts: Array<{ qemuPeakRssKiB?: number }> }>; records: unknown[] } }

/** Runs the main job as a user would and reads its results.json. */
function mainJob(env: NodeJS.ProcessEnv): Promise<MainRun> {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-'));
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'harness/run.mjs'), '--results', results], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => {
      const dir = fs.readdirSync(results)[0];
      if (code !== 0 || !dir) return reject(new Error(`main job exited ${code}`));
      resolve({ wallMs: Date.now() - t0, results: JSON.parse(fs.readFileSync(path.join(results, dir, 'results.json'), 'utf8')) });
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

async function main(): Promise<void> {
  const cold = process.argv.includes('--cold');
  const n = Number(process.env.KPH_BENCH_BOOTS ?? 3);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-logs-'));
  if (cold) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bench-cache-'));
    printMain(`cold run (empty cache ${cache})`, await mainJob({ ...process.env, KPH_CACHE_DIR: cache }));
    fs.rmSync(cache, { recursive: true, force: true });
  }
  const [kernels, image] = await Promise.all([buildKernels({ variants: defaultPair(), logDir }), buildGuestImage({ logDir })]);
  const accel = chooseAccel();
  const key = newClientKey();
  const cmdline = authorizedKeyCmdline(key.publicKey);
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
    console.log(`  ${k.name.padEnd(7)} harness ${s(median(ssh))}   bare ${s(median(bare))}   ratio ${(median(ssh) / median(bare)).toFixed(2)}`);
  }
  printMain('warm run', await mainJob(process.env));
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
