// The floor of `npm run bench`: on one VM of a kernel, alternate chunks of guest/c/kph-floor
// (fork; the child enters a fresh netns and binds two SO_REUSEADDR sockets to port 0; exit;
// waitpid), of kph-floor --lo (the same, with lo brought up: what every loopback cell needs
// on top of the floor, so the gap between the floor and the loop splits into lo and the rest)
// and of the harness's C guest loop on cells that apply to this kernel, twice: as the harness
// runs it (the namespace pooled while cells leave it clean) and with --fresh-netns (a namespace
// per cell, as the floor makes), so the pool's gain is measured beside the floor.
// Each side is timed inside the guest (kph-floor's own clock, kph-cells --profile's wall: the
// steady state of a long batch, without a chunk's SSH exec and start-up) and from the host
// (exec to exit). Alternating chunks keep the comparison fair on a shared host whose load
// drifts: both see the same weather. QEMU's CPU time per iteration is kept too.
import fs from 'node:fs';
import { buildCGuest, buildFloor } from './guests/index.js';
import type { GuestImage } from './image/build.js';
import { encodeCell, parseReportLine } from './core/wire.js';
import { defaultPlan } from './plan/default.js';
import { cGuestCommand, REMOTE } from './run/kernel-job.js';
import { describeExec, type GuestSession } from './ssh/session.js';
import type { AccelChoice } from './vm/accel.js';
import { bootGuest } from './vm/boot.js';

const FLOOR_REMOTE = '/tmp/kph/kph-floor';

export interface FloorFigures {
  kernel: string;
  /** Floor iterations, their seconds timed in the guest, and timed from the host. */
  floorIterations: number;
  floorSeconds: number;
  floorHostSeconds: number;
  /** The same for kph-floor --lo (lo up in each namespace), timed in the guest. */
  floorLoIterations: number;
  floorLoSeconds: number;
  /** Cells the C guest answered `done` (cells that apply to this kernel), their loop's seconds in the guest, and from the host. */
  loopCells: number;
  loopSeconds: number;
  loopHostSeconds: number;
  /** kph-cells --profile: milliseconds per cell of each phase of the loop. */
  phases: Record<string, number>;
  /** Network namespaces the loop created (kph-cells --profile's count), over loopCells. */
  loopNetns: number;
  /** The same chunks with kph-cells --fresh-netns: done cells and their seconds in the guest. */
  freshCells: number;
  freshSeconds: number;
  /** QEMU CPU milliseconds per floor iteration and per cell. */
  floorCpuMs: number;
  floorLoCpuMs: number;
  loopCpuMs: number;
}

export interface FloorOptions {
  kernel: { name: string; bzImage: string };
  image: GuestImage;
  key: { privateKey: string; publicKey: string };
  cmdline: string[];
  accel: AccelChoice;
  logDir: string;
  runDir: string;
  /** Alternating rounds, and floor iterations / cells per chunk. */
  rounds: number;
  chunk: number;
}

/** utime + stime of a process in ms (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface LoopChunk { done: number; seconds: number; profiled: number; netns: number; phases: Record<string, number> }

/** One chunk of the C guest's loop with --profile (plus extra flags): its done cells and profile totals. */
async function loopChunk(session: GuestSession, kernel: string, command: string, lines: string, deadlineMs: number): Promise<LoopChunk> {
  const lr = await session.exec(command, { stdin: lines, deadlineMs });
  if (lr.kind !== 'exited' || lr.code !== 0) throw new Error(`${kernel}: kph-cells ${describeExec(lr)}`);
  const wall = /kph-cells profile: (\d+) cells in ([\d.]+) s/.exec(lr.stderr);
  const netns = /netns: (\d+) created/.exec(lr.stderr);
  if (!wall || !netns) throw new Error(`${kernel}: kph-cells --profile printed no totals: ${lr.stderr.slice(-500)}`);
  const phases: Record<string, number> = {};
  for (const m of lr.stderr.matchAll(/^ {2}(\S+) +([\d.]+) ms/gm)) phases[m[1]] = Number(m[2]);
  return {
    done: lr.stdout.split('\n').filter((l) => parseReportLine(l)?.status === 'done').length,
    seconds: Number(wall[2]), profiled: Number(wall[1]), netns: Number(netns[1]), phases,
  };
}

