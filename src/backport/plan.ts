/**
 * Planning a backport: which file, document and field takes each of the ticket's changes, and
 * the new text of every file touched. Pure: the ticket and the checkout's files in, new file
 * texts out, or a DG_USAGE refusal that says why and what to do instead.
 *
 * Where a change goes is where Kustomize would take the value from: the outermost patch on the
 * object that sets the field (a value written into the base would be overridden by it), else the
 * manifest that declares the object. When that manifest is a base other overlays render too, the
 * change goes into this overlay instead (its strategic-merge patch on the object, its JSON 6902
 * patch, or a new JSON 6902 patch file added to its kustomization), so staging does not change
 * with production.
 */
import { posix } from 'node:path';
import type { JsonPatchOp } from '../admission/types.js';
import type { ObjectRef } from '../decision/types.js';
import { isRecord } from '../decision/normalize.js';
import { isWithin, parsePointer } from '../decision/pointer.js';
import { DriftgateError } from '../errors.js';
import { shellQuote } from '../tickets/export.js';
import { combinedPatch, netChange, redactedPaths } from '../tickets/net-change.js';
import { objectName, safe } from '../tickets/render.js';
import type { Ticket } from '../tickets/types.js';
import { hasTemplate, nodeAt, parseDocuments, removeAt, setAt, type YamlPath } from './edit.js';
import { locate, type Declaration, type Patch, type Repo } from './locate.js';

/** BackportPlan is the new text of every file the backport changes, and notes for the person running it. */
export interface BackportPlan {
  files: Map<string, string>;
  notes: string[];
}

// The merge keys of the lists a strategic-merge patch most often touches (Kubernetes' own types).
const MERGE_KEYS = ['name', 'containerPort', 'mountPath', 'devicePath', 'ip', 'port', 'topologyKey'];

type Where =
  | { kind: 'set'; file: string; index: number; path: YamlPath; value: unknown }
  | { kind: 'remove'; file: string; index: number; path: YamlPath }
  | { kind: 'new-patch'; dir: string; op: JsonPatchOp };

/**
 * planBackport returns the edits that carry `ticket` into `repo`. Throws DG_USAGE when the
 * object is not declared there, is rendered from a Helm template, is a Secret whose values the
 * ticket holds only as fingerprints, or a change cannot be written without a person's judgement.
 */
export function planBackport(ticket: Ticket, repo: Repo): BackportPlan {
  const ref = ticket.object;
  const what = `${ref.kind} ${ref.namespace === '' ? '' : `${ref.namespace}/`}${ref.name}`;
  const exportHint = `driftgate tickets export ${shellQuote(ticket.id)} --format yaml`;
  refuseSecretValues(ticket, what);
  const net = netChange(ticket);
  if (net.kind === 'created') throw usage(`${what} was created live under ticket ${ticket.id}: there is no manifest to edit; add one from: ${exportHint}`);
  if (net.kind === 'deleted')
    throw usage(`${what} was deleted live under ticket ${ticket.id}: remove its manifest from Git by hand (driftgate never deletes manifests)`);
  const ops = combinedPatch(ticket).filter((op) => op.op !== 'test');
  if (ops.length === 0) throw usage(`ticket ${ticket.id} changed no fields of ${what}: there is nothing to carry into Git`);

  const located = locate(repo, ref);
  if (located.kind === 'template') {
    throw usage(
      `${what} is rendered from the Helm template ${located.file}: a template's {{ }} cannot take a live value, so the change belongs in the chart's values; see what to carry over with: ${exportHint}`,
    );
  }
  if (located.kind === 'none') {
    const skipped =
      located.unparsed.length === 0
        ? ''
        : ` (${located.unparsed.length} not valid YAML, skipped: ${located.unparsed.slice(0, 3).join(', ')}${located.unparsed.length > 3 ? ', …' : ''})`;
    throw usage(
      `no manifest at HEAD declares ${what} (apiVersion ${ref.group === '' ? '' : `${ref.group}/`}${ref.version}, kind ${ref.kind}, metadata.name ${ref.name}) among ${located.looked} YAML files${skipped}; is --repo the checkout the GitOps tool syncs? To carry the change by hand: ${exportHint}`,
    );
  }
  if (located.declarations.length > 1) {
    const places = located.declarations.map((d) => (d.chain.length === 0 ? d.doc.file : `${d.doc.file} via ${d.chain[d.chain.length - 1] ?? ''}`));
    throw usage(
      `${what} is declared in ${places.length} places that render into namespace ${ref.namespace}: ${places.join('; ')}; carry the change by hand, from: ${exportHint}`,
    );
  }
  const decl = located.declarations[0] as Declaration;
  const texts = new Map<string, string>();
  const text = (file: string): string => texts.get(file) ?? repo.files.get(file) ?? '';
  const notes: string[] = decl.patches
    .filter((p) => p.kind === 'inline')
    .map((p) => `${p.kustomization} patches ${objectName(ref)} inline: check it does not set the fields this backport changes`);
  const newPatch = new Map<string, JsonPatchOp[]>();

  for (const op of ops) {
    const where = placeOf(op, decl, repo, text, what);
    if (where.kind === 'new-patch') {
      newPatch.set(where.dir, [...(newPatch.get(where.dir) ?? []), op]);
      continue;
    }
    const before = text(where.file);
    const doc = parseDocuments(before, where.file)[where.index];
    const node = doc === undefined ? undefined : nodeAt(doc, where.path);
    if (hasTemplate(before, node))
      throw usage(`${where.file}: ${safe(op.path)} holds a {{ }} template there, which cannot take a live value; carry it by hand from: ${exportHint}`);
    texts.set(
      where.file,
      where.kind === 'set' ? setAt(before, where.index, where.path, where.value, where.file) : removeAt(before, where.index, where.path, where.file),
    );
  }
  for (const [dir, patchOps] of newPatch) addPatchFile(ticket, repo, dir, patchOps, texts, text);
  for (const [file, after] of texts) if (after === repo.files.get(file)) texts.delete(file);
  if (texts.size === 0) throw usage(`the manifests of ${what} at HEAD already hold every change of ticket ${ticket.id}: nothing to commit`);
  return { files: texts, notes };
}

