// A cell of the plan: a cell with the guests that run it and its case's title. Made by
// cases/expand.ts from the case files.
import type { Cell } from './cell.js';

/** Which guest runs a cell: the C interpreter or the TypeScript application guest. */
export type GuestKind = 'c' | 'ts';

export interface PlannedCell extends Cell {
  guests: GuestKind[];
  /** One sentence: what the cell reproduces. */
  title: string;
}
