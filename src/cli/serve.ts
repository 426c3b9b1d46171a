/**
 * `driftgate serve`: the webhook. This file only reads flags and files, wires the parts together
 * and handles process signals; the behaviour lives in src/server and src/decision.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { writeCertificates } from '../certs/files.js';
import { DriftgateError, messageOf } from '../errors.js';
import { createAdmitter, type ParentLookup } from '../admission/admit.js';
import { startHousekeeping } from '../server/housekeeping.js';
import { createApp } from '../server/app.js';
import { type Listener, listenHttp, listenHttps } from '../server/https.js';
import { createLogger, type Logger } from '../server/logger.js';
import { createMetrics, metricsHandler } from '../server/metrics.js';
import { type Offload, createOffload } from '../server/offload.js';
import { loadClientCa, loadKeyPair, watchKeyPair } from './keypair-files.js';
import type { KeyPair } from '../server/tls.js';
import type { TicketStore } from '../tickets/types.js';
import type { ObjectRef } from '../decision/types.js';
import { type Io, processIo, readPolicyFile, reviewLimitsOf } from './io.js';
import { DEFAULT_REVIEW_LIMITS, type ReviewLimits } from '../admission/limits.js';
import { openTicketStore } from './stores.js';
import { createPolicyAdmission } from '../controller/policy-admission.js';
import { NOT_READ_YET, type PolicyWatch, watchGuardPolicies } from '../controller/guardpolicy-watch.js';
import { DRIFTGATE_NAMESPACE, type WebhookTarget } from '../manifests/render.js';
import { createLivePolicy } from '../policy/live.js';
import { isPolicySet, type PolicyInForce, policyFor } from '../policy/set.js';
import type { GuardPolicy } from '../policy/types.js';
import { createWriteObserver } from '../controller/observe-writes.js';
import { GITOPS_TOOLS, type GitopsTool, soleWriter, startSyncStatusSettlement } from '../controller/sync-status.js';
import { createLease, type Lease } from '../controller/settlement-lease.js';
import { parseTicketsSpec } from '../tickets/journal.js';
import { DEFAULT_TICKETS_NAMESPACE } from '../tickets/kubernetes.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createController, type Controller } from '../controller/controller.js';
import { createKubeClient, type KubeClient } from '../kube/client.js';
import { loadKubeConfig } from './kubeconfig.js';
import { durationFlag, intFlag } from './flags.js';
import { type KeeperOptions, type KeeperSettings, keeperSettingsOf } from './serve-keeper.js';

interface ServeOptions extends KeeperOptions {
  policy?: string;
  policySource: string;
  webhookService: string;
  policyResyncInterval: string;
  tlsCert?: string;
  tlsKey?: string;
  port: string;
  metricsPort: string;
  host: string;
  tickets?: string;
  dev?: boolean;
  logLevel: string;
  certReloadInterval: string;
  maxRecordTime: string;
  housekeepingInterval: string;
  overdueAfter: string;
  kubeconfig?: string;
  context?: string;
  maxReviewDepth: string;
  maxReviewValues: string;
  clientCa?: string;
  clientName?: string;
  settle?: boolean;
  settleFrom?: string;
  settleInterval: string;
  settleDelay: string;
  webhookRegistration: 'api' | 'static';
}

/** The embedded default of `--dev`: everything under one git-ignored folder of the working directory. */
const DEV_DIR = '.driftgate';
const DEV_POLICY = 'examples/policy.yaml';

