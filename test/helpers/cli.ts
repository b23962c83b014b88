// Runs the real CLI (`node harness/run.mjs …`) as a child process and inspects what it left.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../harness/src/util/paths.js';

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; runDir: string | undefined }

/** A fresh temporary results folder. */
export function tempResults(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kph-test-results-'));
}

/** Starts the main job with args (and extra environment); `child` is exposed for signal tests. */
export function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliRun>; output: () => string } {
  const child = spawn(process.execPath, [path.join(projectRoot, 'harness', 'run.mjs'), ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (code, signal) => {
      const m = /→ (\S+\/\d{8}-\d{6}-[0-9a-f]{6})/.exec(stderr);
      resolve({ code, signal, stdout, stderr, runDir: m?.[1] });
    });
  });
  return { child, done, output: () => stdout + stderr };
}

/** Runs the main job to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return startCli(args, env).done;
}

/** PIDs of QEMU processes started by the harness process `harnessPid` (named kph:<pid>:…). */
export function qemuOf(harnessPid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try { cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8'); } catch { continue; }
    if (cmdline.includes('qemu-system') && cmdline.includes(`kph:${harnessPid}:`)) pids.push(Number(entry));
  }
  return pids;
}

/** Resolves once `predicate(output)` holds, or rejects after `ms`. */
export async function waitFor(output: () => string, predicate: (s: string) => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate(output())) {
    if (Date.now() > until) throw new Error(`timed out waiting; output so far:\n${output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls until no QEMU of `harnessPid` is left, up to `ms`; returns the survivors. */
export async function qemuGone(harnessPid: number, ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = qemuOf(harnessPid);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}
