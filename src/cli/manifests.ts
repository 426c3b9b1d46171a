/**
 * `driftgate manifests`: prints the webhook configurations a GuardPolicy needs, so that what the
 * apiserver sends to driftgate is derived from the policy instead of kept in step with it by hand.
 * This file reads the flags and files; the rendering lives in src/manifests.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DriftgateError } from '../errors.js';
import { CHART_SERVICE_NAME, helmValuesOf, helmValuesYaml } from '../manifests/helm-values.js';
import { type FailurePolicy, renderManifestsYaml, renderWebhooks, type RenderOptions, type WebhookTarget } from '../manifests/render.js';
import { renderPolicyWebhook } from '../manifests/policy-webhook.js';
import { renderStaticInstall, STATIC_NAME } from '../manifests/static.js';
import { loadPolicy } from '../policy/load.js';
import type { GuardPolicy } from '../policy/types.js';
import { writeAtomic } from '../util/write-atomic.js';
import { type Io, formatData, processIo, readPolicyFile, readText } from './io.js';

interface ManifestsOptions {
  policy: string;
  url?: string;
  service?: string;
  caBundle?: string;
  caBundleBase64?: string;
  caInjectFrom?: string;
  helmValues?: boolean;
  failurePolicy?: string;
  guardpolicies?: boolean;
  settle?: boolean;
  static?: string;
  apiserverDir?: string;
  /** A path, false for --no-client-kubeconfig, undefined when neither was given. */
  clientKubeconfig?: string | false;
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const SERVICE = new RegExp(`^(${DNS_LABEL})/(${DNS_LABEL})(?::(\\d+))?$`);
const CERTIFICATE_REF = new RegExp(`^${DNS_LABEL}/${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/** manifestsCommand returns the `manifests` command. */
export function manifestsCommand(io: Io = processIo): Command {
  return new Command('manifests')
    .description("print the ValidatingWebhookConfiguration and MutatingWebhookConfiguration that send the policy's guarded writes to driftgate")
    .requiredOption('--policy <file>', 'the GuardPolicy (YAML or JSON) driftgate serves')
    .option('--url <url>', 'base https URL the apiserver calls (/validate and /mutate are appended), e.g. https://127.0.0.1:8443')
    .option('--service <ns/name[:port]>', 'in-cluster Service the apiserver calls, e.g. driftgate-system/driftgate (port 443 by default)')
    .option('--ca-bundle <file>', 'PEM file of the CA that signed the serving certificate (ca.crt), or - for stdin')
    .option('--ca-bundle-base64 <string>', 'the same CA, already base64-encoded (as `driftgate certs generate` prints it)')
    .option('--ca-inject-from <ns/certificate>', 'leave caBundle to cert-manager, from this Certificate, e.g. driftgate-system/driftgate-tls')
    .addOption(new Option('-o, --output <format>', 'yaml (with a header of comments) or json (a v1 List)').choices(['yaml', 'json']).default('yaml'))
    .option(
      '--helm-values',
      'print values for charts/driftgate instead: the policy and the webhooks rendered from it, for the Service NS/driftgate given with --service',
    )
    .option('--failure-policy <Fail|Ignore>', 'what the apiserver does when driftgate does not answer (default: Fail in enforce mode, Ignore in warn mode)')
    .option(
      '--guardpolicies',
      'also print the ValidatingWebhookConfiguration driftgate-policies, which sends GuardPolicy writes to /validate-policy (for serve --policy-source guardpolicy)',
    )
    .option(
      '--settle',
      "also send GitOps writers' writes to objects carrying a ticket stamp to /observe (failurePolicy Ignore, 1 s timeout), so that `serve --settle` closes their tickets",
    )
    .option(
      '--static <dir>',
      "write the hardened install into DIR instead: the apiserver's AdmissionConfiguration and the webhook manifests it loads itself (staticManifestsDir), which the API cannot delete; needs --url",
    )
    .option('--apiserver-dir <path>', 'with --static: the absolute path the control-plane nodes keep DIR at (default: DIR itself)')
    .option('--client-kubeconfig <path>', 'with --static: absolute path, on the nodes, of the webhook-clients.kubeconfig `driftgate certs client` wrote')
    .option('--no-client-kubeconfig', 'with --static: write no kubeConfigFile (the apiserver then presents no client certificate to driftgate)')
    .action(async (opts: ManifestsOptions & { output: 'yaml' | 'json' }) => {
      if (opts.helmValues === true && opts.static !== undefined) {
        throw usage('give --helm-values (the chart registers the webhooks through the API) or --static DIR (the apiserver loads them from files), not both');
      }
      if (opts.helmValues === true) {
        io.out.write(await helmValuesText(opts));
        return;
      }
      if (opts.static !== undefined) {
        io.out.write(await writeStaticInstall(opts, opts.static));
        return;
      }
      if (opts.apiserverDir !== undefined || opts.clientKubeconfig !== undefined) {
        throw usage('--apiserver-dir and --client-kubeconfig only go with --static DIR, the files the kube-apiserver loads itself');
      }
      const target = webhookTargetOf(opts);
      const { caBundle, options } = await caOf(opts);
      const failurePolicy = failurePolicyOf(opts.failurePolicy);
      const policy = await readPolicyFile(opts.policy);
      const objects: object[] = renderWebhooks(policy, target, caBundle, {
        ...options,
        ...(failurePolicy === undefined ? {} : { failurePolicy }),
        ...(opts.settle === true ? { observeGitopsWrites: true } : {}),
      });
      if (opts.guardpolicies === true) objects.push(renderPolicyWebhook(target, caBundle, options));
      const effective = failurePolicy ?? (policy.mode === 'warn' ? 'Ignore' : 'Fail');
      const header = [
        `# Webhook configurations for GuardPolicy "${policy.name}" (${opts.policy}), rendered by \`driftgate manifests\`.`,
        '# Render and apply them again whenever the policy changes: its match conditions let the apiserver',
        '# itself allow GitOps writers, delegated and no-op writes without calling driftgate.',
        effective === 'Fail'
          ? '# Apply them only once the driftgate Deployment is ready: with failurePolicy Fail, every other guarded write is refused while the webhook does not answer.'
          : '# failurePolicy Ignore: while driftgate does not answer, the apiserver lets every write through unchecked.',
      ];
      if (opts.output === 'json') io.out.write(formatData({ apiVersion: 'v1', kind: 'List', items: objects }, 'json'));
      else io.out.write(`${header.join('\n')}\n${renderManifestsYaml(objects)}`);
    });
}

