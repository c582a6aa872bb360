/**
 * Renders every kustomize overlay under deploy/k8s/overlays and checks it against the operator contract
 * (DESIGN.md §1 variables, §2 health routes, §5 topology). Needs kubectl on PATH; skipped without it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { DESIGN_ENV_VARS } from './known-env.js';

type Labels = Record<string, string>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface NodeSelectorTerm {
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PodSpec {
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] } } };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
  containers: Container[];
  volumes?: { name: string; emptyDir?: object }[];
}
interface StatefulSet {
  kind: 'StatefulSet';
  metadata: { name: string };
  spec: {
    serviceName: string;
    replicas: number;
    selector: { matchLabels: Labels };
    template: { metadata: { labels: Labels }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}
interface Service {
  kind: 'Service';
  metadata: { name: string };
  spec: { clusterIP?: string; selector: Labels; ports: { port: number; targetPort?: number | string }[] };
}
interface Secret {
  kind: 'Secret';
  metadata: { name: string };
  data?: Record<string, string>;
}
interface PodDisruptionBudget {
  kind: 'PodDisruptionBudget';
  metadata: { name: string };
  spec: { maxUnavailable?: number | string; selector: { matchLabels: Labels } };
}
type K8sObject = StatefulSet | Service | Secret | PodDisruptionBudget | { kind: string; metadata: { name: string } };

const OVERLAYS_DIR = fileURLToPath(new URL('../../deploy/k8s/overlays/', import.meta.url));
const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const hasKubectl = probe.error === undefined && probe.status === 0;
if (!hasKubectl) {
  console.warn('test/k8s SKIPPED: kubectl is not on PATH, so the kustomize overlays cannot be rendered.');
}
const describeWithKubectl = hasKubectl ? describe : describe.skip;

function render(overlay: string): K8sObject[] {
  const yaml = execFileSync('kubectl', ['kustomize', OVERLAYS_DIR + overlay], { encoding: 'utf8' });
  return loadAll(yaml).filter((d) => d !== null) as K8sObject[];
}

function ofKind<T extends K8sObject>(docs: K8sObject[], kind: T['kind']): T[] {
  return docs.filter((d): d is T => d.kind === kind);
}

/** True when every label of the selector is on the pod. */
function selects(selector: Labels, labels: Labels): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function envOf(c: Container): Map<string, EnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

function valueOf(c: Container, name: string): string | undefined {
  return envOf(c).get(name)?.value;
}

function containerPort(c: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
}

/** The StatefulSets whose container's ROLE is `role`, each with its single container. */
function setsOf(docs: K8sObject[], role: 'registry' | 'node'): { sts: StatefulSet; c: Container }[] {
  const found = ofKind<StatefulSet>(docs, 'StatefulSet').filter((s) =>
    s.spec.template.spec.containers.some((c) => valueOf(c, 'ROLE') === role),
  );
  expect(found.length).toBeGreaterThanOrEqual(1);
  for (const sts of found) expect(sts.spec.template.spec.containers).toHaveLength(1);
  return found.map((sts) => ({ sts, c: sts.spec.template.spec.containers[0] }));
}

/** The single registry StatefulSet; or the nodes' StatefulSet where there is one (there is one per zone in prod). */
function byRole(docs: K8sObject[], role: 'registry' | 'node'): { sts: StatefulSet; c: Container } {
  const found = setsOf(docs, role);
  if (role === 'registry') expect(found).toHaveLength(1);
  return found[0];
}

/** The zones a pod may be scheduled in, from its required node affinity on topology.kubernetes.io/zone. */
function pinnedZones(pod: PodSpec): string[] | undefined {
  const terms = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const exprs = terms.flatMap((t) => t.matchExpressions ?? []).filter((e) => e.key === 'topology.kubernetes.io/zone' && e.operator === 'In');
  return exprs.length === 0 ? undefined : exprs.flatMap((e) => e.values ?? []);
}

