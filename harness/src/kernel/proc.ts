// Host commands for the kernel builder: short ones whose output it reads (dpkg-query,
// gcc --version, patch --dry-run, make -s kernelrelease), and `make` run as a process group.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { CommandError } from '../util/exec.js';

export interface CaptureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export class CaptureError extends Error {
  constructor(readonly command: string, readonly code: number | string | null, readonly output: string) {
    super(`${command} failed (${code ?? 'killed'}): ${output.trim().split('\n').slice(-10).join('\n')}`);
    this.name = 'CaptureError';
  }
}

/** Runs a command to completion and returns stdout + stderr (interleaving not preserved). */
export function capture(cmd: string, args: readonly string[], opts: CaptureOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, signal: opts.signal, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          if (err.name === 'AbortError') return reject(err);
          const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
          return reject(new CaptureError([cmd, ...args].join(' '), code, `${stdout}${stderr}` || err.message));
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

let pdeathsig: Promise<boolean> | undefined;

/**
 * [cmd, args] wrapped in `setpriv --pdeathsig KILL` when util-linux's setpriv works here, so a
 * long command (make, tar) dies with the harness even if the harness is SIGKILLed, instead of
 * writing on into a build tree that the next user is repairing.
 */
export async function dieWithParent(cmd: string, args: readonly string[]): Promise<[string, string[]]> {
  pdeathsig ??= capture('setpriv', ['--pdeathsig', 'KILL', 'true']).then(
    () => true,
    () => false,
  );
  return (await pdeathsig) ? ['setpriv', ['--pdeathsig', 'KILL', cmd, ...args]] : [cmd, [...args]];
}

export interface RunGroupOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** File that receives stdout and stderr (appended). */
  log: string;
  signal?: AbortSignal;
  onOutput?: (chunk: string) => void;
}

/**
 * Like util/exec.ts runLogged, for `make -jN`: the command runs in its own process group, an
 * abort SIGKILLs the whole group (make's sub-makes and compilers included, not just the top
 * make), and the promise settles only once every process holding the output pipes is gone, so
 * nothing is still writing into the tree when the caller goes on to repair it.
 */
export async function runGroup(cmd: string, args: readonly string[], opts: RunGroupOptions): Promise<void> {
  opts.signal?.throwIfAborted();
  const out = fs.openSync(opts.log, 'a');
  fs.writeSync(out, `\n$ ${[cmd, ...args].join(' ')}   (in ${opts.cwd})\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
