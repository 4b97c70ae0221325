import { describe, expect, it } from 'vitest';
import { ConsumerStates, IllegalStateTransitionError } from '../src/lifecycle/ConsumerStates.js';

describe('ConsumerStates', () => {
  it('follows the normal life of a shard and reports each change once', () => {
    const changes: string[] = [];
    const states = new ConsumerStates('s', (from, to) => changes.push(`${from}>${to}`));
    for (const to of ['initializing', 'processing', 'shard-ended', 'done'] as const) states.moveTo(to);
    states.moveTo('done'); // staying put is not a change
    expect(changes).toEqual([
      'waiting-on-parents>initializing',
      'initializing>processing',
      'processing>shard-ended',
      'shard-ended>done',
    ]);
  });

  it('lets a handoff or a stop end any running state, and a lost lease end every state', () => {
    for (const stop of ['handing-off', 'shutting-down'] as const) {
      for (const at of ['waiting-on-parents', 'initializing', 'processing', 'shard-ended'] as const) {
        const states = new ConsumerStates('s');
        const path = ['initializing', 'processing', 'shard-ended'] as const;
        for (const step of path.slice(0, path.indexOf(at as (typeof path)[number]) + 1)) states.moveTo(step);
        expect(states.current).toBe(at);
        states.moveTo(stop);
        states.moveTo('done');
        expect(states.current).toBe('done');
      }
    }
  });

  it('rejects a transition outside the table with a typed error', () => {
    const states = new ConsumerStates('shard-7');
    expect(() => states.moveTo('processing')).toThrow(IllegalStateTransitionError);
    states.moveTo('initializing');
    states.moveTo('shutting-down');
    expect(states.canMoveTo('processing')).toBe(false);
    try {
      states.moveTo('processing');
    } catch (error) {
      expect(error).toMatchObject({ code: 'INTERNAL', retriable: false });
      expect(String(error)).toContain('shutting-down -> processing');
    }
    expect(states.current).toBe('shutting-down');
    states.moveTo('done');
    expect(states.canMoveTo('initializing')).toBe(false);
  });
});
