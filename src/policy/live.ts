/**
 * The policy in force, swapped while driftgate runs. One holder, many readers: the admitter asks
 * `current()` on every review (so a swap applies from the next review on, on the main thread and
 * in the judging worker alike, which is handed the policy with each review), and whoever must
 * follow a change (re-rendering the webhook configurations, the policy metric) subscribes with
 * `onChange`. The holder decides nothing: the watcher (src/controller/guardpolicy-watch.ts) only
 * ever offers it policies that were judged valid, so an invalid one never gets here.
 */
import type { PolicySet } from './set.js';

/** PolicyListener is told the new set after each swap. */
export type PolicyListener = (set: PolicySet) => void;

/** LivePolicy holds the policy set in force. */
export interface LivePolicy {
  /** The set in force now. */
  current(): PolicySet;
  /** Calls `listener` after every swap; returns the function that unsubscribes it. */
  onChange(listener: PolicyListener): () => void;
  /** Puts `set` in force and tells the listeners (a listener that throws is reported, not fatal). */
  swap(set: PolicySet): void;
}

/** createLivePolicy returns a holder starting at `initial`; `onListenerError` hears a listener's failure. */
export function createLivePolicy(initial: PolicySet, onListenerError: (err: unknown) => void = () => {}): LivePolicy {
  let inForce = initial;
  const listeners = new Set<PolicyListener>();
  return {
    current: () => inForce,
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    swap(set) {
      inForce = set;
      for (const listener of listeners) {
        try {
          listener(set);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
  };
}
