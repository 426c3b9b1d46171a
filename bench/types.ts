/** Shapes passed between the bench's processes (as JSON) and its parts. */

/** LoadSpec is what load.ts is asked to do. */
export interface LoadSpec {
  /** The full URL, e.g. https://127.0.0.1:8443/validate. */
  url: string;
  /** TLS server name to send (the certificate's DNS name). */
  servername: string;
  /** File holding the body template (markers @@UID@@ and @@UNTIL@@). */
  body: string;
  connections: number;
  durationS: number;
  warmupS: number;
  timeoutS: number;
  /** Stop early after this many answers. */
  maxRequests?: number;
  /** Epoch seconds of the first @@UNTIL@@. */
  untilBase?: number;
  /** Requests that share one @@UNTIL@@ (so one ticket) before it moves on by a second. */
  changesPerTicket?: number;
}

/** LoadResult is what load.ts measured: latencies in milliseconds, CPU in cores. */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 200 answers whose review said allowed:true, and the others. */
  allowed: number;
  refused: number;
  /** CPU the load process used, in cores (1 = one core busy all the time). */
  clientCpu: number;
}

/**
 * Workload is what the writers write: the HPA's JSON merge PATCH of spec.replicas on the
 * Deployment, the HPA's PATCH of its `/scale`, a GitOps writer's PATCH of a label, or a
 * developer's PATCH of a label (refused under driftgate and the VAP: its latency is the refusal's).
 */
export type Workload = 'hpa-patch' | 'hpa-scale' | 'gitops' | 'developer';

/** WritersSpec is what writers.ts is asked to do against the kube-apiserver. */
export interface WritersSpec {
  workload: Workload;
  server: string;
  /** PEM files: the apiserver's CA, and the admin client certificate that impersonates `user`. */
  ca: string;
  cert: string;
  key: string;
  namespace: string;
  /** One Deployment per writer. */
  names: string[];
  user: string;
  groups: string[];
  warmupWrites: number;
  writesPerWriter: number;
  /** Bound on the measured part, whatever the count. */
  maxSeconds: number;
}

/** WritersResult is the write latency the writers saw, in milliseconds. */
export interface WritersResult {
  writes: number;
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  errorSamples: string[];
  /** Answers that were refusals (403): counted as measured writes for the developer workload only. */
  refused: number;
}

/** StagesSpec is what stages.ts measures: the built driftgate, a policy, review bodies. */
export interface StagesSpec {
  dist: string;
  policy: string;
  bodies: { label: string; file: string }[];
  msPerStage: number;
}

/** StageCost is one stage's cost on one body, in microseconds per call. */
export interface StageCost {
  body: string;
  stage: string;
  us: number;
}
