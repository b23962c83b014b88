// Reporters: consumers of the run's event stream. The terminal one prints progress (all of
// it with -v, only errors and the final line with -q); the progress one shows each kernel's
// cells done, rate and ETA during the run phase; the event log appends one JSON line per
// event, as it happens.
import fs from 'node:fs';
import { reportStorageFailure, writeAllSync } from '../util/write.js';
import { isProblem } from '../core/verdict.js';
import type { Reporter, RunEvent } from './events.js';

/** How much the terminal reporter says (the -q / -v options). */
export type TerminalLevel = 'quiet' | 'normal' | 'verbose';

/** Events -q still shows: what went wrong, and the final line. */
function isError(e: RunEvent): boolean {
  return (e.type === 'cell-result' && e.outcome !== 'PASS' && e.outcome !== 'SKIP') || (e.type === 'vm-boot' && e.kind !== 'ready') || e.type === 'run-end';
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Human progress on stderr (stdout stays for the summary). */
export function terminalReporter(out: NodeJS.WritableStream = process.stderr, level: TerminalLevel = 'normal'): Reporter {
  const t0 = Date.now();
  const lastProgress = new Map<string, number>();
  // On a terminal, first erase the progress reporter's live line (it redraws itself).
  const clear = (out as { isTTY?: boolean }).isTTY ? '\r\x1b[K' : '';
  const say = (s: string): void => { out.write(`${clear}[${secs(Date.now() - t0).padStart(7)}] ${s}\n`); };
  return (e: RunEvent) => {
    if (level === 'quiet' && !isError(e)) return;
    switch (e.type) {
      case 'run-start': say(`run ${e.runId}: ${e.cells} cells on ${e.kernels.join(', ')} → ${e.runDir}`); break;
      case 'phase': if (e.state === 'end') say(`${e.phase} done in ${secs(e.ms ?? 0)}`); else say(`${e.phase}…`); break;
      case 'progress': {
        // Throttle chatty scopes (kernel builds) to one line every 5 s.
        const last = lastProgress.get(e.scope) ?? 0;
        if (level !== 'verbose' && Date.now() - last < 5_000 && !/done|cached|start/i.test(e.message)) return;
        lastProgress.set(e.scope, Date.now());
        say(`${e.scope}: ${e.message}`);
        break;
      }
      case 'kernel-built': say(`kernel ${e.kernel} (${e.release}) ${e.cached ? 'cached' : `built in ${e.seconds.toFixed(0)} s`}`); break;
      case 'image-built': say(`guest image ${e.cached ? 'cached' : `built in ${e.seconds.toFixed(1)} s`}: initramfs ${(e.initramfsBytes / 1e6).toFixed(1)} MB, node disk ${(e.nodeDiskBytes / 1e6).toFixed(0)} MB`); break;
      case 'kernel-cells': break;
      case 'vm-starting': say(`${e.kernel}: booting (attempt ${e.attempt})`); break;
      case 'vm-boot': say(`${e.kernel}: ${e.kind === 'ready' ? 'SSH ready' : e.kind} after ${secs(e.bootMs)}${e.detail ? ` (${e.detail})` : ''}`); break;
      case 'cell-observed': if (level === 'verbose') say(`${e.kernel} ${e.guest} ${e.id}: ${e.status}`); break;
      case 'cell-result': if (level === 'verbose' || isProblem(e.outcome)) say(`${e.outcome} ${e.kernel} ${e.guest} ${e.id}: ${e.reason}`); break;
      case 'run-end': {
        const c = e.counts;
        say(`${e.incomplete ? 'INCOMPLETE ' : ''}PASS ${c.PASS}  FAIL ${c.FAIL}  ERROR ${c.ERROR}  MISS ${c.MISS}  SKIP ${c.SKIP}  n/a ${c.NA ?? 0}  in ${secs(e.ms)} → exit ${e.exitCode}`);
        break;
      }
      default: { const never: never = e; void never; }
    }
  };
}

export interface ProgressOptions {
  /** A live line redrawn in place (a terminal), or a plain line every `everyMs` (a log). Default: out.isTTY. */
  tty?: boolean;
  /** Period of the plain lines, in ms (default 5 s). */
  everyMs?: number;
}

/** One kernel's count during the run phase. */
interface KernelProgress { total: number; done: number; since?: number; finished: boolean }

/** `after: 812/1160 cells, 129/s, ETA 3 s` (or how it ended) for one kernel. */
function progressText(name: string, k: KernelProgress, now: number): string {
  if (k.since === undefined) return `${name}: ${k.done}/${k.total} cells, booting`;
  const s = Math.max(0.001, (now - k.since) / 1000);
  const rate = k.done / s;
  if (k.done >= k.total) return `${name}: ${k.done}/${k.total} cells in ${s.toFixed(1)} s, ${rate.toFixed(0)}/s`;
  const eta = rate > 0 ? `ETA ${Math.ceil((k.total - k.done) / rate)} s` : 'ETA ?';
  return `${name}: ${k.done}/${k.total} cells, ${rate.toFixed(0)}/s, ${eta}`;
}

/**
 * Cells done / total, rate and ETA per kernel while the run phase lasts: a live line on a
 * terminal, a plain line per kernel every few seconds otherwise (so a nightly log is never
 * silent for minutes), and a last line per kernel when the phase ends.
 */
export function progressReporter(out: NodeJS.WritableStream = process.stderr, o: ProgressOptions = {}): Reporter {
  const tty = o.tty ?? (out as { isTTY?: boolean }).isTTY === true;
  const kernels = new Map<string, KernelProgress>();
  let timer: NodeJS.Timeout | undefined;
  let lastDraw = 0;
  const t0 = Date.now();
  const stamp = (): string => `[${secs(Date.now() - t0).padStart(7)}]`;
  const lines = (): string[] => [...kernels].filter(([, k]) => !k.finished).map(([name, k]) => progressText(name, k, Date.now()));
  const draw = (): void => {
    const now = Date.now();
    if (now - lastDraw < 200) return;
    lastDraw = now;
    out.write(`\r\x1b[K${lines().join('  |  ')}`);
  };
  const tick = (): void => { for (const l of lines()) out.write(`${stamp()} ${l}\n`); };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (tty) out.write('\r\x1b[K');
    for (const [name, k] of kernels) if (!k.finished) out.write(`${stamp()} ${progressText(name, k, Date.now())}\n`);
    kernels.clear();
  };
  return (e: RunEvent) => {
    switch (e.type) {
      case 'kernel-cells':
        kernels.set(e.kernel, { total: e.cells, done: 0, finished: false });
        // A log gets a line per kernel every period; a terminal's live line is redrawn every second (booting, slow cells).
        if (!timer) { timer = tty ? setInterval(() => { lastDraw = 0; draw(); }, 1_000) : setInterval(tick, o.everyMs ?? 5_000); timer.unref(); }
        break;
      case 'vm-boot': {
        const k = kernels.get(e.kernel);
        if (k && e.kind === 'ready') k.since ??= Date.now();
        break;
      }
      case 'cell-observed': {
        const k = kernels.get(e.kernel);
        if (!k) break;
        k.done++;
        if (tty) draw();
        if (k.done >= k.total) {
          // Its last line now, then it leaves the live line.
          if (tty) out.write('\r\x1b[K');
          out.write(`${stamp()} ${progressText(e.kernel, k, Date.now())}\n`);
          k.finished = true;
        }
        break;
      }
      case 'phase': if (e.phase === 'run' && e.state === 'end') stop(); break;
      case 'run-end': stop(); break;
      default: break;
    }
  };
}

/**
 * Appends every event as a JSON line to `file` (synchronously, so a crash loses nothing written;
 * a short write is completed; a torn last line left by a killed run is ended first). A failed
 * write (disk full) is announced as a storage failure and thrown (the multiplexer then drops
 * this reporter).
 */
export function eventLogReporter(file: string): Reporter {
  const fd = fs.openSync(file, 'a+');
  // A log that ends in a torn line (a killed run being resumed): end it, so the next event starts its own line.
  const size = fs.fstatSync(fd).size;
  if (size > 0) {
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) writeAllSync(fd, Buffer.from('\n'), file);
  }
  return (e: RunEvent) => {
    try {
      writeAllSync(fd, Buffer.from(JSON.stringify({ t: new Date().toISOString(), ...e }) + '\n'), file);
    } catch (err) {
      throw reportStorageFailure(file, err);
    }
  };
}
