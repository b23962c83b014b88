// junit.xml: a testsuite per kernel and guest, a testcase per cell that applies.
import { toJunit } from '../junit.js';
import type { Output } from './run-view.js';

export const junitXml: Output = { file: 'junit.xml', render: (run) => toJunit(run.records, run.doc.runId) };
