// Which folder of harness/src may import which, in the spirit of Playwright's DEPS.list: one
// line per folder, checked by test/unit/import-rules.test.ts (every relative import of every
// .ts file, `import type` included; no circle between folders; nothing outside harness/src).
// '.' is the top-level files (main.ts, merge.ts, bench.ts, cli.ts, provision.ts…).
//
// Layers, bottom up:
//   core, util      the bottom: core imports nothing; util (paths, cache, commands, durable
//                   writes) only core. Both may be imported by anyone.
//   oracle … plan   one concern each; each names the few neighbours it needs.
//   run             the lab: plans, builds, boots, runs cells, assembles records.
//   results         outputs: render a finished run from core's types and the run document
//                   (run/); imported only by entry points. `types` lists folders it may only
//                   `import type` from (parts of the run document defined where they are made).
//   '.', bisect, fuzz  entry points: anything.

/** What a folder may import: folders (`may`), and folders it may only import types from. */
export interface DepRule { may: readonly string[]; types?: readonly string[] }

export const ANY = '*';

export const DEPS: Readonly<Record<string, DepRule>> = {
  core: { may: [] },
  util: { may: ['core'] },
  oracle: { may: ['core', 'util'] },
  ssh: { may: ['core', 'util'] },
  vm: { may: ['core', 'util', 'ssh'] },
  image: { may: ['core', 'util'] },
  guests: { may: ['core', 'util'] },
  cases: { may: ['core', 'util'] },
  kernel: { may: ['core', 'util', 'cases', 'oracle'] },
  plan: { may: ['core', 'util', 'cases', 'oracle'] },
  selftests: { may: ['core', 'util', 'kernel', 'ssh'] },
  run: { may: ['core', 'util', 'oracle', 'ssh', 'vm', 'image', 'guests', 'cases', 'kernel', 'plan', 'selftests'] },
  results: { may: ['core', 'util', 'run'], types: ['selftests', 'vm'] },
  bisect: { may: [ANY] },
  fuzz: { may: [ANY] },
  '.': { may: [ANY] },
};
