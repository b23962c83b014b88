// results.json: the run document itself, its big arrays and tables one item per line.
import { documentJson, RESULTS_LISTED } from '../results-doc.js';
import type { Output } from './run-view.js';

export const resultsJson: Output = { file: 'results.json', render: (run) => documentJson(run.doc, RESULTS_LISTED) };
