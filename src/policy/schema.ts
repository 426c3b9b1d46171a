/**
 * The GuardPolicy document as a person writes it, and its JSON Schema (draft-07). The schema is
 * plain data so that it can also be published for editors; the messages a person reads are
 * written in `messages.ts`, never taken from the validator.
 *
 * Every object sets `additionalProperties: false`: a misspelt key (`delegation:`) would otherwise
 * be ignored silently and the policy would protect less than its writer believes.
 */
import type { Mode } from './types.js';

/** SubjectsDocument is a list of users and groups as written; either may be left out. */
export interface SubjectsDocument {
  users?: string[];
  groups?: string[];
}

/** GuardPolicyDocument is the shape the schema accepts: optional fields are not yet defaulted. */
export interface GuardPolicyDocument {
  apiVersion: 'driftgate.dev/v1alpha1';
  kind: 'GuardPolicy';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    mode?: Mode;
    namespaces: string[];
    resources: Array<{ apiGroups: string[]; resources: string[] }>;
    openSubresources?: Array<{ apiGroups: string[]; resources: string[]; reason: string }>;
    gitopsWriters?: SubjectsDocument;
    delegations?: Array<SubjectsDocument & { paths: string[] }>;
    breakGlass?: SubjectsDocument & { maxDuration?: string; incidentPattern?: string; minReasonLength?: number };
    kubernetesControllers?: { allow?: string[]; sharedIdentity?: boolean };
  };
}

/** The apiVersion every GuardPolicy document carries. */
export const POLICY_API_VERSION = 'driftgate.dev/v1alpha1';
/** The kind every GuardPolicy document carries. */
export const POLICY_KIND = 'GuardPolicy';

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';

/** PATTERNS holds the regular expressions the schema uses, shared with the message writer. */
export const PATTERNS = {
  /** A DNS-1123 subdomain, as Kubernetes requires of object names. */
  name: `^${DNS_LABEL}(\\.${DNS_LABEL})*$`,
  /** A namespace name, "*" (all), or a prefix glob ending in "*" such as "payments-*". */
  namespace: `^(\\*|${DNS_LABEL}|[a-z0-9][-a-z0-9]*\\*)$`,
  /** "" (the core group), "*" (all groups) or a DNS subdomain such as "apps" or "cert-manager.io". */
  apiGroup: `^(\\*|${DNS_LABEL}(\\.${DNS_LABEL})*)?$`,
  /** "name", "name/subresource", "*", "*\/subresource" or "name/*". */
  resource: `^(\\*|${DNS_LABEL})(/(\\*|${DNS_LABEL}))?$`,
  /** "name/subresource", "*\/subresource" or "name/*": an entry of openSubresources names a subresource. */
  subresource: `^(\\*|${DNS_LABEL})/(\\*|${DNS_LABEL})$`,
  /**
   * An RFC 6901 JSON Pointer naming a field: the empty pointer (the whole object) and empty
   * reference tokens ("/", "/spec//x") are refused because they never name a field a controller owns.
   */
  pointer: '^(/([^~/]|~[01])+)+$',
  /** A Go-style duration: "0" or one or more "<number><unit>" terms. */
  duration: '^(0|((\\d+(\\.\\d*)?|\\.\\d+)(ns|us|µs|μs|ms|s|m|h))+)$',
} as const;

const nonEmptyString = { type: 'string', minLength: 1 } as const;
const stringList = { type: 'array', items: nonEmptyString } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const subjectProperties = { users: stringList, groups: stringList } as const;

/** GUARD_POLICY_SCHEMA is the JSON Schema (draft-07) of a GuardPolicy document. */
export const GUARD_POLICY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://driftgate.dev/schemas/v1alpha1/guardpolicy.json',
  title: 'GuardPolicy',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', const: POLICY_API_VERSION },
    kind: { type: 'string', const: POLICY_KIND },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 253, pattern: PATTERNS.name },
        labels: stringMap,
        annotations: stringMap,
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['namespaces', 'resources'],
      properties: {
        mode: { type: 'string', enum: ['enforce', 'warn'] },
        namespaces: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', minLength: 1, maxLength: 63, pattern: PATTERNS.namespace },
        },
        resources: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['apiGroups', 'resources'],
            properties: {
              apiGroups: { type: 'array', minItems: 1, items: { type: 'string', pattern: PATTERNS.apiGroup } },
              resources: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', minLength: 1, pattern: PATTERNS.resource },
              },
            },
          },
        },
        openSubresources: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['apiGroups', 'resources', 'reason'],
            properties: {
              apiGroups: { type: 'array', minItems: 1, items: { type: 'string', pattern: PATTERNS.apiGroup } },
              resources: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', minLength: 1, pattern: PATTERNS.subresource },
              },
              reason: { type: 'string', minLength: 1, pattern: '\\S' },
            },
          },
        },
        gitopsWriters: { type: 'object', additionalProperties: false, properties: subjectProperties },
        delegations: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['paths'],
            properties: {
              ...subjectProperties,
              paths: { type: 'array', minItems: 1, items: { type: 'string', pattern: PATTERNS.pointer } },
            },
          },
        },
        breakGlass: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...subjectProperties,
            maxDuration: { type: 'string', minLength: 1, pattern: PATTERNS.duration },
            incidentPattern: nonEmptyString,
            minReasonLength: { type: 'integer', minimum: 0 },
          },
        },
        kubernetesControllers: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // "*" or names of the built-in list; checks.ts names an unknown one with the list.
            allow: { type: 'array', uniqueItems: true, items: nonEmptyString },
            sharedIdentity: { type: 'boolean' },
          },
        },
      },
    },
  },
} as const;
