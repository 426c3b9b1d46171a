/**
 * `tickets backport` on real Git checkouts the tests create: a plain manifest, a multi-document
 * file, a Kustomize base alone, a base shared by two overlays (with a strategic-merge patch, a
 * JSON 6902 patch, or no patch at all), and the refusals. Every edited file is compared whole,
 * byte for byte, so a comment or a space moved outside the changed lines fails the test.
 */
import { rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonPatchOp } from '../../../src/admission/types.js';
import type { ObjectRef, TicketChange } from '../../../src/decision/types.js';
import { backportTicket } from '../../../src/backport/backport.js';
import { foldEvents } from '../../../src/tickets/fold.js';
import type { Ticket } from '../../../src/tickets/types.js';
import { fileAt, gitIn, makeRepo } from './git-repos.js';

const NOW = new Date('2025-06-01T12:00:00.250Z');
const WEB: ObjectRef = { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'shop', name: 'web' };

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function repo(files: Record<string, string>): Promise<string> {
  const dir = await makeRepo(files);
  dirs.push(dir);
  return dir;
}

type Edit = { patch: JsonPatchOp[]; revert: JsonPatchOp[]; username?: string };

/** ticket returns a ticket on `object` under INC-7 with one change per edit. */
function ticket(edits: Edit[], object: ObjectRef = WEB): Ticket {
  const changes = edits.map(
    (e, i): TicketChange => ({
      requestUid: `uid-${i}`,
      at: `2025-06-01T10:0${i}:00Z`,
      username: e.username ?? 'alice@example.com',
      groups: ['oncall'],
      operation: 'UPDATE',
      patch: e.patch,
      revert: e.revert,
    }),
  );
  const window = { until: '2025-06-01T11:00:00Z', reason: 'checkout OOMKilled', incident: 'INC-7' };
  const [t] = foldEvents(changes.map((change) => ({ type: 'change' as const, draft: { id: 'bt-web-inc-7', object, window, change } })));
  if (t === undefined) throw new Error('no ticket');
  return t;
}

const REPLICAS: Edit = { patch: [{ op: 'replace', path: '/spec/replicas', value: 5 }], revert: [{ op: 'replace', path: '/spec/replicas', value: 3 }] };
const MEMORY: Edit = {
  patch: [{ op: 'replace', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '2Gi' }],
  revert: [{ op: 'replace', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '512Mi' }],
  username: 'bob@example.com',
};
const LABEL: Edit = { patch: [{ op: 'add', path: '/metadata/labels/hotfix', value: 'yes' }], revert: [{ op: 'remove', path: '/metadata/labels/hotfix' }] };

// House style on purpose: unindented sequences, flow maps, aligned comments, a blank line and a
// comment between list items, a quoted image. A re-printing editor would change all of these.
const DEPLOYMENT = `# The storefront. Owned by team shop; paged via #shop-oncall.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web        # referenced by the HPA below
  labels: {app: web, tier: frontend}
spec:
  replicas: 3      # 3 zones
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: "registry.example/web:1.2.3"
        resources:
          limits:
            memory: 512Mi   # measured 2025-05

      # the sidecar keeps its own limits
      - name: proxy
        image: envoy:1.30
`;

