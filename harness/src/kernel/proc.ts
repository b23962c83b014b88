// Host commands for the kernel builder: short ones whose output it reads (dpkg-query,
// gcc --version, git rev-parse, patch --dry-run, make -s kernelrelease), and the setpriv wrapper that makes
// long ones (run with util/exec.ts runLogged) die with the harness.
import { execFile } from 'node:child_process';

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

/** A short command's trimmed stdout, or undefined when it fails or says nothing (never throws; for facts). */
export async function answer(cmd: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return (await capture(cmd, args)).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
