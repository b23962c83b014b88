// Tests that need something from the host (a Debian package, root): declared with
// `needs(prereq, …).test(title, impl)`. When a prerequisite is missing the test is skipped
// locally (ava lists it as skipped, with what is missing in its title) and FAILS under CI=true,
// where `npm test` provisions everything first: a test never passes without checking.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';

/** Something a test needs from the host. */
export interface Prereq {
  /** What is missing, for the title and the failure, e.g. "the Debian package linux-source-6.1". */
  what: string;
  present: boolean;
}

type Impl = (t: ExecutionContext) => void | Promise<void>;

/** A command on PATH, from the named Debian package. */
export function command(cmd: string, pkg = cmd): Prereq {
  return { what: `\`${cmd}\` (Debian package ${pkg})`, present: spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0 };
}

/** A file, shipped by the named Debian package. */
export function file(p: string, pkg: string): Prereq {
  return { what: `${p} (Debian package ${pkg})`, present: fs.existsSync(p) };
}

/** Running as root. */
export function root(why: string): Prereq {
  return { what: `root (${why})`, present: process.getuid?.() === 0 };
}

/** true when the environment says this is CI (GitHub Actions and most CI systems set CI=true). */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

/** What to do with a test whose prerequisites are as given: run it, skip it, or fail it. */
export function decide(prereqs: readonly Prereq[], ci: boolean): { kind: 'run' } | { kind: 'skip' | 'fail'; missing: string } {
  const missing = prereqs.filter((p) => !p.present).map((p) => p.what).join(', ');
  if (!missing) return { kind: 'run' };
  return { kind: ci ? 'fail' : 'skip', missing };
}

type Declare = (title: string, impl: Impl) => void;

/** Declares tests that need `prereqs`: `.test` (concurrent) or `.serial`. */
export function needs(...prereqs: Prereq[]): { test: Declare; serial: Declare } {
  const d = decide(prereqs, inCi());
  const declare = (serial: boolean): Declare => (title, impl) => {
    const fn = serial ? test.serial : test;
    if (d.kind === 'run') return fn(title, impl);
    if (d.kind === 'skip') return test.skip(`${title} [needs ${d.missing}]`, impl);
    return fn(title, (t) => t.fail(`CI=true and a prerequisite is missing: ${d.missing}`));
  };
  return { test: declare(false), serial: declare(true) };
}
