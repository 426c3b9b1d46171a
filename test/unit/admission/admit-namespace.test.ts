/**
 * The admitter looks the Namespace up only when decide() asks for it (the namespace controller's
 * deletes), and fails closed when it cannot: the delete is refused, and the controller retries.
 */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import type { ObjectRef } from '../../../src/decision/types.js';
import { createAdmitter, type ParentLookup } from '../../../src/admission/admit.js';
import { FIXED_NOW, fixturePolicy } from '../../helpers/webhook.js';
import type { TicketStore } from '../../../src/tickets/types.js';

const deleteByNamespaceController = (username = 'system:serviceaccount:kube-system:namespace-controller'): AdmissionRequest => ({
  uid: 'ns-del-1',
  kind: { group: '', version: 'v1', kind: 'ConfigMap' },
  resource: { group: '', version: 'v1', resource: 'configmaps' },
  name: '',
  namespace: 'prod',
  operation: 'DELETE',
  userInfo: { username, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  object: null,
  oldObject: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'prod' }, data: { a: 'b' } },
});

const terminating: KubeObject = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'prod', deletionTimestamp: '2026-11-24T02:59:00Z' },
  status: { phase: 'Terminating' },
};
const active: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' }, status: { phase: 'Active' } };

/** A store that must never be called: none of these writes is a bypass. */
const noTickets: TicketStore = new Proxy({} as TicketStore, {
  get: () => () => {
    throw new Error('the ticket store was called');
  },
});

function admitterWith(parents: ParentLookup, errors: unknown[] = []) {
  const policy = fixturePolicy();
  return createAdmitter({ policy: () => policy, now: () => FIXED_NOW, tickets: noTickets, parents, onParentError: (_ref, err) => errors.push(err) });
}

describe('admitter: the Namespace of a namespace-controller delete', () => {
  it('allows the delete once the looked-up Namespace is being deleted', async () => {
    const asked: ObjectRef[] = [];
    const admitter = admitterWith(async (ref) => {
      asked.push(ref);
      return terminating;
    });
    const got = await admitter.validate(deleteByNamespaceController());
    expect(got.answer.allowed).toBe(true);
    expect(got.reasonCode).toBe('kubernetes-controller');
    expect(asked).toEqual([{ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespace: '', name: 'prod' }]);
  });

  it('refuses it, naming the object, when the Namespace is not being deleted', async () => {
    const got = await admitterWith(async () => active).validate(deleteByNamespaceController());
    expect(got.answer.allowed).toBe(false);
    expect(got.answer.status?.message).toContain('configmaps/settings');
  });

  it('refuses it when the lookup fails (fail closed), and reports the error', async () => {
    const errors: unknown[] = [];
    const got = await admitterWith(async () => {
      throw new Error('apiserver unreachable');
    }, errors).validate(deleteByNamespaceController());
    expect(got.answer.allowed).toBe(false);
    expect(errors).toHaveLength(1);
  });

  it('never looks anything up for a person deleting', async () => {
    const asked: ObjectRef[] = [];
    const got = await admitterWith(async (ref) => {
      asked.push(ref);
      return terminating;
    }).validate(deleteByNamespaceController('alice@example.com'));
    expect(got.answer.allowed).toBe(false);
    expect(asked).toEqual([]);
  });
});
