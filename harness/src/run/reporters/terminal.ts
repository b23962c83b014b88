// The terminal reporter: human progress on stderr (all of it with -v, only errors and the final
// line with -q); stdout stays for the summary.
import { isProblem } from '../../core/verdict.js';
import type { Reporter, RunEvent } from '../events.js';

/** How much the terminal reporter says (the -q / -v options). */
export type TerminalLevel = 'quiet' | 'normal' | 'verbose';

/** Events -q still shows: what went wrong, and the final line. */
function isError(e: RunEvent): boolean {
  return (e.type === 'cell-result' && e.outcome !== 'PASS' && e.outcome !== 'SKIP') || (e.type === 'vm-boot' && e.kind !== 'ready') || e.type === 'run-end';
}

export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

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
