/**
 * The YAML forms of a ticket export: a Kustomize patch and a fragment of the manifest, written as
 * YAML 1.1 (what kubectl and Kustomize read) with comments that say where each value came from.
 */
import { Document, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import { isRecord, setOwn } from '../decision/normalize.js';
import { safe } from './render.js';
import type { Ticket } from './types.js';
import { isRawJson } from '../util/json.js';
import { safeYaml } from '../util/yaml-safe.js';
import type { ExportFile } from './export.js';
import { FINGERPRINT, type NetChange, byIndex, combinedPatch } from './net-change.js';
import { fieldName, oneLine, truncate } from './commit-message.js';

// The keys a manifest starts with, in the order people write them.
const HEAD_KEYS = ['apiVersion', 'kind', 'metadata'];

/** kustomizeFiles returns the Kustomize patch (and the kustomization entry) that carries the net change into Git. */
export function kustomizeFiles(ticket: Ticket, net: NetChange, base: string, header: string[]): ExportFile[] {
  const o = ticket.object;
  const target = {
    ...(o.group === '' ? {} : { group: o.group }),
    version: o.version,
    kind: o.kind,
    name: o.name,
    ...(o.namespace === '' ? {} : { namespace: o.namespace }),
  };
  if (net.kind === 'created') {
    const file = `${base}.yaml`;
    return [
      {
        name: 'kustomization-patch.yaml',
        text: yamlText({ resources: [file] }, [
          ...header,
          'The object was created live: add its manifest to the resources of the kustomization that renders it.',
        ]),
      },
      { name: file, text: yamlText(manifestOrder(net.object), header) },
    ];
  }
  const file = `${base}.patch.yaml`;
  const kustomization = yamlText({ patches: [{ target, path: file }] }, [
    ...header,
    'Merge this entry into the patches of the kustomization.yaml that renders the object.',
  ]);
  if (net.kind === 'deleted') {
    // A strategic-merge `$patch: delete` is the one Kustomize patch that removes an object; simply
    // dropping the manifest from Git says the same more plainly, hence the comment.
    const patch = { $patch: 'delete', apiVersion: apiVersion(ticket), kind: o.kind, metadata: identity(ticket) };
    return [
      { name: 'kustomization-patch.yaml', text: kustomization },
      {
        name: file,
        text: yamlText(patch, [...header, 'The object was deleted live: this patch deletes it from the build; removing its manifest from Git says the same.']),
      },
    ];
  }
  return [
    { name: 'kustomization-patch.yaml', text: kustomization },
    { name: file, text: yamlText(combinedPatch(ticket), [...header, 'JSON 6902 patch: every change, in the order it was made.']) },
  ];
}

/** yamlFragment returns the fields of the manifest the net change sets, as a YAML fragment to merge into Git's. */
export function yamlFragment(ticket: Ticket, net: NetChange, base: string, header: string[]): ExportFile {
  if (net.kind === 'created') {
    return { name: `${base}.yaml`, text: yamlText(manifestOrder(net.object), [...header, 'The object was created live: add this manifest to Git.']) };
  }
  const head = { apiVersion: apiVersion(ticket), kind: ticket.object.kind, metadata: identity(ticket) };
  if (net.kind === 'deleted') {
    return { name: `${base}.fragment.yaml`, text: yamlText(head, [...header, 'The object was deleted live: remove its manifest from Git.']) };
  }
  const comments = [...header, 'Only the fields changed live, set to their new values: merge them into the manifest in Git.'];
  if (net.removed.length > 0) {
    comments.push('Removed live (delete these from the manifest):');
    for (const r of net.removed)
      comments.push(`  ${safe(fieldName(r.path))}${r.was === undefined ? '' : ` (was ${truncate(JSON.stringify(r.was) ?? '', 60)})`}`);
  }
  return { name: `${base}.fragment.yaml`, text: yamlText(mergeInto(head, net.set), comments) };
}

function apiVersion(ticket: Ticket): string {
  return ticket.object.group === '' ? ticket.object.version : `${ticket.object.group}/${ticket.object.version}`;
}

function identity(ticket: Ticket): Record<string, string> {
  return { name: ticket.object.name, ...(ticket.object.namespace === '' ? {} : { namespace: ticket.object.namespace }) };
}

// YAML 1.1 output, because kubectl and Kustomize read manifests as YAML 1.1: a label value "yes"
// written bare would come back as the boolean true. No folding, so long values stay greppable.
function yamlText(value: unknown, comments: readonly string[]): string {
  const doc = new Document(undefined, { version: '1.1' });
  doc.contents = toNode(doc, value);
  if (comments.length > 0) doc.commentBefore = comments.map((c) => ` ${oneLine(c)}`).join('\n');
  return safeYaml(doc, { lineWidth: 0 });
}

function toNode(doc: Document, value: unknown): Node {
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    // Holes are list items the ticket never touched (a fragment names only changed leaves).
    for (let i = 0; i < value.length; i++) {
      if (Object.hasOwn(value, i)) {
        const item = toNode(doc, value[i]);
        if (byIndex.has(value)) item.commentBefore = ` [${i}]: item ${i} of this list in Git; merge these fields into it`;
        seq.items.push(item);
      } else {
        const hole = new Scalar(null);
        hole.comment = ` [${i}] unchanged: keep this item as it is in Git`;
        seq.items.push(hole);
      }
    }
    return seq;
  }
  if (isRecord(value)) {
    const map = new YAMLMap();
    for (const [k, v] of Object.entries(value)) map.items.push(doc.createPair(k, toNode(doc, v)));
    return map;
  }
  // An exact integer beyond 2^53 is written as its digits (a YAML int), not as a map.
  const node = doc.createNode(isRawJson(value) ? BigInt(value.rawJSON) : value);
  if (typeof value === 'string' && FINGERPRINT.test(value) && node instanceof Scalar)
    node.comment = ' fingerprint only: re-enter the value from the secret manager';
  return node as Node;
}

// Deep merge of the identity head and the changed fields; the head comes first so the fragment
// reads like a manifest (apiVersion, kind, metadata, then the rest).
function mergeInto(head: Record<string, unknown>, set: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(head)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(set)) {
    const here = out[k];
    setOwn(out, k, Object.hasOwn(out, k) && isRecord(here) && isRecord(v) ? mergeInto(here, v) : v);
  }
  return out;
}

function manifestOrder(obj: unknown): unknown {
  if (!isRecord(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const k of [...HEAD_KEYS.filter((h) => Object.hasOwn(obj, h)), ...Object.keys(obj).filter((k) => !HEAD_KEYS.includes(k))]) setOwn(out, k, obj[k]);
  return out;
}
