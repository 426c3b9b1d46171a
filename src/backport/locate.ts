/**
 * Finding where a checkout declares an object: plain manifests (one or several documents per
 * file), Kustomize resources and the overlays that render them, with the patches that touch the
 * object on the way (strategic-merge files, patchesJson6902 and `patches` entries). Pure: file
 * texts in, declarations out.
 *
 * An object is declared by a document with its kind, API group and name. Its namespace is the
 * one the outermost kustomization on the way sets (Kustomize's namespace transformer overrides
 * the documents'), else the document's own; a manifest without one (the GitOps destination sets
 * it) matches any namespace, but a declaration that names the ticket's namespace wins over it.
 * Its name is the document's with every namePrefix and nameSuffix on the way applied, innermost
 * first; a patch may name the object by any of the names it has on the way (Kustomize matches
 * patches on the original or the current name).
 */
import { posix } from 'node:path';
import type { Document } from 'yaml';
import type { ObjectRef } from '../decision/types.js';
import { isRecord } from '../decision/normalize.js';
import { parseDocuments } from './edit.js';

/** DocRef is one document of one file. */
export interface DocRef {
  file: string;
  index: number;
}

/** Patch is a patch that a kustomization applies to the object. */
export type Patch =
  | { kind: 'smp'; doc: DocRef; kustomization: string }
  | { kind: 'json6902'; file: string; kustomization: string }
  | { kind: 'inline'; kustomization: string };

/**
 * Declaration is where the object is declared and how it reaches the cluster: the kustomizations
 * from the one listing the file up to the root (empty for a plain manifest), and their patches
 * on the object, outermost (applied last) first.
 */
export interface Declaration {
  doc: DocRef;
  /** The document as JSON, for merge keys and the templates check. */
  value: Record<string, unknown>;
  chain: string[];
  patches: Patch[];
  /** True when the namespace was set (by the document or a kustomization), not left to the GitOps destination. */
  namespaced: boolean;
  /** True when other roots (overlays for other namespaces or clusters) render the same document. */
  shared: boolean;
}

/** Located is what the search found: declarations, or why there are none. */
export type Located =
  | { kind: 'found'; declarations: Declaration[] }
  | { kind: 'template'; file: string }
  | { kind: 'none'; looked: number; unparsed: string[] };

/** Repo is a checkout's YAML files, parsed once. */
export interface Repo {
  files: ReadonlyMap<string, string>;
  docs: ReadonlyMap<string, Document.Parsed[]>;
  unparsed: string[];
  kustomizations: ReadonlyMap<string, Kustomization>;
}

/** Kustomization is the little of a kustomization.yaml the search reads; paths are relative to the repository root. */
export interface Kustomization {
  file: string;
  dir: string;
  namespace?: string;
  namePrefix?: string;
  nameSuffix?: string;
  /** Files and directories it renders. */
  resources: string[];
  patches: Array<{ file?: string; target?: Record<string, unknown>; inline: boolean; strategic: boolean }>;
}

const KUSTOMIZATION = /(^|\/)(kustomization\.ya?ml|Kustomization)$/;

/** readRepo parses every file; a file that is not YAML (a Helm template, say) is kept aside by name. */
export function readRepo(files: ReadonlyMap<string, string>): Repo {
  const docs = new Map<string, Document.Parsed[]>();
  const unparsed: string[] = [];
  for (const [path, text] of files) {
    try {
      docs.set(path, parseDocuments(text, path));
    } catch {
      unparsed.push(path);
    }
  }
  const kustomizations = new Map<string, Kustomization>();
  for (const [path, parsed] of docs) {
    if (!KUSTOMIZATION.test(path)) continue;
    const k = kustomizationOf(path, parsed[0]?.toJS());
    if (k !== undefined) kustomizations.set(k.dir, k);
  }
  return { files, docs, unparsed, kustomizations };
}