/** Boots the kernel once, pushes kph-cells and kph-floor, and runs the alternating chunks. */
export async function measureFloor(o: FloorOptions): Promise<FloorFigures> {
  const [cGuest, floor] = await Promise.all([buildCGuest({ logDir: o.logDir }), buildFloor({ logDir: o.logDir })]);
  const boot = await bootGuest({
    spec: { name: `${o.kernel.name}-floor`, runId: 'bench', runDir: o.runDir, kernel: o.kernel.bzImage, initramfs: o.image.initramfs, disk: o.image.nodeDisk, cmdline: o.cmdline, memoryMiB: 512, accel: o.accel },
    hostKey: o.image.hostKey, privateKey: o.key.privateKey, deadlineMs: 60_000 * o.accel.timeScale, keepaliveMs: 15_000,
  });
  if (boot.kind !== 'ready') throw new Error(`${o.kernel.name}: floor VM boot ${boot.kind}`);
  const { session, vm } = boot;
  const deadlineMs = 600_000;
  try {
    await session.push(cGuest.path, REMOTE.c, '0755', 60_000);
    await session.push(floor.path, FLOOR_REMOTE, '0755', 60_000);
    // The cells that apply: reuse=absent on a kernel without net.ipv4.ip_autobind_reuse, 0/1 on one with it.
    const probe = await session.exec('test -e /proc/sys/net/ipv4/ip_autobind_reuse && echo has || echo lacks', { deadlineMs: 60_000 });
    if (probe.kind !== 'exited') throw new Error(`${o.kernel.name}: probing the sysctl ${describeExec(probe)}`);
    const hasReuse = probe.stdout.trim() === 'has';
    const applicable = defaultPlan().filter((c) => c.guests.includes('c') && (c.autobindReuse === 'absent') !== hasReuse);
    // Spread evenly over the plan (its cases differ in cost: connects, listeners), not its first cells.
    const total = o.rounds * o.chunk;
    const cells = Array.from({ length: total }, (_, k) => applicable[Math.floor((k * applicable.length) / total) % applicable.length]);
    const f: FloorFigures = { kernel: o.kernel.name, floorIterations: 0, floorSeconds: 0, floorHostSeconds: 0, floorLoIterations: 0, floorLoSeconds: 0, loopCells: 0, loopSeconds: 0, loopHostSeconds: 0, phases: {}, loopNetns: 0, freshCells: 0, freshSeconds: 0, floorCpuMs: 0, floorLoCpuMs: 0, loopCpuMs: 0 };
    let profiled = 0;
    let floorCpu = 0;
    let floorLoCpu = 0;
    let loopCpu = 0;
    let next = 0;
    for (let r = 0; r < o.rounds; r++) {
      let cpu = cpuMsOf(vm.pid);
      let t = Date.now();
      const fr = await session.exec(`${FLOOR_REMOTE} --count ${o.chunk}`, { deadlineMs });
      f.floorHostSeconds += (Date.now() - t) / 1000;
      floorCpu += cpuMsOf(vm.pid) - cpu;
      if (fr.kind !== 'exited' || fr.code !== 0) throw new Error(`${o.kernel.name}: kph-floor ${describeExec(fr)}`);
      const fj = JSON.parse(fr.stdout) as { iterations: number; seconds: number };
      f.floorIterations += fj.iterations;
      f.floorSeconds += fj.seconds;

      cpu = cpuMsOf(vm.pid);
      const lo = await session.exec(`${FLOOR_REMOTE} --lo --count ${o.chunk}`, { deadlineMs });
      floorLoCpu += cpuMsOf(vm.pid) - cpu;
      if (lo.kind !== 'exited' || lo.code !== 0) throw new Error(`${o.kernel.name}: kph-floor --lo ${describeExec(lo)}`);
      const lj = JSON.parse(lo.stdout) as { iterations: number; seconds: number };
      f.floorLoIterations += lj.iterations;
      f.floorLoSeconds += lj.seconds;

      const lines = cells.slice(next, next + o.chunk).map(encodeCell).join('\n') + '\n';
      next += o.chunk;
      cpu = cpuMsOf(vm.pid);
      t = Date.now();
      const pooled = await loopChunk(session, o.kernel.name, `${cGuestCommand(o.accel.timeScale)} --profile`, lines, deadlineMs);
      f.loopHostSeconds += (Date.now() - t) / 1000;
      loopCpu += cpuMsOf(vm.pid) - cpu;
      f.loopCells += pooled.done;
      f.loopSeconds += pooled.seconds;
      f.loopNetns += pooled.netns;
      profiled += pooled.profiled;
      for (const [k, ms] of Object.entries(pooled.phases)) f.phases[k] = (f.phases[k] ?? 0) + ms;

      const fresh = await loopChunk(session, o.kernel.name, `${cGuestCommand(o.accel.timeScale)} --profile --fresh-netns`, lines, deadlineMs);
      f.freshCells += fresh.done;
      f.freshSeconds += fresh.seconds;
    }
    for (const k of Object.keys(f.phases)) f.phases[k] /= Math.max(1, profiled);
    f.floorCpuMs = floorCpu / Math.max(1, f.floorIterations);
    f.floorLoCpuMs = floorLoCpu / Math.max(1, f.floorLoIterations);
    f.loopCpuMs = loopCpu / Math.max(1, f.loopCells);
    return f;
  } finally {
    session.close();
    await vm.stop(2_000);
  }
}
