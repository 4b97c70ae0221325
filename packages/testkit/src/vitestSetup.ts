import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import type { LocalStackEndpoints } from './clients.js';
import { startLocalStack } from './localStack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoints of the one local stack that serves the whole test run. */
    localStack: LocalStackEndpoints;
  }
}

/**
 * vitest `globalSetup`: starts one local stack for the whole run and hands its endpoints to every test
 * file through `inject('localStack')`. Test files share it by using unique stream and table names.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = await startLocalStack();
  project.provide('localStack', stack.endpoints);
  return () => stack.stop();
}
