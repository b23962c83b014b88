// The run directory's files rendered from the run document, in the order they are written
// (results.json, the document itself, is written last: results/run-files.ts). Adding an output
// is one renderer file in results/outputs/ plus one line in OUTPUTS below.
import { junitXml } from './outputs/junit-xml.js';
import { kcidbJson } from './outputs/kcidb-json.js';
import { reportHtml } from './outputs/report-html.js';
import { resultsJson } from './outputs/results-json.js';
import { resultsKtap } from './outputs/results-ktap.js';
import type { Output } from './outputs/run-view.js';
import { summaryMd } from './outputs/summary-md.js';

export { runView, type Output, type RunView } from './outputs/run-view.js';

export const OUTPUTS: readonly Output[] = [
  resultsJson,
  kcidbJson,
  resultsKtap,
  junitXml,
  summaryMd,
  reportHtml,
];
