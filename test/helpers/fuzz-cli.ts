// Runs the real fuzzer (`node harness/fuzz.mjs …`) as a child process, for test/fuzz*.test.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../harness/src/util/paths.js';

export interface FuzzRun { code: number | null; stdout: string; stderr: string; pid: number }

/** Runs `node harness/fuzz.mjs args`; `onStderr` sees the output as it grows (for Ctrl-C). */
export function runFuzz(args: string[], onStderr?: (all: string, child: ReturnType<typeof spawn>) => void): Promise<FuzzRun> {
  const child = spawn(process.execPath, [path.join(projectRoot, 'harness', 'fuzz.mjs'), ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); onStderr?.(stderr, child); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid! })));
}
