/**
 * The Kubernetes API as driftgate uses it: a small typed GET and PATCH by resource path, over a
 * kubeconfig the CLI loaded (src/cli/kubeconfig.ts: only the CLI reads files and the environment). Every client failure is translated here into a DriftgateError, so
 * no raw client exception (which embeds bodies and headers) reaches a log or a person.
 */
import https from 'node:https';
import http from 'node:http';
// Types only: the client library costs ~85 MiB of heap once imported, which a webhook with a
// journal store and no cluster access should not pay. src/cli/kubeconfig.ts imports it when a
// kubeconfig is first loaded.
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../admission/types.js';
import type { ObjectRef } from '../decision/types.js';
import { DriftgateError, type ErrorCode } from '../errors.js';
import { parseJsonExact } from '../util/json.js';

/** resourcePath returns the API path of a namespaced object (or of its collection when name is empty). */
export function resourcePath(ref: Pick<ObjectRef, 'group' | 'version' | 'resource' | 'namespace' | 'name'>): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespace === '' ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === '' ? '' : `/${encodeURIComponent(ref.name)}`;
  return `${base}${ns}/${ref.resource}${name}`;
}

/** KubeRequest is one API call. */
export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** WatchEvent is one line of a watch stream (`?watch=true`). */
export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** KubeClient sends API calls and returns parsed JSON bodies. */
export interface KubeClient {
  request<T>(req: KubeRequest): Promise<T>;
  /**
   * watch opens a watch on `path` (a collection path with `watch=true` in its query) and calls
   * `onEvent` for every event until the server ends the stream (it does, after minutes) or
   * `signal` aborts; it resolves then. A refusal (403, 410 Gone…) rejects as request() does.
   */
  watch<T>(path: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
  server: string;
}

/** Impersonation is who to act as, like kubectl's --as and --as-group (Impersonate-User / Impersonate-Group headers). */
export interface Impersonation {
  user: string;
  groups?: string[];
}

/** createKubeClient returns a client over the kubeconfig's current cluster and user, optionally impersonating another. */
export function createKubeClient(kc: KubeConfig, impersonate?: Impersonation): KubeClient {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new DriftgateError('DG_KUBECONFIG', 'the kubeconfig names no current cluster');
  const server = new URL(cluster.server);
  // One keep-alive agent: parent lookups and ticket writes happen on the admission path.
  const agentOptions: https.AgentOptions = { keepAlive: true, maxSockets: 32 };
  let agent: https.Agent | http.Agent | undefined;

  async function optionsFor(method: KubeRequest['method'], path: string): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {
      method,
      hostname: server.hostname,
      port: server.port === '' ? undefined : Number(server.port),
      path,
      headers: { Accept: 'application/json' },
    };
    await kc.applyToHTTPSOptions(options);
    // After the kubeconfig's own `as:` so that the flags win, as in kubectl.
    if (impersonate !== undefined)
      options.headers = {
        ...options.headers,
        'Impersonate-User': impersonate.user,
        ...(impersonate.groups?.length ? { 'Impersonate-Group': impersonate.groups } : {}),
      };
    if (agent === undefined) {
      agent =
        server.protocol === 'https:'
          ? new https.Agent({ ...agentOptions, ca: options.ca, cert: options.cert, key: options.key, rejectUnauthorized: options.rejectUnauthorized ?? true })
          : new http.Agent(agentOptions);
    }
    options.agent = agent;
    return options;
  }

  function transportError(req: { method: string; path: string }, err: Error): DriftgateError {
    const name = (err as { name?: string }).name;
    const code = name === 'AbortError' ? 'DG_TICKET_TIMEOUT' : 'DG_KUBE_UNREACHABLE';
    return new DriftgateError(code, `${req.method} ${req.path}: the Kubernetes API at ${server.host} is unreachable (${err.message})`, { cause: err });
  }

