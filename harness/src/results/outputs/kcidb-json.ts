// kcidb.json: KernelCI KCIDB v5.3 (checkouts, builds, tests), one item per line.
import { toKcidb } from '../kcidb.js';
import { documentJson } from '../results-doc.js';
import type { Output } from './run-view.js';

/** The keys of kcidb.json written one item per line. */
const KCIDB_LISTED: ReadonlySet<string> = new Set(['checkouts', 'builds', 'tests']);

export const kcidbJson: Output = { file: 'kcidb.json', render: (run) => documentJson(toKcidb(run.doc, 'kph'), KCIDB_LISTED) };
