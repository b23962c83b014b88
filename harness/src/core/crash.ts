// What the console scanner (vm/console.ts) reports when the kernel under test broke: a type
// of the verdict (a crash during a cell makes it FAIL), so it sits at the bottom with it.

export type CrashKind = 'panic' | 'oops' | 'bug' | 'warning' | 'gpf' | 'soft-lockup' | 'rcu-stall' | 'hung-task' | 'reboot';

export interface CrashReport {
  kind: CrashKind;
  /** The line that matched. */
  title: string;
  /** Offset (in characters) of the match in the console text. */
  offset: number;
  /** Lines around the match (a few before, up to 40 after). */
  excerpt: string;
}