/** serveCommand returns the `serve` command. */
export function serveCommand(io: Io = processIo): Command {
  return new Command('serve')
    .description('serve the validating (/validate) and mutating (/mutate) webhooks over HTTPS')
    .option('--policy <file>', 'the GuardPolicy (YAML or JSON), with --policy-source file')
    .addOption(
      new Option('--policy-source <source>', 'file: the one policy of --policy; guardpolicy: the GuardPolicy objects of the cluster, watched and taken live')
        .choices(['file', 'guardpolicy'])
        .default('file'),
    )
    .option(
      '--webhook-service <ns/name>',
      "the Service the webhooks call (with --policy-source guardpolicy: each GuardPolicy's status.rendered is rendered for it)",
      `${DRIFTGATE_NAMESPACE}/driftgate`,
    )
    .option(
      '--policy-resync-interval <ms>',
      'with --policy-source guardpolicy: how often the GuardPolicies are judged again and failed status writes retried',
      '60000',
    )
    .option('--tls-cert <file>', 'serving certificate (PEM); reloaded when the file changes')
    .option('--tls-key <file>', 'serving private key (PEM)')
    .option('--port <port>', 'HTTPS port for the webhooks and health checks', '8443')
    .option('--metrics-port <port>', 'plain HTTP port for GET /metrics (0 picks a free port, -1 disables)', '9090')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--tickets <store>', 'where bypasses are recorded: journal:/path/tickets.jsonl or kubernetes (default: $DRIFTGATE_TICKETS)')
    .option('--kubeconfig <file>', 'kubeconfig for parent lookups and the kubernetes store (default: in-cluster, then $KUBECONFIG)')
    .option('--context <name>', 'kubeconfig context')
    .option('--dev', `embedded default for a laptop: certificates in ${DEV_DIR}/certs, ${DEV_POLICY}, journal ${DEV_DIR}/tickets.jsonl, listening on 127.0.0.1`)
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .option('--cert-reload-interval <ms>', 'how often to check the certificate files for a new pair', '10000')
    .option('--max-record-time <ms>', 'upper bound on recording a ticket before the bypass is refused', '8000')
    .option('--housekeeping-interval <ms>', 'how often to count open tickets and check the webhook configurations are still there', '60000')
    .option(
      '--client-ca <file>',
      "require a client certificate signed by this CA (PEM) on /validate and /mutate: the one the apiserver's AdmissionConfiguration kubeConfigFile presents",
    )
    .option('--client-name <names>', 'with --client-ca: the accepted callers, comma-separated (a certificate CN or DNS SAN), e.g. kube-apiserver-admission')
    .option('--max-review-depth <levels>', 'refuse a review nesting deeper than this (413, before parsing it)', String(DEFAULT_REVIEW_LIMITS.maxDepth))
    .option(
      '--max-review-values <count>',
      'refuse a review holding more leaves (strings, numbers, booleans, nulls, empty maps and lists) than this',
      String(DEFAULT_REVIEW_LIMITS.maxLeaves),
    )
    .option(
      '--settle',
      'settle tickets from the GitOps writes /observe receives (render the webhooks with `manifests --settle`): backported, reverted, or which paths remain',
    )
    .option(
      '--settle-from <tools>',
      'also settle tickets from what the GitOps tools report in sync, polled: argocd, flux or argocd,flux (needs cluster access)',
    )
    .option('--settle-interval <ms>', 'how often --settle-from reads the Applications / Kustomizations', '30000')
    .option('--settle-delay <ms>', 'how long after answering a GitOps write /observe waits before reading the object back', '1000')
    .addOption(
      new Option(
        '--webhook-registration <how>',
        'how the webhooks are registered: api (configurations named driftgate, checked every --housekeeping-interval) or static (files the apiserver loads, `manifests --static`: nothing in the API to check)',
      )
        .choices(['api', 'static'])
        .default('api'),
    )
    .option('--overdue-after <duration>', 'an open ticket is overdue this long after its window ended (Go-style or days: 72h, 3d)', '3d')
    .option(
      '--manage-webhooks <service-or-url>',
      'keep the webhook configurations applied from the policy (one writer among replicas, through a Lease), restoring them when deleted or edited: the Service (NS/NAME[:PORT]) or https URL the apiserver calls',
    )
    .option('--webhook-name <name>', 'with --manage-webhooks: the name of the two webhook configurations', 'driftgate')
    .option('--webhook-ca-bundle <file>', 'with --manage-webhooks and --tls-cert: the CA (PEM) that signed the serving certificate, for the caBundle')
    .option('--webhook-ca-inject-from <ns/certificate>', "with --manage-webhooks: leave the caBundle to cert-manager's cainjector, from this Certificate")
    .option(
      '--webhook-failure-policy <Fail|Ignore>',
      'with --manage-webhooks: override the failure policy (default: Fail in enforce mode, Ignore in warn mode)',
    )
    .option(
      '--lease <ns/name>',
      'the Lease electing the one replica that writes (default: NAMESPACE/driftgate, the namespace of the Service or Secret, else driftgate-system)',
    )
    .option('--lease-duration <duration>', 'how long a silent leader keeps the Lease before another replica takes over', '15s')
    .option(
      '--self-managed-certs <ns/secret>',
      'keep our own CA and serving certificate in this Secret (created if absent, rotated by the leader, reloaded by every replica) instead of --tls-cert/--tls-key',
    )
    .option(
      '--cert-hosts <names>',
      'with --self-managed-certs: the serving certificate names, comma-separated (default: the Service DNS names, or the URL host, of --manage-webhooks)',
    )
    .option('--cert-validity <duration>', 'with --self-managed-certs: the serving certificate validity; re-issued with a third left', '2160h')
    .option('--ca-validity <duration>', 'with --self-managed-certs: the CA validity; replaced, with overlap, with a third left', '87600h')
    .option(
      '--ca-overlap <duration>',
      'with --self-managed-certs: how long the caBundle trusts both the old and the new CA at each step of a CA rotation',
      '1h',
    )
    .action(async (opts: ServeOptions) => {
      await serve(opts, io);
    });
}

