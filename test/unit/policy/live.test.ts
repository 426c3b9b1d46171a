/**
 * The live policy holder: readers see a swap at once, listeners (the webhook keeper, metrics)
 * hear every swap, can unsubscribe, and one that throws neither stops the swap nor the others.
 */
import { describe, expect, it } from 'vitest';
import { createLivePolicy } from '../../../src/policy/live.js';
import type { PolicySet } from '../../../src/policy/set.js';
import { fixturePolicy } from '../../helpers/webhook.js';

describe('createLivePolicy', () => {
  const a: PolicySet = { policies: [fixturePolicy()] };
  const b: PolicySet = { policies: [], closed: 'none valid' };

  it('current() is the set last swapped in', () => {
    const live = createLivePolicy(a);
    expect(live.current()).toBe(a);
    live.swap(b);
    expect(live.current()).toBe(b);
  });

  it('tells each listener every swap, until it unsubscribes; a failing listener is reported and the rest still hear', () => {
    const errors: unknown[] = [];
    const live = createLivePolicy(a, (err) => errors.push(err));
    const heard: PolicySet[] = [];
    live.onChange(() => {
      throw new Error('keeper down');
    });
    const off = live.onChange((set) => heard.push(set));
    live.swap(b);
    off();
    live.swap(a);
    expect(heard).toEqual([b]);
    expect(errors).toHaveLength(2);
    expect(live.current()).toBe(a);
  });
});
