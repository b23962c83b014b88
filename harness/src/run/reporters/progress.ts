// The progress reporter: each kernel's cells done, rate and ETA during the run phase (a live
// line on a terminal, a plain line every few seconds in a log).
import type { Reporter, RunEvent } from '../events.js';
import { secs } from './terminal.js';

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
