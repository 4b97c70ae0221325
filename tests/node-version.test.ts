/**
 * CI (`.ci/run`) runs the tests on several Node versions by putting another `node` first on PATH and naming
 * the version it meant in SHARDLINE_CI_NODE. This shows that a run is on that version, in the test workers and
 * in the child processes tests start (by `process.execPath`, or by `node` on PATH as the `shardline` bin's
 * shebang and pnpm do), and that every version tests run on is inside the `engines` range the manifests state.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function enginesOf(dir: string): string | undefined {
  const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
  };
  return manifest.engines?.node;
}

/** `^x.y.z` and `>=x.y.z` comparators joined by `||`: all the range syntax the manifests use. */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string): number[] => v.replace(/^v/, '').split('.').map(Number);
  const compare = (a: number[], b: number[]): number => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  };
  const have = parse(version);
  return range.split('||').some((alternative) => {
    const [, operator, floorText] = /^(\^|>=)(\d+\.\d+\.\d+)$/.exec(alternative.trim()) ?? [];
    if (!operator || !floorText) throw new Error(`range syntax this test does not know: ${alternative}`);
    const floor = parse(floorText);
    return compare(have, floor) >= 0 && (operator === '>=' || have[0] === floor[0]);
  });
}

describe('Node versions', () => {
  const range = enginesOf('.') ?? '';
  const manifests = [
    '.',
    ...['packages', 'examples'].flatMap((d) => readdirSync(join(root, d)).map((p) => `${d}/${p}`)),
  ];

  it('every manifest states the same engines range, one where require(esm) is on by default', () => {
    expect(range).toBe('^20.19.0 || >=22.12.0');
    for (const dir of manifests) expect({ dir, engines: enginesOf(dir) }).toEqual({ dir, engines: range });
    // The range's edges: require() of ES modules is unflagged from 20.19 and 22.12.
    expect(['20.19.0', '22.12.0', '24.0.0'].every((v) => satisfies(v, range))).toBe(true);
    expect(['20.18.3', '21.7.3', '22.11.0', '18.20.8'].some((v) => satisfies(v, range))).toBe(false);
  });

  it('runs on a version inside that range, the one CI asked for', () => {
    expect(satisfies(process.version, range)).toBe(true);
    const asked = process.env.SHARDLINE_CI_NODE;
    if (asked) expect(process.version).toBe(asked);
  });

  it('starts child processes on the same version', () => {
    const options = { encoding: 'utf8', env: process.env } as const;
    expect(execFileSync(process.execPath, ['-p', 'process.version'], options).trim()).toBe(process.version);
    expect(execFileSync('node', ['-p', 'process.version'], options).trim()).toBe(process.version);
  });
});
