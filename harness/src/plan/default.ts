// The plan: the cells of every case file in a folder (default: the checkout's cases/).
import path from 'node:path';
import type { Cell } from '../model/cell.js';
import { expandCases } from '../cases/expand.js';
import { loadCaseDir } from '../cases/load.js';
import { projectRoot } from '../util/paths.js';

/** Which guest runs a cell: the C interpreter or the TypeScript application guest. */
export type GuestKind = 'c' | 'ts';

export interface PlannedCell extends Cell {
  guests: GuestKind[];
  /** One sentence: what the cell reproduces. */
  title: string;
}

/** The checkout's own case folder. */
export const DEFAULT_CASES_DIR = path.join(projectRoot, 'cases');

/** Every cell of the case files in `dir`. */
export function loadPlan(dir = DEFAULT_CASES_DIR): PlannedCell[] {
  return expandCases(loadCaseDir(dir));
}

/** The kernel selftests the chosen cases name (DIR/NAME), without duplicates. */
export function loadSelftests(dir = DEFAULT_CASES_DIR, caseNames: string[] = []): string[] {
  const cases = loadCaseDir(dir).filter((c) => caseNames.length === 0 || caseNames.includes(c.data.name));
  return [...new Set(cases.flatMap((c) => c.data.selftests ?? []))];
}

/** Every cell of the default plan. */
export function defaultPlan(): PlannedCell[] {
  return loadPlan();
}
