// Runs a host command to completion with its output appended to a log file, so long builds
// stay quiet on the terminal and whole on disk. The command runs in its own process group: an
// abort SIGKILLs the whole group (make's sub-makes and compilers, not just the top process),
// and the promise settles only once every process holding the output pipes is gone, so nothing
// is still writing when the caller goes on. The error names the command and the log.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface RunLoggedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File that receives stdout and stderr (appended). */
  log: string;
  signal?: AbortSignal;
  /** Called with each chunk of output (for progress display). */
  onOutput?: (chunk: string) => void;
}

export class CommandError extends Error {
  constructor(readonly command: string, readonly code: number | null, readonly signalName: string | null, readonly log: string) {
    super(`${command} ${signalName ? `was killed by ${signalName}` : `exited with ${code}`}; see ${log}`);
    this.name = 'CommandError';
  }
}

/** Runs cmd; resolves on exit 0, rejects with CommandError, or with the abort reason when aborted. */
export async function runLogged(cmd: string, args: readonly string[], opts: RunLoggedOptions): Promise<void> {
  opts.signal?.throwIfAborted();
  const out = fs.openSync(opts.log, 'a');
  fs.writeSync(out, `\n$ ${[cmd, ...args].join(' ')}${opts.cwd ? `   (in ${opts.cwd})` : ''}\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let aborted = false;
      const onAbort = (): void => {
        aborted = true;
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const onData = (d: Buffer): void => {
        fs.writeSync(out, d);
        opts.onOutput?.(d.toString());
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (e) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(e);
      });
      child.on('close', (code, sig) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (aborted) reject(opts.signal?.reason ?? new Error('aborted'));
        else if (code === 0) resolve();
        else reject(new CommandError([cmd, ...args].join(' '), code, sig, opts.log));
      });
    });
  } finally {
    fs.closeSync(out);
  }
}
