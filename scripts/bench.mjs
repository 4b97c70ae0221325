// `pnpm bench`: runs every benchmark under packages/*/bench/*.bench.ts one after another, each in its own
// process (so one cannot warm or pollute another), against the TypeScript sources.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const only = process.argv[2];
const files = [];
for (const pkg of readdirSync('packages')) {
  let entries = [];
  try {
    entries = readdirSync(join('packages', pkg, 'bench'));
  } catch {
    continue;
  }
  for (const file of entries.sort()) {
    if (file.endsWith('.bench.ts') && (!only || join(pkg, file).includes(only))) {
      files.push(join('packages', pkg, 'bench', file));
    }
  }
}
if (files.length === 0) {
  console.log('no benchmarks found');
  process.exit(0);
}
let failed = 0;
for (const file of files) {
  console.log(`\n### ${file}`);
  const result = spawnSync(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', file], {
    stdio: 'inherit',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