describe('a plain manifest', () => {
  it('changes only the changed lines, commits on a new branch and leaves the checkout alone', async () => {
    const dir = await repo({ 'apps/web.yaml': DEPLOYMENT, 'README.md': 'shop\n' });
    const head = gitIn(dir, 'rev-parse', 'HEAD').trim();
    const made = await backportTicket(ticket([REPLICAS, MEMORY, LABEL]), { repo: dir, now: NOW });

    expect(made.commit).toMatchObject({
      branch: 'backport/bt-web-inc-7',
      files: ['apps/web.yaml'],
      changes: 3,
      by: 'Alice Oncall <alice@example.com>',
      at: '2025-06-01T12:00:00Z',
    });
    expect(made.commit.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(fileAt(dir, 'backport/bt-web-inc-7', 'apps/web.yaml')).toBe(
      DEPLOYMENT.replace('replicas: 3      # 3 zones', 'replicas: 5      # 3 zones')
        .replace('memory: 512Mi   # measured 2025-05', 'memory: 2Gi   # measured 2025-05')
        .replace('labels: {app: web, tier: frontend}', 'labels: {app: web, tier: frontend, hotfix: "yes"}'),
    );
    // The checkout: still on main at the same commit, files untouched, nothing staged.
    expect(gitIn(dir, 'rev-parse', 'HEAD').trim()).toBe(head);
    expect(gitIn(dir, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('main');
    expect(gitIn(dir, 'status', '--porcelain')).toBe('');
    expect(await readFile(join(dir, 'apps/web.yaml'), 'utf8')).toBe(DEPLOYMENT);
    expect(gitIn(dir, 'rev-parse', `${made.commit.commit}^`).trim()).toBe(head);
  });

  it('writes a commit message naming the incident, the window, who changed what and the ticket', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT });
    const made = await backportTicket(ticket([REPLICAS, MEMORY]), { repo: dir, now: NOW });
    const message = gitIn(dir, 'log', '-1', '--format=%B', made.commit.commit);
    expect(message.split('\n')[0]).toBe('backport INC-7: Deployment/web in shop: spec.replicas +1 more');
    expect(message).toContain('Incident: INC-7');
    expect(message).toContain('Window:   until 2025-06-01T11:00:00Z');
    expect(message).toContain('- 2025-06-01T10:00:00Z by alice@example.com (UPDATE):\n    /spec/replicas: 3 → 5');
    expect(message).toContain(
      '- 2025-06-01T10:01:00Z by bob@example.com (UPDATE):\n    /spec/template/spec/containers/0/resources/limits/memory: "512Mi" → "2Gi"',
    );
    expect(message).toContain('Edited by driftgate tickets backport:\n- web.yaml\n\nBackport-Ticket: bt-web-inc-7\n');
  });

  it('takes the branch name given, and refuses one that exists', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT });
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, branch: 'hotfix/inc-7', now: NOW });
    expect(made.commit.branch).toBe('hotfix/inc-7');
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, branch: 'hotfix/inc-7', now: NOW })).rejects.toThrow(
      '--branch hotfix/inc-7: the branch already exists; name another with --branch, or delete it (git branch -D hotfix/inc-7)',
    );
  });

  it('edits what is committed, not what the working tree holds', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'web.yaml'), `${DEPLOYMENT}# uncommitted note\n`);
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(fileAt(dir, made.commit.branch, 'web.yaml')).not.toContain('uncommitted');
    expect(await readFile(join(dir, 'web.yaml'), 'utf8')).toContain('# uncommitted note');
  });
});

