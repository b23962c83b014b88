// report.html: the matrix in a browser (kernels side by side, changes and mismatches marked).
import type { CellRecord } from '../../core/record.js';
import { renderHtml } from '../html.js';
import type { Output } from './run-view.js';

export const reportHtml: Output = {
  file: 'report.html',
  render: ({ doc, records, changes }) => renderHtml({
    runId: doc.runId, complete: doc.complete, exitCode: doc.exitCode, records: records as CellRecord[], changes,
    kernels: doc.kernels.map((k) => ({ name: k.name, release: k.unameR ?? k.release, profile: k.profile, bootMs: k.bootMs, selftests: k.selftests })),
  }),
};
