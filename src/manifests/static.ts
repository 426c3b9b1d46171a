/**
 * The hardened registration: driftgate's webhooks as files the kube-apiserver loads itself
 * (manifest-based admission control, KEP-5793; Kubernetes 1.37, feature gate
 * ManifestBasedAdmissionControlConfig, beta and on by default), rather than as API objects that
 * anyone allowed to `delete validatingwebhookconfigurations` can remove.
 *
 * What the apiserver requires of such files, read from k8s.io/apiserver v0.37.2
 * (pkg/admission/plugin/manifest, pkg/admission/plugin/webhook/manifest) and k8s.io/kubernetes
 * v1.37.2 (pkg/admission/plugin/webhook/manifest/loader), and what this file does about it:
 * - `staticManifestsDir` sits in each plugin's WebhookAdmissionConfiguration, next to
 *   `kubeConfigFile`, in the file `--admission-control-config-file` names. It must be an
 *   absolute path to a directory. The ValidatingAdmissionWebhook plugin refuses a directory
 *   holding a MutatingWebhookConfiguration and vice versa, so each plugin gets its own directory.
 * - Every object's name must end in `.static.k8s.io`: the API then refuses that suffix, so no API
 *   object can ever shadow or be mistaken for a static one, and none of that name exists to delete.
 * - `clientConfig.service` is refused: the apiserver calls a static webhook by URL only.
 * - The objects are defaulted and validated as the API would (match conditions, CEL, caBundle),
 *   so the renderer's usual output is reused unchanged apart from the name.
 * - Files ending in .yaml, .yml or .json are read in name order; the directory is watched and
 *   reloaded (at the latest every minute); a reload that fails validation keeps the previous
 *   configuration, and a first load that fails stops the apiserver from starting.
 */
import { posix } from 'node:path';
import { DriftgateError } from '../errors.js';
import type { GuardPolicy } from '../policy/types.js';
import { type MutatingWebhookConfiguration, renderManifestsYaml, renderWebhooks, type RenderOptions, type ValidatingWebhookConfiguration } from './render.js';

/** STATIC_SUFFIX ends every name the apiserver accepts from a static manifest, and refuses from the API. */
export const STATIC_SUFFIX = '.static.k8s.io';

/** STATIC_NAME is the name of both of driftgate's static configurations. */
export const STATIC_NAME = `driftgate${STATIC_SUFFIX}`;

/** The files of a static install, relative to the directory they are written into. */
export const STATIC_FILES = {
  admissionConfiguration: 'admission-configuration.yaml',
  validating: `validating/${STATIC_NAME}.yaml`,
  mutating: `mutating/${STATIC_NAME}.yaml`,
} as const;

/** StaticInstallOptions say where the files live on the control-plane nodes. */
export interface StaticInstallOptions {
  /** The absolute path the control-plane nodes keep the written directory at. */
  apiserverDir: string;
  /**
   * The absolute path, on the nodes, of the kubeconfig `driftgate certs client` wrote: the client
   * certificate the apiserver presents to driftgate (`serve --client-ca`). `undefined` writes no
   * kubeConfigFile: the apiserver then presents none, and driftgate cannot require one.
   */
  clientKubeconfig: string | undefined;
  /** The renderer's rarer choices; caInjectFrom has no meaning here (cainjector writes API objects). */
  render?: Omit<RenderOptions, 'caInjectFrom'>;
}

/** StaticFile is one file to write: its path relative to the directory, and its text. */
export interface StaticFile {
  path: string;
  text: string;
}

/** StaticInstall is what `driftgate manifests --static` writes, and the apiserver flag that loads it. */
export interface StaticInstall {
  files: StaticFile[];
  /** `--admission-control-config-file=…`, with the path on the nodes. */
  apiserverFlag: string;
  validating: ValidatingWebhookConfiguration;
  mutating: MutatingWebhookConfiguration;
}

/**
 * renderStaticInstall returns the AdmissionConfiguration and the two webhook manifests that
 * register driftgate at `url` (an https base URL) with the apiserver itself. Throws
 * DG_WEBHOOK_TARGET for a target the apiserver would refuse and DG_USAGE for a relative path.
 */
export function renderStaticInstall(policy: GuardPolicy, url: string, caBundle: string, options: StaticInstallOptions): StaticInstall {
  const dir = absolute(options.apiserverDir, 'the directory on the control-plane nodes');
  const kubeconfig = options.clientKubeconfig === undefined ? undefined : absolute(options.clientKubeconfig, 'the client kubeconfig');
  const [validating, mutating] = renderWebhooks(policy, { url }, caBundle, options.render ?? {});
  validating.metadata.name = STATIC_NAME;
  mutating.metadata.name = STATIC_NAME;

  const plugin = (name: string, manifests: string) => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      ...(kubeconfig === undefined ? {} : { kubeConfigFile: kubeconfig }),
      staticManifestsDir: posix.join(dir, posix.dirname(manifests)),
    },
  });
  const admissionConfiguration = {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AdmissionConfiguration',
    plugins: [plugin('ValidatingAdmissionWebhook', STATIC_FILES.validating), plugin('MutatingAdmissionWebhook', STATIC_FILES.mutating)],
  };

  const source = `rendered by \`driftgate manifests --static\` from GuardPolicy "${policy.name}"`;
  const manifestHeader = [
    `# Webhook configuration ${source}.`,
    `# Loaded by the kube-apiserver from this directory (staticManifestsDir), not through the API: names ending`,
    `# in ${STATIC_SUFFIX} cannot be created, changed or deleted with kubectl. The apiserver watches the directory`,
    '# and reloads it (within a minute); a file it cannot validate leaves the previous configuration in force.',
  ];
  const configHeader = [
    `# The kube-apiserver's admission configuration, ${source}.`,
    `# Start the apiserver with ${flagOf(dir)}; the feature gate ManifestBasedAdmissionControlConfig`,
    '# (beta, on by default in Kubernetes 1.37) must be on. Merge these two plugin entries into an admission',
    '# configuration you already have. Changing this file needs an apiserver restart; the manifests do not.',
    ...(kubeconfig === undefined
      ? ['# No kubeConfigFile: the apiserver presents no client certificate, so driftgate cannot require one (serve --client-ca).']
      : []),
  ];
  return {
    files: [
      { path: STATIC_FILES.admissionConfiguration, text: `${configHeader.join('\n')}\n${renderManifestsYaml([admissionConfiguration])}` },
      { path: STATIC_FILES.validating, text: `${manifestHeader.join('\n')}\n${renderManifestsYaml([validating])}` },
      { path: STATIC_FILES.mutating, text: `${manifestHeader.join('\n')}\n${renderManifestsYaml([mutating])}` },
    ],
    apiserverFlag: flagOf(dir),
    validating,
    mutating,
  };
}

function flagOf(dir: string): string {
  return `--admission-control-config-file=${posix.join(dir, STATIC_FILES.admissionConfiguration)}`;
}

function absolute(path: string, what: string): string {
  // The apiserver refuses a relative kubeConfigFile or staticManifestsDir, and would refuse to start.
  if (!posix.isAbsolute(path)) throw new DriftgateError('DG_USAGE', `${what} "${path}" is not an absolute path; the kube-apiserver takes absolute paths only`);
  return posix.normalize(path).replace(/\/+$/, '') || '/';
}