describe('a multi-document file', () => {
  const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - port: 80   # http
`;
  const CONFIG = `# config for the storefront
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  LOG_LEVEL: info
`;
  const FILE = `${SERVICE}---\n${DEPLOYMENT}---\n${CONFIG}`;

  it('edits the one document that declares the object, the others byte for byte as they were', async () => {
    const dir = await repo({ 'shop/all.yaml': FILE });
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(fileAt(dir, made.commit.branch, 'shop/all.yaml')).toBe(FILE.replace('replicas: 3      # 3 zones', 'replicas: 5      # 3 zones'));
  });

  it('finds a ConfigMap by kind and name, not the Deployment of the same file', async () => {
    const dir = await repo({ 'shop/all.yaml': FILE });
    const cm: ObjectRef = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespace: 'shop', name: 'web-config' };
    const edit: Edit = {
      patch: [{ op: 'replace', path: '/data/LOG_LEVEL', value: 'debug' }],
      revert: [{ op: 'replace', path: '/data/LOG_LEVEL', value: 'info' }],
    };
    const made = await backportTicket(ticket([edit], cm), { repo: dir, now: NOW });
    expect(fileAt(dir, made.commit.branch, 'shop/all.yaml')).toBe(FILE.replace('LOG_LEVEL: info', 'LOG_LEVEL: debug'));
  });
});

const BASE_KUSTOMIZATION = `# the shop base, rendered by every environment
resources:
  - deployment.yaml
`;

describe('Kustomize', () => {
  it('edits the base when one kustomization renders it into the namespace', async () => {
    const dir = await repo({ 'base/kustomization.yaml': `namespace: shop\n${BASE_KUSTOMIZATION}`, 'base/deployment.yaml': DEPLOYMENT });
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['base/deployment.yaml']);
    expect(fileAt(dir, made.commit.branch, 'base/deployment.yaml')).toBe(DEPLOYMENT.replace('replicas: 3      # 3 zones', 'replicas: 5      # 3 zones'));
  });

  const PROD_PATCH = `# production runs bigger
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6   # prod traffic
  template:
    spec:
      containers:
        - name: app
          resources:
            limits:
              memory: 1Gi
`;
  const overlays = (prod: Record<string, string>): Record<string, string> => ({
    'base/kustomization.yaml': BASE_KUSTOMIZATION,
    'base/deployment.yaml': DEPLOYMENT,
    'overlays/staging/kustomization.yaml': 'namespace: shop-staging\nresources:\n  - ../../base\n',
    ...prod,
  });

  it('edits the overlay patch that sets the field, never the base it overrides', async () => {
    const dir = await repo(
      overlays({
        'overlays/prod/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../base\npatchesStrategicMerge:\n  - web-size.yaml   # sizes\n',
        'overlays/prod/web-size.yaml': PROD_PATCH,
      }),
    );
    const made = await backportTicket(ticket([REPLICAS, MEMORY]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['overlays/prod/web-size.yaml']);
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/web-size.yaml')).toBe(
      PROD_PATCH.replace('replicas: 6   # prod traffic', 'replicas: 5   # prod traffic').replace('memory: 1Gi', 'memory: 2Gi'),
    );
    expect(fileAt(dir, made.commit.branch, 'base/deployment.yaml')).toBe(DEPLOYMENT);
  });

  it('puts a field the overlay patch does not set into that patch, by container name, when the base is shared', async () => {
    const dir = await repo(
      overlays({
        'overlays/prod/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../base\npatches:\n  - path: web-size.yaml\n',
        'overlays/prod/web-size.yaml': PROD_PATCH,
      }),
    );
    const image: Edit = {
      patch: [{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'envoy:1.31' }],
      revert: [{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'envoy:1.30' }],
    };
    const made = await backportTicket(ticket([image]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['overlays/prod/web-size.yaml']);
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/web-size.yaml')).toBe(`${PROD_PATCH}        - name: proxy\n          image: envoy:1.31\n`);
  });

  it('follows namePrefix and nameSuffix: prod-web-v2 is web in the base, patched by its base name', async () => {
    const dir = await repo(
      overlays({
        'overlays/prod/kustomization.yaml':
          'namespace: shop\nnamePrefix: prod-\nnameSuffix: -v2\nresources:\n  - ../../base\npatches:\n  - path: web-size.yaml\n',
        'overlays/prod/web-size.yaml': PROD_PATCH,
      }),
    );
    const made = await backportTicket(ticket([REPLICAS], { ...WEB, name: 'prod-web-v2' }), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['overlays/prod/web-size.yaml']);
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/web-size.yaml')).toBe(
      PROD_PATCH.replace('replicas: 6   # prod traffic', 'replicas: 5   # prod traffic'),
    );
    // The staging overlay, without the prefix, renders plain "web": not this object.
    await expect(backportTicket(ticket([REPLICAS], { ...WEB, name: 'web-v2' }), { repo: dir, branch: 'other', now: NOW })).rejects.toThrow(
      'no manifest at HEAD declares Deployment shop/web-v2',
    );
  });

  it('edits the value of a JSON 6902 patch operation on the field', async () => {
    const ops = `# prod replicas\n- op: replace\n  path: /spec/replicas\n  value: 6 # prod\n`;
    const dir = await repo(
      overlays({
        'overlays/prod/kustomization.yaml':
          'namespace: shop\nresources:\n  - ../../base\npatchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: web}\n    path: replicas.yaml\n',
        'overlays/prod/replicas.yaml': ops,
      }),
    );
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/replicas.yaml')).toBe(ops.replace('value: 6 # prod', 'value: 5 # prod'));
  });

  it("appends an operation to the overlay's JSON 6902 patch when it does not set the field yet", async () => {
    const ops = '- op: replace\n  path: /spec/replicas\n  value: 6\n';
    const dir = await repo(
      overlays({
        'overlays/prod/kustomization.yaml':
          'namespace: shop\nresources:\n  - ../../base\npatches:\n  - path: ops.yaml\n    target: {kind: Deployment, name: web}\n',
        'overlays/prod/ops.yaml': ops,
      }),
    );
    const made = await backportTicket(ticket([MEMORY]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['overlays/prod/ops.yaml']);
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/ops.yaml')).toBe(
      `${ops}- op: replace\n  path: /spec/template/spec/containers/0/resources/limits/memory\n  value: 2Gi\n`,
    );
  });

  it('adds a JSON 6902 patch file to an overlay that has none, and lists it in its kustomization', async () => {
    const kustomization = '# production\nnamespace: shop\nresources:\n  - ../../base\n';
    const dir = await repo(overlays({ 'overlays/prod/kustomization.yaml': kustomization }));
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['overlays/prod/kustomization.yaml', 'overlays/prod/web.backport.yaml']);
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/kustomization.yaml')).toBe(
      `${kustomization}patches:\n  - path: web.backport.yaml\n    target:\n      group: apps\n      version: v1\n      kind: Deployment\n      name: web\n`,
    );
    expect(fileAt(dir, made.commit.branch, 'overlays/prod/web.backport.yaml')).toBe(
      '# Backport ticket bt-web-inc-7 (INC-7): changed live on deployments.apps/web\n# in namespace shop; written here, not in the base, which other overlays render too.\n- {"op":"replace","path":"/spec/replicas","value":5}\n',
    );
    expect(fileAt(dir, made.commit.branch, 'base/deployment.yaml')).toBe(DEPLOYMENT);
  });
});

