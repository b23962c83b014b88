// results.ktap: KTAP v1, a subtest per kernel and guest, a line per cell that applies.
import { toKtap } from '../ktap.js';
import type { Output } from './run-view.js';

export const resultsKtap: Output = { file: 'results.ktap', render: (run) => toKtap(run.records) };