/** locate returns where `ref` is declared in `repo`. */
export function locate(repo: Repo, ref: ObjectRef): Located {
  const includedBy = new Map<string, string[]>(); // file or kustomization dir → kustomization dirs listing it
  for (const k of repo.kustomizations.values()) {
    for (const r of k.resources) includedBy.set(r, [...(includedBy.get(r) ?? []), k.dir]);
  }
  const found: Declaration[] = [];
  let templated: string | undefined;
  for (const [file, parsed] of repo.docs) {
    if (KUSTOMIZATION.test(file) || isPatchFile(repo, file)) continue;
    parsed.forEach((doc, index) => {
      const value: unknown = doc.toJS();
      if (!declares(value, ref, undefined)) return;
      if (isTemplate(repo, file)) {
        if (declares(value, ref, [ref.name])) templated ??= file;
        return;
      }
      const docNs = isRecord(value.metadata) && typeof value.metadata['namespace'] === 'string' ? value.metadata['namespace'] : undefined;
      const chains = chainsOf(file, includedBy);
      const roots = new Set(chains.map((c) => c[c.length - 1] ?? file));
      for (const chain of chains) {
        const set =
          [...chain]
            .reverse()
            .map((dir) => repo.kustomizations.get(dir)?.namespace)
            .find((ns) => ns !== undefined) ?? docNs;
        if (set !== undefined && set !== ref.namespace) continue;
        const names = namesOn(repo, chain, String((value['metadata'] as Record<string, unknown>)['name']));
        if (names[names.length - 1] !== ref.name) continue;
        found.push({
          doc: { file, index },
          value,
          chain,
          patches: patchesOn(repo, chain, ref, names),
          namespaced: set !== undefined,
          shared: roots.size > 1,
        });
      }
    });
  }
  if (found.length > 0) {
    // A declaration naming the namespace beats one that leaves it to the GitOps destination.
    const named = found.filter((d) => d.namespaced);
    return { kind: 'found', declarations: named.length > 0 ? named : found };
  }
  templated ??=
    repo.unparsed.find((f) => mentions(repo.files.get(f) ?? '', ref)) ??
    [...repo.docs.keys()].find((f) => isTemplate(repo, f) && mentions(repo.files.get(f) ?? '', ref));
  if (templated !== undefined) return { kind: 'template', file: templated };
  return { kind: 'none', looked: repo.files.size, unparsed: repo.unparsed };
}

/**
 * declares returns true when a document is a manifest of the object's kind and API group, named
 * one of `names` (any name, to be checked through the kustomizations, when undefined).
 */
export function declares(value: unknown, ref: ObjectRef, names: readonly string[] | undefined): value is Record<string, unknown> {
  if (!isRecord(value) || !isRecord(value['metadata'])) return false;
  const apiVersion = typeof value['apiVersion'] === 'string' ? value['apiVersion'] : '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const name = value['metadata']['name'];
  return value['kind'] === ref.kind && group === ref.group && typeof name === 'string' && (names === undefined || names.includes(name));
}

// The object's name as the file declares it, then after each kustomization of the chain.
function namesOn(repo: Repo, chain: readonly string[], declared: string): string[] {
  const names = [declared];
  for (const dir of chain) {
    const k = repo.kustomizations.get(dir);
    names.push(`${k?.namePrefix ?? ''}${names[names.length - 1] ?? ''}${k?.nameSuffix ?? ''}`);
  }
  return names;
}

// Every path from the file up through the kustomizations that include it (directly, or through
// their directory) to a root; one empty chain for a file no kustomization includes.
function chainsOf(file: string, includedBy: ReadonlyMap<string, string[]>): string[][] {
  const out: string[][] = [];
  const walk = (node: string, chain: string[]): void => {
    const parents = includedBy.get(node) ?? [];
    if (parents.length === 0 || chain.length > 32) {
      out.push(chain);
      return;
    }
    for (const p of parents) if (!chain.includes(p)) walk(p, [...chain, p]);
  };
  walk(file, []);
  return out;
}