/**
 * writeStaticInstall writes the hardened install into `dir` (see src/manifests/static.ts) and
 * returns what to print: where the files went and the apiserver flag that loads them. Every flag
 * is checked before anything is written, so a refusal leaves the directory as it was.
 */
async function writeStaticInstall(opts: ManifestsOptions & { output: 'yaml' | 'json' }, dir: string): Promise<string> {
  if (opts.service !== undefined) {
    throw usage(
      "--static: the kube-apiserver calls a static webhook by URL only (it refuses clientConfig.service); give --url, e.g. https://<the Service's fixed clusterIP> with a serving certificate for that address",
    );
  }
  if (dir.trim() === '') throw usage('--static needs a directory to write into, e.g. --static ./driftgate-static');
  if (opts.url === undefined) throw usage('--static needs --url, the https address the kube-apiserver calls driftgate at');
  if (opts.caInjectFrom !== undefined) {
    throw usage("--static takes --ca-bundle or --ca-bundle-base64: cert-manager injects CAs into API objects only, never into the apiserver's files");
  }
  if (opts.clientKubeconfig === undefined) {
    throw usage(
      '--static needs --client-kubeconfig PATH (on the nodes, the webhook-clients.kubeconfig `driftgate certs client` wrote), or --no-client-kubeconfig to have the apiserver present no client certificate',
    );
  }
  const target = webhookTargetOf(opts);
  const { caBundle } = await caOf(opts);
  const failurePolicy = failurePolicyOf(opts.failurePolicy);
  const policy: GuardPolicy = await readPolicyFile(opts.policy);
  const url = 'url' in target ? target.url : '';
  const install = renderStaticInstall(policy, url, caBundle, {
    apiserverDir: opts.apiserverDir ?? resolve(dir),
    clientKubeconfig: opts.clientKubeconfig === false ? undefined : opts.clientKubeconfig,
    render: failurePolicy === undefined ? {} : { failurePolicy },
  });
  const written: string[] = [];
  for (const file of install.files) {
    const path = join(dir, file.path);
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new DriftgateError('DG_FILE_UNWRITABLE', `--static ${dir}: cannot create ${dirname(path)} (${(err as Error).message})`, { cause: err });
    }
    // Atomically: the apiserver watches these directories, and must never load half a file.
    await writeAtomic(path, file.text, 0o644, 'DG_FILE_UNWRITABLE');
    written.push(path);
  }
  const summary = {
    written,
    apiserverFlag: install.apiserverFlag,
    configurations: { validatingWebhookConfiguration: STATIC_NAME, mutatingWebhookConfiguration: STATIC_NAME },
  };
  if (opts.output === 'json') return formatData(summary, 'json');
  const header = [
    `# Wrote the static install for GuardPolicy "${policy.name}" into ${dir}.`,
    `# Copy ${dir} to ${opts.apiserverDir ?? resolve(dir)} on every control-plane node and start each kube-apiserver with`,
    `#   ${install.apiserverFlag}`,
    '# Then delete the API-registered webhook configurations named driftgate, if any (docs/operators.md, "Hardened install").',
  ];
  return `${header.join('\n')}\n${formatData(summary, 'yaml')}`;
}