  async function request<T>(req: KubeRequest): Promise<T> {
    const options = await optionsFor(req.method, req.path);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    if (body !== undefined) {
      options.headers = { ...options.headers, 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': String(body.length) };
    }
    const transport = server.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const r = transport.request({ ...options, ...(req.signal === undefined ? {} : { signal: req.signal }) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            try {
              // Exact: BackportTickets may hold int64 values beyond 2^53 in their patches.
              resolve((text === '' ? {} : parseJsonExact(text)) as T);
            } catch (err) {
              reject(new DriftgateError('DG_KUBE_UNREACHABLE', `${req.method} ${req.path}: the API answered something that is not JSON`, { cause: err }));
            }
            return;
          }
          reject(apiError(req, status, text));
        });
        res.on('error', (err) => reject(new DriftgateError('DG_KUBE_UNREACHABLE', `${req.method} ${req.path}: ${err.message}`, { cause: err })));
      });
      r.on('error', (err) => reject(transportError(req, err)));
      if (body !== undefined) r.write(body);
      r.end();
    });
  }

  async function watch<T>(path: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const req = { method: 'GET' as const, path };
    // Its own connection: a watch holds its socket for minutes, and must not take one of the
    // keep-alive agent's sockets from the admission path.
    const options = { ...(await optionsFor('GET', path)), agent: false as const, signal };
    const transport = server.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const r = transport.request(options, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(apiError(req, status, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          pending += text;
          let newline = pending.indexOf('\n');
          while (newline !== -1) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            newline = pending.indexOf('\n');
            if (line === '') continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (err) {
              r.destroy(err instanceof Error ? err : new Error(String(err)));
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (signal.aborted ? resolve() : reject(transportError(req, err))));
      });
      r.on('error', (err) => (signal.aborted ? resolve() : reject(transportError(req, err))));
      r.end();
    });
  }
  return { request, watch, server: server.origin };
}

/**
 * KubeApiError is an answer of the API server other than 2xx, translated: its code says what
 * happened (not found, conflict, forbidden, unreachable), and the apiserver's own Status message
 * stays apart in `apiMessage`, so that a caller quoting it never has to parse it back out.
 */
export class KubeApiError extends DriftgateError {
  readonly status: number;
  /** The metav1.Status message, or "HTTP <status>" when the body was not a Status. */
  readonly apiMessage: string;

  constructor(code: ErrorCode, message: string, status: number, apiMessage: string) {
    super(code, message);
    this.name = 'KubeApiError';
    this.status = status;
    this.apiMessage = apiMessage;
  }
}

const TOO_LARGE = /request is too large|code = ResourceExhausted desc = trying to send message larger than max/;

/** apiError turns an API failure into a KubeApiError with the status' own message only. */
function apiError(req: KubeRequest, status: number, body: string): KubeApiError {
  let message = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not a metav1.Status: keep the HTTP status alone (never echo an arbitrary body)
  }
  const where = `${req.method} ${req.path}`;
  if (status === 404) return new KubeApiError('DG_KUBE_NOT_FOUND', `${where}: not found (${message})`, status, message);
  if (status === 409) return new KubeApiError('DG_KUBE_CONFLICT', `${where}: conflict (${message})`, status, message);
  if (status === 401 || status === 403)
    return new KubeApiError('DG_KUBE_FORBIDDEN', `${where}: forbidden (${message}); check driftgate's RBAC`, status, message);
  // The apiserver refuses a body over 3 MiB with 413. Below that, etcd refuses an object over its
  // request limit (1.5 MiB) with "etcdserver: request is too large", and the apiserver's gRPC client
  // refuses one over 2 MiB with "rpc error: code = ResourceExhausted desc = trying to send message
  // larger than max"; both come back as a 500 whose Status message is the only sign of it (seen on
  // the real apiserver in test/e2e/ticket-store.test.ts).
  if (status === 413 || (status === 500 && TOO_LARGE.test(message))) {
    return new KubeApiError('DG_KUBE_TOO_LARGE', `${where}: too large for the API server (${message})`, status, message);
  }
  // Only a gateway or an overloaded server says the API is not there to answer; anything else is
  // the API server refusing the request (422 invalid, 400, a 500 of its own), and a message
  // blaming reachability would send a person to the wrong place.
  if (status === 429 || status === 502 || status === 503 || status === 504 || status === 0)
    return new KubeApiError('DG_KUBE_UNREACHABLE', `${where}: the API server is unavailable (${message})`, status, message);
  return new KubeApiError('DG_KUBE_REJECTED', `${where}: refused by the API server (${message})`, status, message);
}

/**
 * PARENT_LOOKUP_MAX_MS caps one parent lookup within the request's deadline, so that a slow API
 * server leaves the ticket store the rest of it.
 */
export const PARENT_LOOKUP_MAX_MS = 2_000;

/** parentLookup returns a ParentLookup-compatible function over the client: undefined when absent. */
export function parentLookup(client: KubeClient): (ref: ObjectRef, deadline?: AbortSignal) => Promise<KubeObject | undefined> {
  return async (ref, deadline) => {
    const cap = AbortSignal.timeout(PARENT_LOOKUP_MAX_MS);
    const signal = deadline === undefined ? cap : AbortSignal.any([deadline, cap]);
    try {
      return await client.request<KubeObject>({ method: 'GET', path: resourcePath(ref), signal });
    } catch (err) {
      if (err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND') return undefined;
      throw err;
    }
  };
}