/** Replica counts per overlay; an overlay not listed here must still have a registry and N nodes. */
const EXPECTED: Record<string, { registries: number; minNodes: number; zones?: number }> = {
  dev: { registries: 1, minNodes: 3 },
  prod: { registries: 2, minNodes: 3, zones: 3 },
};
const OVERLAYS = readdirSync(OVERLAYS_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

it('has the dev and prod overlays', () => {
  expect(OVERLAYS).toEqual(expect.arrayContaining(['dev', 'prod']));
});

describeWithKubectl.each(OVERLAYS)('k8s overlay %s', (overlay) => {
  let docs: K8sObject[];
  let all: { sts: StatefulSet; c: Container }[];
  beforeAll(() => {
    docs = render(overlay);
    all = ofKind<StatefulSet>(docs, 'StatefulSet').flatMap((sts) =>
      sts.spec.template.spec.containers.map((c) => ({ sts, c })),
    );
  });

  it('has the expected replica counts', () => {
    const registry = byRole(docs, 'registry').sts;
    const nodes = setsOf(docs, 'node');
    const total = nodes.reduce((sum, n) => sum + n.sts.spec.replicas, 0);
    const expected = EXPECTED[overlay] ?? { registries: registry.spec.replicas, minNodes: 3 };
    expect(registry.spec.replicas).toBeGreaterThanOrEqual(1);
    expect(registry.spec.replicas).toBe(expected.registries);
    expect(total).toBeGreaterThanOrEqual(expected.minNodes);
    // N copies need N nodes; fewer silently lowers the effective replication factor (DESIGN §1).
    for (const node of nodes) expect(total).toBeGreaterThanOrEqual(Number(valueOf(node.c, 'REPLICATION_FACTOR') ?? 3));
  });

  it('sets ZONE from the zone each node pod is pinned to, with at least N zones where zones are used', () => {
    const nodes = setsOf(docs, 'node');
    const zones = new Set<string>();
    for (const { sts, c } of nodes) {
      const zone = valueOf(c, 'ZONE');
      const pinned = pinnedZones(sts.spec.template.spec);
      // ZONE is only true if Kubernetes guarantees it: the pod may run in that one zone and no other.
      if (zone !== undefined) expect({ set: sts.metadata.name, pinned }).toEqual({ set: sts.metadata.name, pinned: [zone] });
      else expect({ set: sts.metadata.name, pinned }).toEqual({ set: sts.metadata.name, pinned: undefined });
      if (zone !== undefined) zones.add(zone);
    }
    const expected = EXPECTED[overlay]?.zones;
    if (expected !== undefined) {
      // One StatefulSet per zone, every one of them zoned, and as many zones as copies (DESIGN §3 Placement).
      expect(nodes.every(({ c }) => valueOf(c, 'ZONE') !== undefined)).toBe(true);
      expect(zones.size).toBe(nodes.length);
      expect(zones.size).toBeGreaterThanOrEqual(expected);
      expect(zones.size).toBeGreaterThanOrEqual(Number(valueOf(nodes[0].c, 'REPLICATION_FACTOR') ?? 3));
    }
    // No two StatefulSets select each other's pods.
    for (const a of nodes) {
      for (const b of nodes) {
        if (a !== b) expect(selects(a.sts.spec.selector.matchLabels, b.sts.spec.template.metadata.labels)).toBe(false);
      }
    }
    // Every node set gets the same cluster settings (the zones differ only in ZONE and affinity).
    const settings = (c: Container) => ['REGISTRY_URL', 'REPLICATION_FACTOR', 'WRITE_QUORUM', 'READ_QUORUM', 'PARTITION_BITS'].map((n) => valueOf(c, n));
    for (const { c } of nodes) expect(settings(c)).toEqual(settings(nodes[0].c));
  });

  it('sets only variables from DESIGN §1, plus downward-API helpers used for $(VAR) expansion', () => {
    for (const { c } of all) {
      const env = c.env ?? [];
      env.forEach((e, i) => {
        if (DESIGN_ENV_VARS.includes(e.name)) return;
        // A helper such as POD_NAME: from the downward API, and used by a later variable.
        expect({ name: e.name, fieldRef: e.valueFrom?.fieldRef !== undefined }).toEqual({ name: e.name, fieldRef: true });
        const users = env.slice(i + 1).filter((u) => u.value?.includes(`$(${e.name})`));
        expect({ name: e.name, users: users.length > 0 }).toEqual({ name: e.name, users: true });
      });
      // Kubernetes expands $(VAR) only from variables defined earlier in the list.
      env.forEach((e, i) => {
        for (const [, ref] of (e.value ?? '').matchAll(/\$\(([A-Z0-9_]+)\)/g)) {
          expect(env.slice(0, i).map((x) => x.name)).toContain(ref);
        }
      });
    }
  });

  it('sets the required variables for each role', () => {
    expect([...new Set(all.map(({ c }) => valueOf(c, 'ROLE')))].sort()).toEqual(['node', 'registry']);
    for (const { c } of all) {
      const required = valueOf(c, 'ROLE') === 'node' ? ['ROLE', 'CLUSTER_TOKEN', 'REGISTRY_URL'] : ['ROLE', 'CLUSTER_TOKEN'];
      for (const name of required) expect([...envOf(c).keys()]).toContain(name);
    }
  });

  it('takes every secret from a key of a rendered Secret', () => {
    const secrets = new Map(ofKind<Secret>(docs, 'Secret').map((s) => [s.metadata.name, s.data ?? {}]));
    for (const { c } of all) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        expect(secrets.has(ref.name)).toBe(true);
        expect(Object.keys(secrets.get(ref.name) ?? {})).toContain(ref.key);
      }
      // Tokens never appear in plain text in the pod spec.
      expect(envOf(c).get('CLUSTER_TOKEN')?.valueFrom?.secretKeyRef).toBeDefined();
    }
  });

  it('listens, and is probed, on PORT', () => {
    for (const { c } of all) {
      const port = Number(valueOf(c, 'PORT'));
      expect(port).toBe(valueOf(c, 'ROLE') === 'registry' ? 3000 : 4000);
      const s3Port = valueOf(c, 'S3_PORT');
      expect(c.ports?.map((p) => p.containerPort)).toEqual(s3Port === undefined ? [port] : [port, Number(s3Port)]);
      expect(c.livenessProbe?.httpGet?.path).toBe('/health/live');
      expect(c.readinessProbe?.httpGet?.path).toBe('/health/ready');
      expect(containerPort(c, c.livenessProbe?.httpGet?.port ?? -1)).toBe(port);
      expect(containerPort(c, c.readinessProbe?.httpGet?.port ?? -1)).toBe(port);
    }
  });

  it('runs non-root on a read-only root filesystem, with DATA_DIR on a volume claim and /tmp on an emptyDir', () => {
    for (const { sts, c } of all) {
      const pod = sts.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(pod.securityContext?.fsGroup).toBeDefined();
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
      const claims = (sts.spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name);
      expect(claims).toContain(mounts.get(valueOf(c, 'DATA_DIR') ?? ''));
      const tmp = pod.volumes?.find((v) => v.name === mounts.get('/tmp'));
      expect(tmp?.emptyDir).toBeDefined();
    }
  });

  it('gives every StatefulSet a headless Service that selects its pods', () => {
    const services = ofKind<Service>(docs, 'Service');
    for (const { sts, c } of all) {
      const svc = services.find((s) => s.metadata.name === sts.spec.serviceName);
      expect(svc?.spec.clusterIP).toBe('None');
      expect(selects(svc?.spec.selector ?? { missing: 'service' }, sts.spec.template.metadata.labels)).toBe(true);
      expect(selects(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
      expect(svc?.spec.ports.map((p) => p.port)).toContain(Number(valueOf(c, 'PORT')));
    }
  });

  it('has PodDisruptionBudgets, each selecting existing pods, for both roles', () => {
    const pdbs = ofKind<PodDisruptionBudget>(docs, 'PodDisruptionBudget');
    for (const pdb of pdbs) {
      const covered = all.filter(({ sts }) => selects(pdb.spec.selector.matchLabels, sts.spec.template.metadata.labels));
      // One budget per role: the node one spans every zone's StatefulSet (one node down at a time, cluster-wide).
      const roles = new Set(covered.map(({ c }) => valueOf(c, 'ROLE')));
      expect({ pdb: pdb.metadata.name, covers: covered.length > 0, roles: roles.size }).toEqual({ pdb: pdb.metadata.name, covers: true, roles: 1 });
      expect(pdb.spec.maxUnavailable).toBe(1);
    }
    for (const { sts } of all) {
      expect(pdbs.some((p) => selects(p.spec.selector.matchLabels, sts.spec.template.metadata.labels))).toBe(true);
    }
  });

  it('lists every registry replica by stable name in REGISTRY_URL, and advertises the pod stable name', () => {
    const registry = byRole(docs, 'registry');
    const expected = Array.from(
      { length: registry.sts.spec.replicas },
      (_, i) => `http://${registry.sts.metadata.name}-${i}.${registry.sts.spec.serviceName}:${valueOf(registry.c, 'PORT')}`,
    );
    for (const node of setsOf(docs, 'node')) {
      expect(valueOf(node.c, 'REGISTRY_URL')?.split(',')).toEqual(expected);
      expect(valueOf(node.c, 'ADVERTISE_URL')).toBe(
        `http://$(POD_NAME).${node.sts.spec.serviceName}:${valueOf(node.c, 'PORT')}`,
      );
      expect(envOf(node.c).get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    }
  });

  it('puts the client Service `shoal` on port 80 in front of the nodes', () => {
    const svc = ofKind<Service>(docs, 'Service').find((s) => s.metadata.name === 'shoal');
    expect(svc?.spec.clusterIP).not.toBe('None');
    for (const node of setsOf(docs, 'node')) {
      expect(selects(svc?.spec.selector ?? { missing: 'service' }, node.sts.spec.template.metadata.labels)).toBe(true);
      const port = svc?.spec.ports.find((p) => p.port === 80);
      expect(containerPort(node.c, port?.targetPort ?? -1)).toBe(Number(valueOf(node.c, 'PORT')));
    }
  });

  it('serves the S3 API on S3_PORT behind the client Service, with its keys from the Secret', () => {
    const node = byRole(docs, 'node');
    const s3Port = Number(valueOf(node.c, 'S3_PORT'));
    expect(s3Port).toBe(9000);
    expect(containerPort(node.c, 's3')).toBe(s3Port);
    const svc = ofKind<Service>(docs, 'Service').find((s) => s.metadata.name === 'shoal');
    const port = svc?.spec.ports.find((p) => p.port === 9000);
    expect(containerPort(node.c, port?.targetPort ?? -1)).toBe(s3Port);
    expect(envOf(node.c).get('S3_ACCESS_KEYS')?.valueFrom?.secretKeyRef?.key).toBe('S3_ACCESS_KEYS');
    // The registry has no S3 API.
    expect(valueOf(byRole(docs, 'registry').c, 'S3_PORT')).toBeUndefined();
  });

  it('sets a released image, not the base placeholder', () => {
    for (const { c } of all) expect(c.image).not.toBe('shoal:latest');
  });
});