/**
 * helmValuesText returns the chart values for `--helm-values`. The CA is the chart's business
 * (certificates.mode), so no CA flag is taken, and the Service is the chart's (NS/driftgate).
 */
async function helmValuesText(opts: ManifestsOptions): Promise<string> {
  if (opts.url !== undefined || opts.service === undefined) {
    throw usage('--helm-values needs --service NAMESPACE/driftgate, the release namespace the chart installs into (the chart runs driftgate behind a Service)');
  }
  if ([opts.caBundle, opts.caBundleBase64, opts.caInjectFrom].some((v) => v !== undefined)) {
    throw usage('--helm-values takes no CA flag: the chart sets the caBundle from certificates.mode (cert-manager, or provided with certificates.caBundle)');
  }
  const target = webhookTargetOf(opts);
  if (!('service' in target) || target.service.name !== CHART_SERVICE_NAME || (target.service.port ?? 443) !== 443) {
    throw usage(
      `--helm-values: the chart's Service is NAMESPACE/${CHART_SERVICE_NAME} on port 443; write e.g. --service driftgate-system/${CHART_SERVICE_NAME}`,
    );
  }
  const text = await readText(opts.policy, 'policy', 'DG_POLICY_UNREADABLE');
  const values = helmValuesOf(text, loadPolicy(text, opts.policy), target.service.namespace, opts.settle === true ? { observeGitopsWrites: true } : {});
  const header = [
    `# Values for charts/driftgate, rendered by \`driftgate manifests --helm-values\` from ${opts.policy}:`,
    '# the GuardPolicy and the webhook configurations rendered from it. Pass them with -f to helm install or',
    '# helm upgrade, and render them again whenever the policy changes (the chart refuses a mismatch).',
  ];
  return `${header.join('\n')}\n${helmValuesYaml(values)}`;
}

function usage(message: string): DriftgateError {
  return new DriftgateError('DG_USAGE', message);
}

function failurePolicyOf(text: string | undefined): FailurePolicy | undefined {
  if (text === undefined) return undefined;
  if (text === 'Fail' || text === 'Ignore') return text;
  throw usage(`--failure-policy "${text}" is neither Fail nor Ignore; write --failure-policy Fail to refuse guarded writes while driftgate is down`);
}

function webhookTargetOf(opts: ManifestsOptions): WebhookTarget {
  if ((opts.url === undefined) === (opts.service === undefined)) {
    throw usage('give exactly one of --url (an https URL the apiserver can reach) and --service (NS/NAME[:PORT] of the in-cluster Service)');
  }
  if (opts.url !== undefined) return { url: checkUrl(opts.url, '--url') };
  return serviceTargetOf(opts.service ?? '', '--service');
}

