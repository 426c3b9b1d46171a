/**
 * From text to a GuardPolicy: parse YAML or JSON, validate against the schema and the rules
 * beyond it, apply defaults. Every problem is reported at once, in one DG_POLICY_INVALID error
 * whose details name each field, so that fixing a policy takes one round, not one per typo.
 * Reading the file is the CLI's job; this module only sees text.
 */
// The named export is the same class as ajv's default export; under NodeNext the default import
// of this CommonJS package types as the module object, which is not constructable.
import { Ajv, type ValidateFunction } from 'ajv';
import { isScalar, parseAllDocuments, type Document, type YAMLError } from 'yaml';
import { DriftgateError } from '../errors.js';
import { jsonProblem } from '../util/json-syntax.js';
import { checkSemantics } from './checks.js';
import { applyDefaults } from './defaults.js';
import { describeErrors, report } from './messages.js';
import { GUARD_POLICY_SCHEMA, type GuardPolicyDocument } from './schema.js';
import type { GuardPolicy } from './types.js';

let validator: ValidateFunction<GuardPolicyDocument> | undefined;

// Compiled on first use, not on import, so importing the policy module has no side effects.
function validate(): ValidateFunction<GuardPolicyDocument> {
  // verbose: errors carry the offending value and their schema, which the messages quote.
  validator ??= new Ajv({ allErrors: true, verbose: true, strict: true }).compile<GuardPolicyDocument>(GUARD_POLICY_SCHEMA);
  return validator;
}

function invalid(source: string, details: string[]): DriftgateError {
  const count = details.length === 1 ? '1 problem' : `${details.length} problems`;
  return new DriftgateError('DG_POLICY_INVALID', `${source}: the GuardPolicy is invalid (${count})`, { details });
}

/**
 * parsePolicy returns the GuardPolicy a parsed document describes, defaults applied, or throws
 * DG_POLICY_INVALID listing every problem. `source` names the document in the message.
 */
export function parsePolicy(doc: unknown, source = 'policy'): GuardPolicy {
  const check = validate();
  const valid = check(doc);
  const problems = [...(valid ? [] : describeErrors(check.errors ?? [], doc)), ...checkSemantics(doc)];
  if (valid && problems.length === 0) return applyDefaults(doc);
  throw invalid(source, report(problems));
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Our own scanner says where, rather than V8's message parsed back with a regex.
    throw invalid(source, [`document: ${jsonProblem(text)}; the file is not valid JSON`]);
  }
}

function isEmpty(doc: Document.Parsed): boolean {
  return doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
}

/**
 * yamlProblem returns one line for a YAML syntax error: where (from its linePos) and what. The
 * library appends the place and a code excerpt to its message; the excerpt may quote a secret
 * and the place is restated in our form, so only the first line, without the place, is kept.
 */
export function yamlProblem(error: YAMLError): string {
  const what = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
  const at = error.linePos?.[0];
  return at !== undefined ? `line ${at.line}, column ${at.col}: ${what}` : what;
}

function parseYaml(text: string, source: string): unknown {
  const docs = parseAllDocuments(text);
  const errors = docs.flatMap((doc) => doc.errors);
  if (errors.length > 0) {
    throw invalid(source, errors.map(yamlProblem));
  }
  const present = docs.filter((doc) => !isEmpty(doc));
  const [only] = present;
  if (only === undefined) throw invalid(source, ['document: the file is empty; write a GuardPolicy, see examples/policy.yaml']);
  if (present.length > 1) {
    throw invalid(source, [`document: the file holds ${present.length} YAML documents; keep one GuardPolicy per file`]);
  }
  try {
    return only.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw invalid(source, [`document: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

/**
 * loadPolicy returns the GuardPolicy written in `text` (YAML, or JSON when it starts with "{"),
 * defaults applied, or throws DG_POLICY_INVALID naming `source` and listing every problem.
 */
export function loadPolicy(text: string, source: string): GuardPolicy {
  const body = text.replace(/^\uFEFF/, '');
  const doc = body.trimStart().startsWith('{') ? parseJson(body, source) : parseYaml(body, source);
  return parsePolicy(doc, source);
}
