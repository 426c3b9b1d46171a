/**
 * Which GitOps controller manages a live object, read from the labels and annotations the
 * controllers themselves stamp, and how (if at all) its reconciliation of that one object can be
 * paused. A break-glass fix on a managed object is undone at the next sync unless it reaches Git
 * or reconciliation waits: the responder must hear that before the fix, not after. Pure.
 */
import type { KubeObject } from '../admission/types.js';

/** PAUSED_GITOPS records that driftgate paused reconciliation (and how), so that `close` undoes exactly that. */
export { PAUSED_GITOPS } from '../decision/annotations.js';

/** How driftgate paused a controller: the value of PAUSED_GITOPS. */
export type PauseKind = 'flux' | 'flux-helm';

/** The annotation that pauses each kind, with the value that means "paused". */
export const PAUSE_ANNOTATIONS: Readonly<Record<PauseKind, { key: string; value: string }>> = {
  // kustomize-controller skips an object annotated so, until the annotation is removed.
  flux: { key: 'kustomize.toolkit.fluxcd.io/reconcile', value: 'disabled' },
  // helm-controller leaves an object so annotated out of its drift detection and correction.
  'flux-helm': { key: 'helm.toolkit.fluxcd.io/driftDetection', value: 'disabled' },
};

/** GitOpsOwner is the controller that reconciles an object from Git. */
export type GitOpsOwner =
  | { tool: 'flux'; via: 'Kustomization' | 'HelmRelease'; namespace: string; name: string }
  | { tool: 'argocd'; application: string; namespace: string };

// Where Argo CD runs unless the tracking id says otherwise.
const ARGOCD_NAMESPACE = 'argocd';

/** detectGitOps returns who reconciles `obj` from Git, or undefined when no known controller marks it. */
export function detectGitOps(obj: KubeObject): GitOpsOwner | undefined {
  const labels = obj.metadata?.labels ?? {};
  const annotations = obj.metadata?.annotations ?? {};
  const fluxKs = labels['kustomize.toolkit.fluxcd.io/name'];
  if (fluxKs !== undefined) {
    return { tool: 'flux', via: 'Kustomization', namespace: labels['kustomize.toolkit.fluxcd.io/namespace'] ?? '', name: fluxKs };
  }
  const fluxHelm = labels['helm.toolkit.fluxcd.io/name'];
  if (fluxHelm !== undefined) {
    return { tool: 'flux', via: 'HelmRelease', namespace: labels['helm.toolkit.fluxcd.io/namespace'] ?? '', name: fluxHelm };
  }
  // The tracking id is "<app>:<group>/<kind>:<namespace>/<name>", the app written "<namespace>_<app>"
  // when Applications live outside Argo CD's own namespace.
  const tracking = annotations['argocd.argoproj.io/tracking-id'];
  if (tracking !== undefined) {
    const app = tracking.split(':')[0] ?? '';
    const under = app.indexOf('_');
    return under === -1
      ? { tool: 'argocd', application: app, namespace: ARGOCD_NAMESPACE }
      : { tool: 'argocd', application: app.slice(under + 1), namespace: app.slice(0, under) };
  }
  // A custom tracking label (application.instanceLabelKey); app.kubernetes.io/instance alone is not
  // Argo CD's mark, Helm sets it too.
  const instance = labels['argocd.argoproj.io/instance'] ?? annotations['argocd.argoproj.io/instance'];
  if (instance !== undefined) return { tool: 'argocd', application: instance, namespace: ARGOCD_NAMESPACE };
  return undefined;
}

/** describeOwner returns the owner as people name it: "Flux Kustomization flux-system/apps", "Argo CD Application checkout". */
export function describeOwner(owner: GitOpsOwner): string {
  if (owner.tool === 'argocd') return `Argo CD Application ${owner.application}`;
  return `Flux ${owner.via} ${owner.namespace === '' ? '' : `${owner.namespace}/`}${owner.name}`;
}

/** revertWarning returns the plain warning that GitOps will undo a live fix. */
export function revertWarning(owner: GitOpsOwner): string {
  const paused = owner.tool === 'argocd' ? 'self-heal is disabled on the Application' : 'reconciliation is paused';
  return `this object is managed by ${describeOwner(owner)}: your fix will be reverted at the next sync unless it is backported to Git or ${paused}`;
}

/** pauseKindOf returns how driftgate can pause reconciliation of one object, or undefined when the tool cannot (Argo CD). */
export function pauseKindOf(owner: GitOpsOwner): PauseKind | undefined {
  if (owner.tool === 'argocd') return undefined;
  return owner.via === 'Kustomization' ? 'flux' : 'flux-helm';
}

/** selfHealCommand returns the kubectl command that stops Argo CD from reverting live changes of an Application. */
export function selfHealCommand(owner: Extract<GitOpsOwner, { tool: 'argocd' }>, enabled: boolean): string {
  return `kubectl -n ${owner.namespace} patch application ${owner.application} --type merge -p '{"spec":{"syncPolicy":{"automated":{"selfHeal":${String(enabled)}}}}}'`;
}

/** isPauseKind narrows the value found in PAUSED_GITOPS. */
export function isPauseKind(value: string | undefined): value is PauseKind {
  return value !== undefined && Object.hasOwn(PAUSE_ANNOTATIONS, value);
}