/**
 * parseWebhookTarget returns the target a `serve --manage-webhooks` value names: an https URL,
 * or NAMESPACE/NAME[:PORT] of the Service (the same rules as `manifests --url` and `--service`).
 */
export function parseWebhookTarget(text: string, flag: string): WebhookTarget {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? { url: checkUrl(text, flag) } : serviceTargetOf(text, flag);
}

function serviceTargetOf(service: string, flag: string): WebhookTarget {
  const match = SERVICE.exec(service);
  const [, namespace, , name, , portText] = match ?? [];
  if (namespace === undefined || name === undefined) {
    throw usage(`${flag} "${service}" is not NAMESPACE/NAME[:PORT]; write e.g. driftgate-system/driftgate or driftgate-system/driftgate:443`);
  }
  if (portText === undefined) return { service: { namespace, name } };
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535)) throw usage(`${flag} "${service}": port ${portText} is not from 1 to 65535`);
  return { service: { namespace, name, port } };
}

function checkUrl(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`${flag} "${text}" is not a URL; write e.g. https://127.0.0.1:8443`);
  }
  if (url.protocol !== 'https:') throw usage(`${flag} "${text}": the kube-apiserver only calls webhooks over https; write https://…`);
  // The apiserver refuses these in a webhook URL; say so here rather than at kubectl apply.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || text.includes('#') || text.includes('?')) {
    throw usage(`${flag} "${text}": the apiserver refuses a user, a query or a fragment in a webhook URL; give scheme, host, port and at most a path prefix`);
  }
  if (/\/(validate|mutate)\/?$/.test(url.pathname)) {
    throw usage(`${flag} "${text}": give the base URL; driftgate appends /validate and /mutate itself`);
  }
  return `${url.origin}${url.pathname === '/' ? '' : url.pathname}`;
}

/** checkCaPem returns `pem` when it holds a PEM certificate and no private key (`what` names its source in the message). */
export function checkCaPem(pem: string, what: string): string {
  return checkPem(pem, what);
}

async function caOf(opts: ManifestsOptions): Promise<{ caBundle: string; options: RenderOptions }> {
  const given = [opts.caBundle, opts.caBundleBase64, opts.caInjectFrom].filter((value) => value !== undefined);
  if (given.length !== 1) {
    throw usage('give exactly one of --ca-bundle (the CA PEM file), --ca-bundle-base64 (the same, base64) and --ca-inject-from (cert-manager fills it in)');
  }
  if (opts.caBundle !== undefined) {
    const pem = await readText(opts.caBundle, '--ca-bundle');
    return { caBundle: Buffer.from(checkPem(pem, `--ca-bundle ${opts.caBundle}`), 'utf8').toString('base64'), options: {} };
  }
  if (opts.caBundleBase64 !== undefined) {
    const text = opts.caBundleBase64.trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw usage('--ca-bundle-base64: not base64; pass the PEM file with --ca-bundle ca.crt, or encode it with base64 -w0 ca.crt');
    }
    checkPem(Buffer.from(text, 'base64').toString('utf8'), '--ca-bundle-base64 (decoded)');
    return { caBundle: text, options: {} };
  }
  const ref = opts.caInjectFrom ?? '';
  if (!CERTIFICATE_REF.test(ref)) {
    throw usage(`--ca-inject-from "${ref}" is not NAMESPACE/CERTIFICATE; write e.g. driftgate-system/driftgate-tls`);
  }
  return { caBundle: '', options: { caInjectFrom: ref } };
}

/**
 * checkPem returns `pem` when it holds a PEM certificate and no private key: a caBundle that is
 * not a certificate makes every call fail, and with failurePolicy Fail every guarded write with it.
 */
function checkPem(pem: string, what: string): string {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw usage(`${what} holds a private key; pass only the CA certificate (ca.crt), never a key`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----') || !pem.includes('-----END CERTIFICATE-----')) {
    throw usage(`${what} holds no PEM certificate; pass the CA certificate (ca.crt) that signed the serving certificate`);
  }
  return pem;
}