function refuseSecretValues(ticket: Ticket, what: string): void {
  const ops = combinedPatch(ticket);
  const secret = ticket.object.kind === 'Secret' && ticket.object.group === '';
  const values = secret
    ? ops.filter((op) => /^\/(data|stringData)(\/|$)/.test(op.path) || op.path === '').map((op) => (op.path === '' ? 'the whole Secret' : op.path))
    : [];
  const fingerprints = redactedPaths(ops);
  if (values.length === 0 && fingerprints.length === 0) return;
  throw usage(
    `${what}: ticket ${ticket.id} changes Secret values (${[...new Set([...values, ...fingerprints])].join(', ')}), which driftgate never records (only fingerprints) and never writes; put the new values in Git through your secret manager (sealed or external secrets), then record it: driftgate tickets resolve ${shellQuote(ticket.id)} --decision backport --ref <where> --by <you>`,
  );
}

// Where one operation of the ticket goes (see the file comment).
function placeOf(op: JsonPatchOp, decl: Declaration, repo: Repo, text: (file: string) => string, what: string): Where {
  const tokens = parsePointer(op.path);
  for (const patch of decl.patches) {
    const found = setterIn(patch, op, tokens, decl, text);
    if (found !== undefined) return found;
  }
  const base: YamlPath = typed(decl.value, tokens);
  if (!decl.shared) {
    return op.op === 'remove'
      ? { kind: 'remove', file: decl.doc.file, index: decl.doc.index, path: base }
      : { kind: 'set', file: decl.doc.file, index: decl.doc.index, path: base, value: op.value };
  }
  // A base other overlays render too: the change goes into this overlay.
  const root = decl.chain[decl.chain.length - 1] ?? '';
  if (op.op === 'remove') {
    throw usage(
      `${what}: removing ${op.path} from ${decl.doc.file} would remove it for every overlay that renders it, not only ${root}; remove it in ${root} by hand (a $patch: delete or a JSON 6902 remove)`,
    );
  }
  const rootKustomization = repo.kustomizations.get(root)?.file;
  const smp = decl.patches.find((p): p is Extract<Patch, { kind: 'smp' }> => p.kind === 'smp' && p.kustomization === rootKustomization);
  if (smp !== undefined) {
    const t = smpPath(decl.value, docValue(text(smp.doc.file), smp.doc.file, smp.doc.index), tokens, op.value);
    if (t !== undefined) return { kind: 'set', file: smp.doc.file, index: smp.doc.index, path: t.path, value: t.value };
  }
  const json = decl.patches.find((p): p is Extract<Patch, { kind: 'json6902' }> => p.kind === 'json6902' && p.kustomization === rootKustomization);
  if (json !== undefined) {
    const list = docValue(text(json.file), json.file, 0);
    return { kind: 'set', file: json.file, index: 0, path: [Array.isArray(list) ? list.length : 0], value: { op: op.op, path: op.path, value: op.value } };
  }
  return { kind: 'new-patch', dir: root, op };
}

// The place in `patch` that sets the field `op` changes, when the patch sets it.
function setterIn(patch: Patch, op: JsonPatchOp, tokens: readonly string[], decl: Declaration, text: (file: string) => string): Where | undefined {
  if (patch.kind === 'inline') return undefined;
  if (patch.kind === 'json6902') {
    const list = docValue(text(patch.file), patch.file, 0);
    if (!Array.isArray(list)) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const item: unknown = list[i];
      if (!isRecord(item) || typeof item['path'] !== 'string' || !isWithin(op.path, item['path'])) continue;
      if (item['op'] === 'remove' || op.op === 'remove') {
        throw usage(
          `${patch.file}: its JSON 6902 operation ${i} (${String(item['op'])} ${item['path']}) decides ${op.path}, and this change ${op.op === 'remove' ? 'removes it' : 'sets it'}; edit that operation by hand`,
        );
      }
      const rest = parsePointer(op.path).slice(parsePointer(item['path']).length);
      return { kind: 'set', file: patch.file, index: 0, path: [i, 'value', ...typed(item['value'], rest)], value: op.value };
    }
    return undefined;
  }
  const smpDoc = docValue(text(patch.doc.file), patch.doc.file, patch.doc.index);
  const t = smpPath(decl.value, smpDoc, tokens, 'value' in op ? op.value : undefined);
  if (t === undefined || !t.exists) return undefined;
  if (op.op === 'remove')
    throw usage(`${patch.doc.file}: its strategic-merge patch sets ${op.path}, which was removed live; remove it there (and from the base) by hand`);
  return { kind: 'set', file: patch.doc.file, index: patch.doc.index, path: t.path, value: t.value };
}