/** ServeSettings are the flags read, checked and completed (--dev fills in what is missing). */
interface ServeSettings extends KeeperSettings {
  port: number;
  metricsPort: number;
  host: string;
  reloadMs: number;
  maxRecordMs: number;
  housekeepingMs: number;
  overdueMs: number;
  /** The policy file, or 'guardpolicy': the GuardPolicy objects of the cluster. */
  policy: { source: 'file'; file: string } | { source: 'guardpolicy'; target: WebhookTarget; resyncMs: number };
  /** The serving pair's files; absent with self-managed certificates. */
  certFile: string | undefined;
  keyFile: string | undefined;
  ticketsSpec: string;
  limits: ReviewLimits;
  /** The PEM bundle of --client-ca, checked; with it, only clientNames may call the webhook routes. */
  clientCa: string | undefined;
  clientNames: string[];
  settle: boolean;
  settleFrom: GitopsTool[];
  settleIntervalMs: number;
  settleDelayMs: number;
  webhookRegistration: 'api' | 'static';
}

/** settingsOf returns the checked settings, before anything is listened on or connected to. */
async function settingsOf(opts: ServeOptions): Promise<ServeSettings> {
  const port = intFlag('port', opts.port, 0);
  const metricsPort = intFlag('metrics-port', opts.metricsPort, -1);
  const reloadMs = intFlag('cert-reload-interval', opts.certReloadInterval, 50);
  const maxRecordMs = intFlag('max-record-time', opts.maxRecordTime, 1);
  const housekeepingMs = intFlag('housekeeping-interval', opts.housekeepingInterval, 100);
  const overdueMs = durationFlag('overdue-after', opts.overdueAfter);
  const settleIntervalMs = intFlag('settle-interval', opts.settleInterval, 100);
  const settleDelayMs = intFlag('settle-delay', opts.settleDelay, 0);
  const settleFrom = toolsFlag(opts.settleFrom);
  const limits = reviewLimitsOf(opts);
  const clientNames = (opts.clientName ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (opts.clientCa !== undefined && clientNames.length === 0) {
    throw new DriftgateError(
      'DG_USAGE',
      "--client-ca needs --client-name: a cluster CA signs every user's certificate, so name the caller to accept (the CN of the apiserver's client certificate)",
    );
  }
  if (opts.clientCa === undefined && clientNames.length > 0)
    throw new DriftgateError('DG_USAGE', "--client-name needs --client-ca, the CA that signs the caller's certificate");
  const clientCa = opts.clientCa === undefined ? undefined : await loadClientCa(opts.clientCa);
  let host = opts.host;
  let policyFile = opts.policy;
  let certFile = opts.tlsCert;
  let keyFile = opts.tlsKey;
  let ticketsSpec = opts.tickets ?? process.env['DRIFTGATE_TICKETS'];

  if (opts.dev === true) {
    const certDir = resolve(DEV_DIR, 'certs');
    if (opts.selfManagedCerts === undefined && (certFile === undefined || keyFile === undefined)) {
      const written = await writeCertificates(certDir, ['localhost', '127.0.0.1'], 30, new Date());
      certFile = written.paths.cert;
      keyFile = written.paths.key;
    }
    if (opts.policySource !== 'guardpolicy') policyFile ??= DEV_POLICY;
    ticketsSpec ??= `journal:${resolve(DEV_DIR, 'tickets.jsonl')}`;
    if (opts.host === '0.0.0.0') host = '127.0.0.1';
  }
  let policy: ServeSettings['policy'];
  if (opts.policySource === 'guardpolicy') {
    if (opts.policy !== undefined) {
      throw new DriftgateError('DG_USAGE', '--policy-source guardpolicy takes the policies from the cluster: leave out --policy (or use --policy-source file)');
    }
    const service = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(opts.webhookService);
    if (service === null)
      throw new DriftgateError('DG_USAGE', `--webhook-service "${opts.webhookService}" is not NAMESPACE/NAME; write e.g. driftgate-system/driftgate`);
    const target: WebhookTarget = { service: { namespace: service[1] ?? '', name: service[3] ?? '' } };
    policy = { source: 'guardpolicy', target, resyncMs: intFlag('policy-resync-interval', opts.policyResyncInterval, 100) };
  } else {
    if (policyFile === undefined)
      throw new DriftgateError('DG_USAGE', '--policy is required (or --dev for the example policy, or --policy-source guardpolicy)');
    policy = { source: 'file', file: policyFile };
  }
  const selfManaged = opts.selfManagedCerts !== undefined;
  if (selfManaged && (opts.tlsCert !== undefined || opts.tlsKey !== undefined)) {
    throw new DriftgateError(
      'DG_USAGE',
      '--self-managed-certs keeps the serving certificate in a Secret: drop --tls-cert and --tls-key (or drop --self-managed-certs)',
    );
  }
  if (!selfManaged && (certFile === undefined || keyFile === undefined)) {
    throw new DriftgateError(
      'DG_USAGE',
      '--tls-cert and --tls-key are required: the kube-apiserver only calls webhooks over HTTPS (make a pair with `driftgate certs generate`, use --self-managed-certs NS/SECRET, or --dev)',
    );
  }
  const keeper = await keeperSettingsOf(opts);
  if (ticketsSpec === undefined)
    throw new DriftgateError('DG_USAGE', '--tickets is required: journal:/path/tickets.jsonl or kubernetes (bypasses must be recorded somewhere)');
  return {
    port,
    metricsPort,
    host,
    reloadMs,
    maxRecordMs,
    housekeepingMs,
    overdueMs,
    policy,
    certFile,
    keyFile,
    ticketsSpec,
    limits,
    clientCa,
    clientNames,
    settle: opts.settle === true,
    settleFrom,
    settleIntervalMs,
    settleDelayMs,
    webhookRegistration: opts.webhookRegistration,
    ...keeper,
  };
}

/**
 * The Lease that makes one replica the sync-status poller: in the tickets' namespace with the
 * kubernetes store (every replica shares it); none with a journal, which one replica owns alone.
 */
function settlementLease(settings: ServeSettings, client: KubeClient): Lease {
  const spec = parseTicketsSpec(settings.ticketsSpec);
  if (spec.kind !== 'kubernetes') return soleWriter;
  return createLease({
    client,
    namespace: spec.namespace ?? DEFAULT_TICKETS_NAMESPACE,
    name: 'driftgate-settlement',
    identity: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    // Three rounds without renewal before another replica takes over, and never under 15 s.
    durationMs: Math.max(15_000, 3 * settings.settleIntervalMs),
    now: () => new Date(),
  });
}

function toolsFlag(text: string | undefined): GitopsTool[] {
  if (text === undefined) return [];
  const tools = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const bad = tools.find((t) => !GITOPS_TOOLS.includes(t as GitopsTool));
  if (bad !== undefined || tools.length === 0) {
    throw new DriftgateError('DG_USAGE', `--settle-from "${text}": name the tools whose status to read, ${GITOPS_TOOLS.join(', ')} or both (argocd,flux)`);
  }
  return [...new Set(tools)] as GitopsTool[];
}

/** Running is a started webhook: what shutting down stops, in order. */
interface Running {
  logger: Logger;
  tickets: TicketStore;
  webhook: Listener;
  metricsListener: Listener | undefined;
  offload: Offload;
  stopWatching: () => void;
  /** The GuardPolicy watch, with --policy-source guardpolicy. */
  policyWatch: PolicyWatch | undefined;
  stopHousekeeping: () => void;
  stopSettlement: () => void;
  /** Stops the keepers and releases the Lease (what they applied stays applied). */
  stopController: () => Promise<void>;
  setReady: (ready: boolean) => void;
}

async function serve(opts: ServeOptions, io: Io): Promise<void> {
  const settings = await settingsOf(opts);
  const running = await start(settings, opts);
  if (opts.dev === true && settings.certFile !== undefined)
    printDevHelp(io, running.webhook.port, settings.certFile, running.tickets.describeStore(), running.metricsListener?.port);
  await untilSignalled(running);
  // Ask nothing else to keep the process alive once the listeners are gone.
  running.logger.flush?.();
}

/** start wires the parts together and listens; the webhook is ready when it returns. */
async function start(settings: ServeSettings, opts: Pick<ServeOptions, 'logLevel' | 'kubeconfig' | 'context'>): Promise<Running> {
  const { certFile, keyFile, host } = settings;
  const logger = createLogger({ level: opts.logLevel });
  const filePolicy = settings.policy.source === 'file' ? await readPolicyFile(settings.policy.file) : undefined;
  const metrics = createMetrics();
  if (filePolicy !== undefined) metrics.policyInfo.set({ policy: filePolicy.name, mode: filePolicy.mode }, 1);
  // Until the GuardPolicies are read, nothing is trusted: reviews are refused (fail closed) and
  // /readyz says not ready. A file policy is in force from the start and never changes.
  const live = createLivePolicy(
    { policies: filePolicy === undefined ? [] : [filePolicy], ...(filePolicy === undefined ? { closed: NOT_READ_YET } : {}) },
    (err) => logger.error({ problem: messageOf(err) }, 'a policy listener failed'),
  );
  const inForce = (): PolicyInForce => filePolicy ?? live.current();
  const kubeOptions = {
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  };
  const opened = await openTicketStore(settings.ticketsSpec, {
    onWarning: (message) => logger.warn({ store: settings.ticketsSpec }, message),
    ...kubeOptions,
  });
  // Set once the listener exists; the self-managed certificates' keeper may hand over a pair before.
  let swapPair: (next: KeyPair) => void = () => undefined;
  let controller: Controller | undefined;
  if (settings.certs !== undefined || settings.webhooks !== undefined) {
    const client: KubeClient = opened.client ?? createKubeClient(await loadKubeConfig(kubeOptions));
    controller = await createController({
      client,
      // The policies in force, read at every render; a GuardPolicy change calls resync() below.
      policies: () => {
        const now = inForce();
        return isPolicySet(now) ? now.policies : [now];
      },
      lease: settings.lease,
      identity: `${hostname()}-${randomBytes(4).toString('hex')}`,
      leaseDurationMs: settings.leaseDurationMs,
      ...(settings.webhooks === undefined ? {} : { webhooks: settings.webhooks }),
      ...(settings.certs === undefined ? {} : { certs: settings.certs }),
      onPair: (next) => swapPair(next),
      metrics,
      logger,
      resyncMs: settings.housekeepingMs,
      now: () => new Date(),
    });
    const kept = controller;
    // A GuardPolicy change renders and applies the webhook configurations again (the leader's).
    live.onChange(() => kept.resync());
  }
  const pair = controller?.initialPair ?? (await loadKeyPair(certFile as string, keyFile as string));
  metrics.certExpiry.set(pair.notAfter.getTime() / 1000);
  const tickets: TicketStore = opened.store;
  const parents: ParentLookup | undefined = opened.parents;

  let ready = false;
  const admitter = createAdmitter({
    policy: inForce,
    now: () => new Date(),
    tickets,
    ...(parents === undefined ? {} : { parents }),
    onParentError: (ref, err) =>
      logger.warn(
        { parent: `${ref.namespace}/${ref.resource}/${ref.name}`, problem: messageOf(err) },
        'parent lookup failed; deciding without its break-glass window',
      ),
  });
  const { limits, clientCa, clientNames } = settings;
  const client = opened.client;
  if (settings.settleFrom.length > 0 && client === undefined) {
    throw new DriftgateError('DG_USAGE', '--settle-from reads Applications / Kustomizations from the cluster: give --kubeconfig (or run in a cluster)');
  }
  if (settings.settle && parents === undefined) {
    throw new DriftgateError(
      'DG_USAGE',
      '--settle reads each observed object back from the cluster (a review alone proves nothing): give --kubeconfig (or run in a cluster)',
    );
  }
  const observer =
    settings.settle && parents !== undefined
      ? createWriteObserver({
          store: tickets,
          // The parent lookup reads any object by reference: the very read settlement needs.
          readObject: (ref: ObjectRef) => parents(ref),
          policy: (namespace) => {
            const now = inForce();
            return isPolicySet(now) ? policyFor(now, namespace) : now;
          },
          now: () => new Date(),
          logger,
          metrics,
          delayMs: settings.settleDelayMs,
        })
      : undefined;
  const offload = createOffload({ limits, onReplaced: (why) => logger.error({ problem: why }, 'judging worker replaced; the review it held was refused') });
  const app = createApp({
    admitter,
    logger,
    metrics,
    storeKind: opened.kind,
    ready: () => ready,
    maxRecordMs: settings.maxRecordMs,
    limits,
    offload,
    ...(clientCa === undefined ? {} : { callers: { names: clientNames } }),
    policyAdmission: createPolicyAdmission({
      inForce: (): readonly GuardPolicy[] => {
        const now = inForce();
        return isPolicySet(now) ? now.policies : [];
      },
      target: settings.policy.source === 'guardpolicy' ? settings.policy.target : { service: { namespace: DRIFTGATE_NAMESPACE, name: 'driftgate' } },
    }),
    ...(observer === undefined ? {} : { observer }),
  });
  const webhook = await listenHttps(app, pair, settings.port, host, clientCa);
  swapPair = (next) => {
    webhook.setKeyPair(next);
    metrics.certExpiry.set(next.notAfter.getTime() / 1000);
  };
  const watcher =
    certFile === undefined || keyFile === undefined
      ? { stop: () => undefined }
      : watchKeyPair({
          certFile,
          keyFile,
          initial: pair,
          intervalMs: settings.reloadMs,
          onPair: (next) => {
            webhook.setKeyPair(next);
            metrics.certExpiry.set(next.notAfter.getTime() / 1000);
            logger.info({ certFile, notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded');
          },
          onError: (err) => logger.error({ certFile, keyFile, problem: messageOf(err) }, 'new serving certificate refused; keeping the previous one'),
        });
  const metricsListener = settings.metricsPort < 0 ? undefined : await listenHttp(metricsHandler(metrics), settings.metricsPort, host);
  const stopHousekeeping = startHousekeeping({
    tickets,
    ...(opened.client === undefined ? {} : { client: opened.client }),
    metrics,
    logger,
    now: () => new Date(),
    overdueMs: settings.overdueMs,
    intervalMs: settings.housekeepingMs,
    registration: settings.webhookRegistration,
    ...(settings.webhooks?.options.name === undefined ? {} : { webhookName: settings.webhooks.options.name }),
  });
  let policyWatch: PolicyWatch | undefined;
  if (settings.policy.source === 'guardpolicy') {
    const kubeconfig = await loadKubeConfig(kubeOptions);
    policyWatch = await watchGuardPolicies({
      kubeconfig,
      client: opened.client ?? createKubeClient(kubeconfig),
      live,
      target: settings.policy.target,
      logger,
      metrics,
      now: () => new Date(),
      resyncMs: settings.policy.resyncMs,
    });
    // Serving (and refusing, fail closed) meanwhile; ready once the policies are read.
    await policyWatch.synced;
  }
  const shown = inForce();
  const policyNames = isPolicySet(shown) ? shown.policies.map((p) => p.name) : [shown.name];
  const stopSettlement =
    client === undefined || settings.settleFrom.length === 0
      ? () => undefined
      : startSyncStatusSettlement({
          store: tickets,
          client,
          tools: settings.settleFrom,
          now: () => new Date(),
          logger,
          metrics,
          intervalMs: settings.settleIntervalMs,
          lease: settlementLease(settings, client),
        });
  controller?.start();
  ready = true;
  logger.info(
    {
      port: webhook.port,
      metricsPort: metricsListener?.port,
      callers: clientCa === undefined ? 'anyone (no --client-ca)' : clientNames,
      policySource: settings.policy.source,
      policy: policyNames.join(', '),
      ...(isPolicySet(shown) ? (shown.closed === undefined ? {} : { closed: shown.closed }) : { mode: shown.mode }),
      tickets: tickets.describeStore(),
      certNotAfter: pair.notAfter.toISOString(),
      settlement: { writes: settings.settle, from: settings.settleFrom },
      ...(settings.webhooks === undefined ? {} : { manageWebhooks: settings.webhooks.options.name }),
      ...(settings.certs === undefined ? {} : { selfManagedCerts: `${settings.certs.ref.namespace}/${settings.certs.ref.name}` }),
      ...(controller === undefined ? {} : { lease: `${settings.lease.namespace}/${settings.lease.name}` }),
    },
    'driftgate serving',
  );
  return {
    logger,
    tickets,
    webhook,
    metricsListener,
    offload,
    stopWatching: () => watcher.stop(),
    policyWatch,
    stopHousekeeping,
    stopSettlement,
    stopController: () => controller?.stop() ?? Promise.resolve(),
    setReady: (value) => {
      ready = value;
    },
  };
}

/** untilSignalled resolves once SIGTERM or SIGINT has stopped the webhook, in-flight reviews answered first. */
function untilSignalled(running: Running): Promise<void> {
  const { logger } = running;
  return new Promise<void>((done) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      logger.info({ signal }, 'shutting down: finishing in-flight reviews');
      running.setReady(false);
      running.stopWatching();
      void running.policyWatch?.stop();
      running.stopHousekeeping();
      running.stopSettlement();
      void Promise.all([running.stopController(), running.webhook.close(), running.metricsListener?.close()])
        .then(() => Promise.all([running.tickets.close(), running.offload.close()]))
        .catch((err: unknown) => logger.error({ problem: messageOf(err) }, 'error while shutting down'))
        .finally(() => {
          logger.info('stopped');
          done();
        });
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

function printDevHelp(io: Io, port: number, certFile: string, store: string, metricsPort: number | undefined): void {
  const ca = resolve(certFile, '..', 'ca.crt');
  io.err.write(
    [
      '',
      `driftgate is serving https://127.0.0.1:${port} with the example policy (${DEV_POLICY}).`,
      'Send it a review (a developer changing a memory limit in prod: refused):',
      `  curl --cacert ${ca} -H 'Content-Type: application/json' --data @examples/reviews/memory-limit.json https://127.0.0.1:${port}/validate`,
      'A responder under a break-glass window (let through, and recorded):',
      `  curl --cacert ${ca} -H 'Content-Type: application/json' --data @examples/reviews/break-glass.json https://127.0.0.1:${port}/validate`,
      `Tickets go to ${store}; read them with: npx driftgate tickets list --tickets ${store}`,
      metricsPort === undefined ? '' : `Metrics: curl http://127.0.0.1:${metricsPort}/metrics`,
      'Stop with Ctrl-C.',
      '',
    ].join('\n'),
  );
}

export type { Logger };
