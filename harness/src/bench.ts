// `npm run bench`: figures, not verdicts. Boots each kernel N times the harness's way and a
// bare way (plain QEMU flags, same kernel, same minimal initramfs, no Node disk), times
// QEMU start → "kph: sshd ready" for both and → first SSH command for ours, then runs the
// main job (warm, and cold with --cold) and prints its phase timings and cells per second.
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

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** QEMU start → the ready line on the console, with plain flags as in facts.md. */
function bareBoot(kernel: string, initramfs: string, cmdline: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const q = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-m', '512', '-nographic', '-no-reboot',
      '-kernel', kernel, '-initrd', initramfs, '-append', ['console=ttyS0', 'panic=-1', 'quiet', ...cmdline].join(' '),
      '-nic', 'user,model=virtio-net-pci,restrict=on'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { q.kill('SIGKILL'); reject(new Error(`bare boot: no ready line in 60 s:\n${out.slice(-1000)}`)); }, 60_000);
    q.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('kph: sshd ready')) { clearTimeout(timer); const ms = Date.now() - t0; q.kill('SIGKILL'); resolve(ms); }
    });
  });
}

interface MainRun { wallMs: number; results: { timings: Record<string, number>; kernels: Array<{ name: string; bootMs?: number; timings: Record<string, number> }>; records: unknown[]; resources?: { maxRssKiB: number } } }

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
  for (const [k, v] of Object.entries(r.results.timings)) console.log(`  phase ${k.padEnd(10)} ${s(v)}`);
  for (const k of r.results.kernels) {
    const cellsMs = k.timings.cells_c_ms ?? 0;
    console.log(`  ${k.name.padEnd(7)} boot→SSH ${s(k.bootMs ?? NaN)}  push ${s(k.timings.pushMs ?? 0)}  C cells ${s(cellsMs)}  TS cells ${s(k.timings.cells_ts_ms ?? 0)}`);
  }
  const cMs = r.results.kernels.reduce((a, k) => a + (k.timings.cells_c_ms ?? 0), 0);
  const ran = (r.results.records as Array<{ guest: string; outcome: string }>).filter((x) => x.guest === 'c' && x.outcome !== 'SKIP').length;
  console.log(`  cells run in the C guest: ${ran}, ${(ran / (cMs / 1000)).toFixed(0)} cells/s inside the guests (summed over kernels)`);
  if (r.results.resources) console.log(`  harness peak RSS: ${(r.results.resources.maxRssKiB / 1024).toFixed(0)} MiB`);
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
  console.log(`boots (${accel.accel}, ${n} each, median): harness = our QEMU flags + Node disk, until the SSH handshake completes; bare = plain -nographic QEMU, same kernel and initramfs, no disk, until dropbear's ready line`);
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
      bare.push(await bareBoot(k.bzImage, image.initramfs, cmdline));
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    console.log(`  ${k.name.padEnd(7)} harness → first SSH login ${s(median(ssh))}   bare → sshd ready line ${s(median(bare))}   ratio ${(median(ssh) / median(bare)).toFixed(2)}`);
  }
  printMain('warm run', await mainJob(process.env));
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
