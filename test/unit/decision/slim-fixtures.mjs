#!/usr/bin/env node
// Slims the decide() fixtures: a case whose request.json is mostly the shared base review
// (testdata/base-request.json) gets request.patch.json instead, the RFC 6902 operations that turn
// the base into its request, so a reader sees what the case is about. A case that shares little
// with the base (another kind, a subresource) keeps its full request.json. Mechanical and
// idempotent: run it after adding fixtures in the full format (node test/unit/decision/slim-fixtures.mjs).
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import jsonpatch from 'fast-json-patch';

const TESTDATA = join(import.meta.dirname, 'testdata');
const base = JSON.parse(readFileSync(join(TESTDATA, 'base-request.json'), 'utf8'));

for (const entry of readdirSync(TESTDATA, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  const full = join(TESTDATA, entry.name, 'request.json');
  if (!existsSync(full)) continue;
  const text = readFileSync(full, 'utf8');
  // JSON.parse rounds integers beyond 2^53: a case about them keeps its exact full text.
  if (/\d{16}/.test(text)) continue;
  const request = JSON.parse(text);
  const ops = jsonpatch.compare(base, request);
  // Worth it only when the differences are a small part of the whole.
  if (JSON.stringify(ops).length * 3 > JSON.stringify(request).length) continue;
  // The check that matters: the base plus the operations is the request (key order aside,
  // which JSON objects do not have and driftgate's normalized diff does not depend on).
  const rebuilt = jsonpatch.applyPatch(structuredClone(base), structuredClone(ops)).newDocument;
  if (!isDeepStrictEqual(rebuilt, request)) throw new Error(`${entry.name}: the patch does not rebuild the request`);
  writeFileSync(join(TESTDATA, entry.name, 'request.patch.json'), `${JSON.stringify(ops, null, 2)}\n`);
  rmSync(full);
  console.log(`${entry.name}: ${ops.length} operations on the base`);
}
