// Prints the plain `N passed, N failed[, N skipped]` line from vitest's JSON report and exits non-zero
// unless the run passed. A file that failed to load (no failed assertion) counts as one failure, and a
// report that says the run failed with nothing counted (globalSetup threw) counts as one failure too.
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results.json';
if (!existsSync(file)) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
let failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
for (const suite of report.testResults ?? []) {
  const assertionsFailed = (suite.assertionResults ?? []).some((a) => a.status === 'failed');
  if (suite.status === 'failed' && !assertionsFailed) failed += 1;
}
if (report.success === false && failed === 0) failed = 1;
if (passed + failed === 0) failed = 1; // a run that executed no test is not a pass
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