/**
 * smpPath returns where a strategic-merge patch document holds the field at `tokens` of the
 * object: list indexes of the base become the patch's item with the same merge key (a container
 * by name), and a missing item is appended carrying its merge key. Undefined when a list has no
 * merge key the patch could name an item by.
 */
function smpPath(base: unknown, smp: unknown, tokens: readonly string[], value: unknown): { path: YamlPath; value: unknown; exists: boolean } | undefined {
  const path: Array<string | number> = [];
  let b = base;
  let s = smp;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    const rest = tokens.slice(i + 1);
    if (Array.isArray(b)) {
      const index = Number(token);
      const item: unknown = b[index] ?? (rest.length === 0 ? value : undefined);
      const key = isRecord(item) ? MERGE_KEYS.find((k) => item[k] !== undefined) : undefined;
      if (key === undefined || !isRecord(item)) return undefined;
      const list = Array.isArray(s) ? s : undefined;
      const at = list?.findIndex((x) => isRecord(x) && x[key] === item[key]) ?? -1;
      if (at === -1) {
        const added = rest.length === 0 ? value : { [key]: item[key], ...nest(rest, value) };
        return list === undefined ? { path, value: [added], exists: false } : { path: [...path, list.length], value: added, exists: false };
      }
      path.push(at);
      b = item;
      s = list?.[at];
    } else {
      path.push(token);
      b = isRecord(b) ? b[token] : undefined;
      s = isRecord(s) ? s[token] : undefined;
    }
  }
  return { path, value, exists: s !== undefined };
}

function nest(tokens: readonly string[], value: unknown): Record<string, unknown> {
  let out: unknown = value;
  for (let i = tokens.length - 1; i >= 0; i--) out = { [tokens[i] ?? '']: out };
  return out as Record<string, unknown>;
}

// Pointer tokens as a YAML path: indexes into lists become numbers, following the document, and
// digits past its end too (the diff names list items by index).
function typed(value: unknown, tokens: readonly string[]): YamlPath {
  const out: Array<string | number> = [];
  let here = value;
  for (const token of tokens) {
    const index = /^(0|[1-9]\d*)$/.test(token) ? Number(token) : undefined;
    if (Array.isArray(here) && index !== undefined) {
      out.push(index);
      here = here[index];
    } else if (here === undefined && index !== undefined) {
      out.push(index);
    } else {
      out.push(token);
      here = isRecord(here) ? here[token] : undefined;
    }
  }
  return out;
}

function docValue(text: string, file: string, index: number): unknown {
  return parseDocuments(text, file)[index]?.toJS();
}

// A new JSON 6902 patch file in the overlay, and its entry in the overlay's kustomization.
function addPatchFile(ticket: Ticket, repo: Repo, dir: string, ops: JsonPatchOp[], texts: Map<string, string>, text: (file: string) => string): void {
  const k = repo.kustomizations.get(dir);
  if (k === undefined) throw new DriftgateError('DG_INTERNAL', `no kustomization in ${dir}`);
  const stem = ticket.object.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'object';
  let name = `${stem}.backport.yaml`;
  for (let n = 2; repo.files.has(posix.join(dir, name)) || texts.has(posix.join(dir, name)); n++) name = `${stem}.backport-${n}.yaml`;
  const file = posix.join(dir, name);
  const header = [
    `# Backport ticket ${oneLine(ticket.id)} (${oneLine(ticket.window.incident)}): changed live on ${oneLine(objectName(ticket.object))}`,
    `# in namespace ${oneLine(ticket.object.namespace)}; written here, not in the base, which other overlays render too.`,
  ];
  const body = ops.map((op) => `- ${JSON.stringify({ op: op.op, path: op.path, ...('value' in op ? { value: op.value } : {}) })}`);
  texts.set(file, `${[...header, ...body].join('\n')}\n`);
  const o: ObjectRef = ticket.object;
  const target = { ...(o.group === '' ? {} : { group: o.group }), version: o.version, kind: o.kind, name: o.name };
  const kText = text(k.file);
  const existing = parseDocuments(kText, k.file)[0]?.toJS() as Record<string, unknown> | undefined;
  const patches = existing?.['patches'];
  texts.set(k.file, setAt(kText, 0, ['patches', Array.isArray(patches) ? patches.length : 0], { path: name, target }, k.file));
}

function oneLine(text: string): string {
  return safe(text).replace(/[\u2028\u2029]/g, ' ');
}

function usage(message: string): DriftgateError {
  return new DriftgateError('DG_USAGE', message);
}
