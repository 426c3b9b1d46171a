/**
 * The worst AdmissionReviews we know how to build for driftgate's decision (issue 11, "No input
 * can stall driftgate"): a custom resource whose spec nests a long list many levels deep, with
 * every leaf changed between oldObject and object. Before the diff was made linear, a 62 KB
 * review of this shape took seconds and ~250 MB to refuse: every leaf paid for its whole path
 * (a copied token array and a pointer escaped token by token), so the cost was leaves × depth.
 *
 * Self-contained (no imports from src/): the bench and test/http both build their bodies here.
 */

/** HostileShape says how deep the list sits and how many items it holds. */
export interface HostileShape {
  /** Levels of nesting above the list, counted from the object's root. */
  depth: number;
  /** Items in the list (every one a changed leaf). */
  items: number;
  uid?: string;
  username?: string;
}

/** HOSTILE_GROUP and HOSTILE_RESOURCE name the custom resource the hostile reviews write. */
export const HOSTILE_GROUP = 'example.com';
export const HOSTILE_RESOURCE = 'widgets';

function nested(depth: number, leaf: unknown): Record<string, unknown> {
  // Built inside out, iteratively: the point is depth, which a recursive builder could not reach.
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value as Record<string, unknown>;
}

function widget(depth: number, items: number, fill: number): Record<string, unknown> {
  return {
    apiVersion: `${HOSTILE_GROUP}/v1`,
    kind: 'Widget',
    metadata: { name: 'deep', namespace: 'prod', uid: 'b1c2d3e4-0000-4000-8000-000000000001', resourceVersion: '41' },
    // Two levels (spec, then `depth - 2` levels of "a") put the list `depth` levels below the root.
    spec: nested(Math.max(0, depth - 2), new Array<number>(items).fill(fill)),
  };
}

/** hostileReview returns an AdmissionReview UPDATE of a Widget whose list, `depth` deep, changes every item. */
export function hostileReview(shape: HostileShape): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: shape.uid ?? 'hostile-0001',
      kind: { group: HOSTILE_GROUP, version: 'v1', kind: 'Widget' },
      resource: { group: HOSTILE_GROUP, version: 'v1', resource: HOSTILE_RESOURCE },
      requestKind: { group: HOSTILE_GROUP, version: 'v1', kind: 'Widget' },
      requestResource: { group: HOSTILE_GROUP, version: 'v1', resource: HOSTILE_RESOURCE },
      name: 'deep',
      namespace: 'prod',
      operation: 'UPDATE',
      userInfo: { username: shape.username ?? 'mallory@example.com', groups: ['developers', 'system:authenticated'] },
      object: widget(shape.depth, shape.items, 1),
      oldObject: widget(shape.depth, shape.items, 0),
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' },
    },
  };
}

/**
 * hostileReviewText returns the review as compact JSON, with the list sized so that the body is
 * about `bytes` long (each item costs two bytes on each side: "0," and "1,").
 */
export function hostileReviewText(depth: number, bytes: number, shape: Partial<HostileShape> = {}): string {
  const overhead = JSON.stringify(hostileReview({ ...shape, depth, items: 0 })).length;
  const items = Math.max(1, Math.floor((bytes - overhead) / 4));
  return JSON.stringify(hostileReview({ ...shape, depth, items }));
}
