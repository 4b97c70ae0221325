// Prints the plain `N passed, N failed[, N skipped]` line from one or more vitest JSON reports (one per test
// run, e.g. one per Node version), summed, and exits non-zero unless every run passed. Each report is checked
// on its own: a file that failed to load (no failed assertion) counts as one failure, a report that says the
// run failed with nothing counted (globalSetup threw) counts as one failure, a run that executed no test counts
// as one failure, and so does a report that is missing or unreadable (the run never finished).
// With several reports, a line per report comes first, worded so that only the last line reads `N passed`.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['test-results.json'];

function countsOf(file) {
  if (!existsSync(file)) return { passed: 0, failed: 1, skipped: 0, note: 'no report' };
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { passed: 0, failed: 1, skipped: 0, note: 'unreadable report' };
  }
  const passed = report.numPassedTests ?? 0;
  let failed = report.numFailedTests ?? 0;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const suite of report.testResults ?? []) {
    const assertionsFailed = (suite.assertionResults ?? []).some((a) => a.status === 'failed');
    if (suite.status === 'failed' && !assertionsFailed) failed += 1;
  }
  if (report.success === false && failed === 0) failed = 1;
  if (passed + failed === 0) failed = 1; // a run that executed no test is not a pass
  return { passed, failed, skipped };
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of files) {
  const counts = countsOf(file);
  if (files.length > 1) {
    const note = counts.note ? ` (${counts.note})` : '';
    console.log(
      `${file}: tests passed ${counts.passed}, failed ${counts.failed}, skipped ${counts.skipped}${note}`,
    );
  }
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}
console.log(
  `${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`,
);
process.exit(total.failed === 0 ? 0 : 1);