function patchesOn(repo: Repo, chain: readonly string[], ref: ObjectRef, names: readonly string[]): Patch[] {
  const out: Patch[] = [];
  for (const dir of [...chain].reverse()) {
    const k = repo.kustomizations.get(dir);
    if (k === undefined) continue;
    for (const p of k.patches) {
      if (p.target !== undefined && !names.some((name) => targets(p.target ?? {}, { ...ref, name }))) continue;
      if (p.inline) {
        if (p.target !== undefined) out.push({ kind: 'inline', kustomization: k.file });
        continue;
      }
      const file = p.file ?? '';
      const docs = repo.docs.get(file);
      if (docs === undefined) continue;
      docs.forEach((doc, index) => {
        const value: unknown = doc.toJS();
        if (Array.isArray(value) && !p.strategic && p.target !== undefined) out.push({ kind: 'json6902', file, kustomization: k.file });
        else if (declares(value, ref, names)) out.push({ kind: 'smp', doc: { file, index }, kustomization: k.file });
      });
    }
  }
  return out;
}

function targets(target: Record<string, unknown>, ref: ObjectRef): boolean {
  const same = (key: string, want: string): boolean => target[key] === undefined || target[key] === want || regexMatch(target[key], want);
  return same('kind', ref.kind) && same('name', ref.name) && same('group', ref.group) && same('version', ref.version) && same('namespace', ref.namespace);
}

// Kustomize reads target names and kinds as regular expressions, anchored.
function regexMatch(pattern: unknown, text: string): boolean {
  if (typeof pattern !== 'string' || pattern.length > 200) return false;
  try {
    return new RegExp(`^(?:${pattern})$`).test(text);
  } catch {
    return false;
  }
}

function kustomizationOf(file: string, value: unknown): Kustomization | undefined {
  if (!isRecord(value)) return undefined;
  const dir = posix.dirname(file);
  const at = (p: unknown): string | undefined => (typeof p === 'string' && !/^[a-z]+:\/\//i.test(p) ? posix.normalize(posix.join(dir, p)) : undefined);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const resources = [...list(value['resources']), ...list(value['bases'])].map(at).filter((p): p is string => p !== undefined);
  const patches: Kustomization['patches'] = [];
  for (const p of list(value['patchesStrategicMerge'])) {
    const f = at(p);
    if (f !== undefined && !String(p).includes('\n')) patches.push({ file: f, inline: false, strategic: true });
    else patches.push({ inline: true, strategic: true });
  }
  for (const p of list(value['patchesJson6902'])) {
    if (!isRecord(p)) continue;
    const target = isRecord(p['target']) ? p['target'] : undefined;
    const f = at(p['path']);
    patches.push({ ...(f === undefined ? {} : { file: f }), ...(target === undefined ? {} : { target }), inline: f === undefined, strategic: false });
  }
  for (const p of list(value['patches'])) {
    if (!isRecord(p)) continue;
    const target = isRecord(p['target']) ? p['target'] : undefined;
    const f = at(p['path']);
    patches.push({ ...(f === undefined ? {} : { file: f }), ...(target === undefined ? {} : { target }), inline: f === undefined, strategic: false });
  }
  const text = (key: string): Record<string, string> => (typeof value[key] === 'string' ? { [key]: value[key] } : {});
  return { file, dir, ...text('namespace'), ...text('namePrefix'), ...text('nameSuffix'), resources, patches };
}

function isPatchFile(repo: Repo, file: string): boolean {
  for (const k of repo.kustomizations.values()) if (k.patches.some((p) => p.file === file)) return true;
  return false;
}

// Files under a chart's templates/ are rendered by Helm before anything reads them as manifests.
function isTemplate(repo: Repo, file: string): boolean {
  const parts = file.split('/');
  const at = parts.lastIndexOf('templates');
  if (at > -1 && repo.files.has([...parts.slice(0, at), 'Chart.yaml'].join('/').replace(/^\//, ''))) return true;
  return /\{\{/.test(repo.files.get(file) ?? '');
}

function mentions(text: string, ref: ObjectRef): boolean {
  const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`kind:\\s*["']?${escaped(ref.kind)}\\b`).test(text) && new RegExp(`name:\\s*["']?${escaped(ref.name)}\\b`).test(text);
}
