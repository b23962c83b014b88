// The run as one stream of typed events; the terminal reporter and the event log consume it.
import type { GuestCellReport } from '../core/cell.js';
import type { Outcome } from '../core/verdict.js';

export type RunEvent =
  | { type: 'run-start'; runId: string; runDir: string; cells: number; kernels: string[] }
  | { type: 'phase'; phase: string; state: 'start' | 'end'; ms?: number; detail?: string }
  | { type: 'progress'; scope: string; message: string }
  | { type: 'kernel-built'; kernel: string; release: string; cached: boolean; seconds: number }
  | { type: 'image-built'; cached: boolean; seconds: number; initramfsBytes: number; nodeDiskBytes: number }
  /** A kernel's share of the run phase: the (guest, cell) pairs its VMs will be sent. */
  | { type: 'kernel-cells'; kernel: string; cells: number }
  | { type: 'vm-starting'; kernel: string; attempt: number }
  | { type: 'vm-boot'; kernel: string; attempt: number; kind: string; bootMs: number; detail?: string }
  /** A guest's answer for one cell, logged whole so an interrupted run can be resumed. */
  /** `us`: the cell's duration as the guest timed it, when the guest does (the C guest). */
  | { type: 'cell-observed'; kernel: string; guest: string; id: string; status: string; report: GuestCellReport; us?: number }
  | { type: 'cell-result'; kernel: string; guest: string; id: string; outcome: Outcome; reason: string }
  | { type: 'run-end'; exitCode: number; counts: Record<Outcome, number>; incomplete: boolean; ms: number };

export type Reporter = (e: RunEvent) => void;

/** Fans one event out to every reporter; a reporter that throws is reported once and dropped. */
export function multiplex(reporters: Reporter[]): Reporter {
  const live = new Set(reporters);
  return (e) => {
    for (const r of live) {
      try { r(e); } catch (err) {
        live.delete(r);
        process.stderr.write(`kph: a reporter failed and was dropped: ${(err as Error).message}\n`);
      }
    }
  };
}
