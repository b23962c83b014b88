// Runs a host command to completion with its output appended to a log file, so long builds
// stay quiet on the terminal and whole on disk. The error names the command and the log.
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

export async function runLogged(cmd: string, args: readonly string[], opts: RunLoggedOptions): Promise<void> {
  const out = fs.openSync(opts.log, 'a');
  fs.writeSync(out, `\n$ ${[cmd, ...args].join(' ')}${opts.cwd ? `   (in ${opts.cwd})` : ''}\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal, killSignal: 'SIGKILL' });
      const onData = (d: Buffer): void => {
        fs.writeSync(out, d);
        opts.onOutput?.(d.toString());
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', (code, sig) => {
        if (code === 0) resolve();
        else reject(new CommandError([cmd, ...args].join(' '), code, sig, opts.log));
      });
    });
  } finally {
    fs.closeSync(out);
  }
}