describe('refusals', () => {
  it('refuses when no manifest declares the object, naming it and pointing to tickets export', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT.replace('name: web        #', 'name: webshop    #') });
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW })).rejects.toThrow(
      'no manifest at HEAD declares Deployment shop/web (apiVersion apps/v1, kind Deployment, metadata.name web) among 1 YAML files; is --repo the checkout the GitOps tool syncs? To carry the change by hand: driftgate tickets export bt-web-inc-7 --format yaml',
    );
    expect(gitIn(dir, 'branch', '--list').trim()).toBe('* main');
  });

  it('refuses to guess between two manifests that both render the object into the namespace', async () => {
    const dir = await repo({ 'a/web.yaml': DEPLOYMENT, 'b/web.yaml': DEPLOYMENT });
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW })).rejects.toThrow(
      'Deployment shop/web is declared in 2 places that render into namespace shop: a/web.yaml; b/web.yaml; carry the change by hand, from: driftgate tickets export bt-web-inc-7 --format yaml',
    );
  });

  it('prefers the manifest naming the namespace over one that leaves it to the GitOps destination', async () => {
    const named = DEPLOYMENT.replace('  name: web ', '  namespace: shop\n  name: web ');
    const dir = await repo({ 'prod/web.yaml': named, 'template/web.yaml': DEPLOYMENT });
    const made = await backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW });
    expect(made.commit.files).toEqual(['prod/web.yaml']);
  });

  it('refuses a manifest that names another namespace', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT.replace('  name: web ', '  namespace: other\n  name: web ') });
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW })).rejects.toThrow('no manifest at HEAD declares Deployment shop/web');
  });

  it('refuses a Helm template, saying so and pointing to tickets export', async () => {
    const dir = await repo({
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.0.0\n',
      'charts/web/templates/deployment.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicas }}\n',
    });
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW })).rejects.toThrow(
      "Deployment shop/web is rendered from the Helm template charts/web/templates/deployment.yaml: a template's {{ }} cannot take a live value, so the change belongs in the chart's values; see what to carry over with: driftgate tickets export bt-web-inc-7 --format yaml",
    );
  });

  it("refuses a Secret's data, which the ticket holds only as a fingerprint, and writes nothing", async () => {
    const secret: ObjectRef = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespace: 'shop', name: 'db' };
    const manifest = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: b2xk\n';
    const dir = await repo({ 'db.yaml': manifest });
    const edit: Edit = {
      patch: [{ op: 'replace', path: '/data/password', value: '<redacted sha256:0123456789abcdef>' }],
      revert: [{ op: 'replace', path: '/data/password', value: '<redacted sha256:fedcba9876543210>' }],
    };
    const err = await backportTicket(ticket([edit], secret), { repo: dir, now: NOW }).then(
      () => new Error('no refusal'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toContain(
      'Secret shop/db: ticket bt-web-inc-7 changes Secret values (/data/password), which driftgate never records (only fingerprints) and never writes',
    );
    expect(err.message).not.toContain('sha256');
    expect(gitIn(dir, 'branch', '--list').trim()).toBe('* main');
  });

  it('carries a label change on a Secret, which holds no value', async () => {
    const secret: ObjectRef = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespace: 'shop', name: 'db' };
    const manifest = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    app: db\ndata:\n  password: b2xk\n';
    const dir = await repo({ 'db.yaml': manifest });
    const made = await backportTicket(ticket([LABEL], secret), { repo: dir, now: NOW });
    expect(fileAt(dir, made.commit.branch, 'db.yaml')).toBe(manifest.replace('    app: db\n', '    app: db\n    hotfix: "yes"\n'));
  });

  it('refuses a directory that is not a Git checkout', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'driftgate-nogit-'));
    dirs.push(dir);
    await expect(backportTicket(ticket([REPLICAS]), { repo: dir, now: NOW })).rejects.toThrow(`--repo ${dir}: not a Git checkout`);
  });

  it('refuses a ticket already closed, naming the decision', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT });
    const closed: Ticket = {
      ...ticket([REPLICAS]),
      state: 'reverted',
      resolution: { decision: 'revert', by: 'carol', ref: 'INC-7 note', at: '2025-06-01T11:30:00Z' },
    };
    await expect(backportTicket(closed, { repo: dir, now: NOW })).rejects.toThrow(
      'ticket bt-web-inc-7 is already reverted (revert by carol at 2025-06-01T11:30:00Z, INC-7 note): a closed ticket is not carried into Git again',
    );
  });

  it('refuses an object created live: there is no manifest to edit', async () => {
    const dir = await repo({ 'web.yaml': DEPLOYMENT });
    const created: Edit = {
      patch: [{ op: 'add', path: '', value: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } } }],
      revert: [{ op: 'remove', path: '' }],
    };
    await expect(backportTicket(ticket([created]), { repo: dir, now: NOW })).rejects.toThrow(
      'Deployment shop/web was created live under ticket bt-web-inc-7: there is no manifest to edit',
    );
  });
});
