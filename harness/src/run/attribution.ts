// Crash attribution: which cell a crash seen on a VM's serial console belongs to, and which
// cell a lab failure broke. The C guest writes nothing to the console per cell by default
// (console bytes are expensive under TCG); a crash is still charged to its cell by, in order:
//   1. the splat itself: the cell's child is named "kc-<markOf(id)>", and a WARNING, oops or
//      panic raised in its context prints "Comm: kc-<mark>";
//   2. start marks ("kph: cell <mark> start", kph-cells --mark or kph.cells_mark=1): the last
//      cell started before the crash;
//   3. the first "kph: cell <mark> warned <n>" after the crash: the guest writes it after a
//      cell during which the kernel's WARNING/oops counters moved (its report also carries
//      "kernel_warned");
//   4. a fatal crash (panic, or the VM gone): the cell of the crash just before it when that one
//      is part of the same splat (an oops and its "Kernel panic - not syncing: Fatal exception",
//      a panic and its "---[ end Kernel panic" line); else, as cells run strictly in order, the
//      first cell of the batch without a report.
//      The guest sends "done" reports together, at most C_GUEST_FLUSH_MS apart (kernel-job.ts),
//      so this last guess can name a cell up to that much earlier than the one that ran; 1 and
//      3 are exact, and a crash in a cell's own context (the bind/connect paths) is named by 1.
// A crash none of these explains is charged to the whole batch.
import type { CrashReport } from '../vm/console.js';
import { scanConsole } from '../vm/console.js';
import { markOf } from '../core/wire.js';
import type { GuestKind, PlannedCell } from '../core/planned.js';
import type { KernelJobResult } from './kernel-job.js';

const CELL_MARK = /kph: cell ([0-9a-f]{8}) (start|warned)\b/g;
const CELL_COMM = /\bComm: kc-([0-9a-f]{8})\b/;
/** Lines after a crash's first line that may still belong to its splat header ("CPU: … Comm: …"). */
const COMM_LINES = 12;
/** Lines within which a fatal crash continues the splat of the crash before it. */
const SAME_SPLAT_LINES = 60;

export interface CellMark { id: string; offset: number; kind: 'start' | 'warned' }

/** Cells of `batch` marked on the console (`kph: cell <markOf(id)> start|warned`), with their offsets, in console order. */
export function cellMarks(text: string, batch: PlannedCell[]): CellMark[] {
  const byMark = new Map(batch.map((c) => [markOf(c.id), c.id]));
  return [...text.matchAll(CELL_MARK)].flatMap((m) => {
    const id = byMark.get(m[1]);
    return id ? [{ id, offset: m.index ?? 0, kind: m[2] as CellMark['kind'] }] : [];
  });
}

/** The batch cell whose child the splat names ("Comm: kc-<mark>" within its first lines), if any. */
function commCell(crash: CrashReport, text: string, byMark: Map<string, string>): string | undefined {
  const head = text.slice(crash.offset).split('\n', COMM_LINES + 1).join('\n');
  const m = CELL_COMM.exec(head);
  return m ? byMark.get(m[1]) : undefined;
}

/** How a batch ended, as attribution needs it. */
export interface BatchEnd {
  /** False when the kernel or the VM is gone (a panic, QEMU exited): the batch stopped at the running cell. */
  vmAlive: boolean;
}

/** The cell a crash is charged to, or undefined when nothing points at one; `prev` is the crash before it and its cell. */
export function crashCell(crash: CrashReport, text: string, batch: PlannedCell[], marks: CellMark[], answered: (id: string) => boolean, end: BatchEnd, prev?: { crash: CrashReport; id: string | undefined }): string | undefined {
  const byMark = new Map(batch.map((c) => [markOf(c.id), c.id]));
  const named = commCell(crash, text, byMark);
  if (named) return named;
  const started = marks.filter((m) => m.kind === 'start' && m.offset < crash.offset).pop();
  if (started) return started.id;
  const warned = marks.find((m) => m.kind === 'warned' && m.offset > crash.offset);
  if (warned) return warned.id;
  if (crash.kind === 'panic' || crash.kind === 'reboot' || !end.vmAlive) {
    const sameSplat = prev?.id && text.slice(prev.crash.offset, crash.offset).split('\n').length - 1 <= SAME_SPLAT_LINES;
    return sameSplat ? prev.id : batch.find((c) => !answered(c.id))?.id;
  }
  return undefined;
}

/** Gives each console crash of a batch to its cell (see the header); returns the crashes. */
export function attributeCrashes(guest: GuestKind, batch: PlannedCell[], text: string, attempt: number, result: KernelJobResult, end: BatchEnd): CrashReport[] {
  const crashes = scanConsole(text);
  const marks = cellMarks(text, batch);
  const ids = new Set(batch.map((c) => c.id));
  // "Answered" is decided before this batch's crashes are charged: a fatal crash stops the batch at one cell.
  const reported = new Set([...ids].filter((id) => result.reports[guest].has(id)));
  let prev: { crash: CrashReport; id: string | undefined } | undefined;
  for (const crash of crashes) {
    const id = crashCell(crash, text, batch, marks, (x) => reported.has(x), end, prev);
    prev = { crash, id };
    if (id && ids.has(id)) {
      if (!result.cellCrash![guest].has(id)) result.cellCrash![guest].set(id, crash);
      if (!result.answeredOn![guest].has(id)) result.answeredOn![guest].set(id, attempt);
    } else {
      // Nothing explains it (a crash between batches, or outside any cell's context): the whole batch.
      result.cellCrashes.push({ guest, crash, cells: [...ids] });
    }
  }
  return crashes;
}

/**
 * The cell the lab broke under gets an ERROR try: the last one marked as started, else the first
 * without an answer (cells run in order; with reports sent together it may be one that finished
 * but whose report was lost with the session: it then runs again and is marked flaky).
 */
export function recordLabFailure(guest: GuestKind, batch: PlannedCell[], text: string, attempt: number, reason: string, result: KernelJobResult): void {
  const open = (id: string): boolean => !result.reports[guest].has(id) && !result.cellCrash![guest].has(id);
  const last = cellMarks(text, batch).filter((m) => m.kind === 'start').pop();
  // Cells run in order: when the last start mark on the console names a cell already answered,
  // the next one's mark had not reached the (slow, emulated) serial port yet: it was running.
  const hit = last && open(last.id) ? last.id : batch.map((c) => c.id).find(open);
  if (hit === undefined) return;
  const tries = result.errors![guest].get(hit) ?? [];
  tries.push({ attempt, reason });
  result.errors![guest].set(hit, tries);
}

/**
 * A cell whose report says the kernel's WARNING/oops counters moved is FAIL even when no splat
 * reached the console (a full console buffer, a log level that hides it): it gets a crash that says so.
 */
export function chargeWarnedCells(guest: GuestKind, warned: Map<string, number>, attempt: number, result: KernelJobResult): void {
  for (const [id, n] of warned) {
    if (result.cellCrash![guest].has(id)) continue;
    const title = `the kernel counted ${n} WARNING/oops while this cell ran (/sys/kernel/warn_count, oops_count), but no splat was found on the console`;
    result.cellCrash![guest].set(id, { kind: 'warning', title, offset: -1, excerpt: title });
    if (!result.answeredOn![guest].has(id)) result.answeredOn![guest].set(id, attempt);
  }
}
