import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type LocalStackEndpoints, localStackProcessEnv } from '@shardline/testkit';

const entry = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const nodeArgs = ['--conditions=@shardline/source', '--import', 'tsx', entry];

/** Runs the CLI to completion as a child process, as a user would (env: the local stack's SDK chain). */
export function runCli(
  endpoints: LocalStackEndpoints,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...nodeArgs, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: localStackProcessEnv(endpoints),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A CLI child process still running (`--follow`, `--watch`), with its output collected as it comes. */
export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Complete output lines so far. */
  lines(): string[];
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string | null>;
}

export function startCli(endpoints: LocalStackEndpoints, args: string[]): RunningCli {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env: localStackProcessEnv(endpoints) });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () => stdout.split('\n').slice(0, -1),
    exited,
  };
}
