import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  checkCompose,
  checkDockerfiles,
  checkKubernetesManifests,
  checkKustomizationReferences,
  checkMonitoring,
  checkNats,
  checkTerraform,
  checkTraefikRoutes,
} from '../infrastructure/checks/validate';
import { REPO_ROOT } from '../scripts/cluster/process';

/**
 * infrastructure/validate.sh trusts these checks; here they are shown to pass
 * on the repository's files and to catch the mistakes they are for.
 */
// biome-ignore lint/suspicious/noExplicitAny: manifests are plain parsed YAML.
type Manifest = any;

function baseManifests(): Manifest[] {
  const { base } = checkKustomizationReferences();
  return structuredClone(base);
}

const named = (docs: Manifest[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata?.name === name);

describe('the offline infrastructure checks', () => {
  it('pass on the files in the repository', () => {
    expect(checkCompose()).toEqual([]);
    expect(checkNats()).toEqual([]);
    expect(checkTraefikRoutes()).toEqual([]);
    expect(checkDockerfiles()).toEqual([]);
    expect(checkKustomizationReferences().problems).toEqual([]);
    expect(checkKubernetesManifests('base', baseManifests())).toEqual([]);
    expect(checkTerraform()).toEqual([]);
    expect(checkMonitoring().problems).toEqual([]);
  });

  it('catch a Deployment without its readiness probe or limits', () => {
    const docs = baseManifests();
    const sync = named(docs, 'Deployment', 'sync-server');
    delete sync.spec.template.spec.containers[0].readinessProbe;
    delete sync.spec.template.spec.containers[0].resources.limits;
    const problems = checkKubernetesManifests('base', docs);
    expect(problems).toContain('base: sync-server readiness probe is undefined, want /readyz');
    expect(problems).toContain('base: sync-server has no limits.cpu');
  });

  it('catch sync-server pods that would share one SYNC_INSTANCE_ID', () => {
    const message = "base: sync-server must set SYNC_INSTANCE_ID from the pod's metadata.name";
    const docs = baseManifests();
    const container = named(docs, 'Deployment', 'sync-server').spec.template.spec.containers[0];
    const instanceId = container.env.find((e: Manifest) => e.name === 'SYNC_INSTANCE_ID');
    instanceId.valueFrom = undefined;
    instanceId.value = 'sync';
    expect(checkKubernetesManifests('base', docs)).toContain(message);
    container.env = container.env.filter((e: Manifest) => e.name !== 'SYNC_INSTANCE_ID');
    expect(checkKubernetesManifests('base', docs)).toContain(message);
  });

  it('catch an Ingress that drifts from the gateway or exposes /internal', () => {
    const docs = baseManifests();
    const paths = named(docs, 'Ingress', 'confab').spec.rules[0].http.paths;
    paths.find((p: Manifest) => p.path === '/api/push').backend.service.name = 'auth-server';
    paths.push({
      path: '/internal',
      pathType: 'Prefix',
      backend: { service: { name: 'auth-server', port: { name: 'http' } } },
    });
    const problems = checkKubernetesManifests('base', docs);
    expect(problems).toContain('base: Ingress sends /api/push to auth-server, the gateway to notifier');
    expect(problems).toContain('base: Ingress exposes /internal');
  });

  it('catch a missing sync PodDisruptionBudget and a missing default-deny policy', () => {
    const docs = baseManifests().filter(
      (d) =>
        !(
          d.kind === 'PodDisruptionBudget' ||
          (d.kind === 'NetworkPolicy' && d.metadata.name === 'default-deny-ingress')
        ),
    );
    const problems = checkKubernetesManifests('base', docs);
    expect(problems).toContain('base: no PodDisruptionBudget for sync-server');
    expect(problems).toContain('base: no default-deny ingress NetworkPolicy');
  });

  it('read the rendered overlays the same way as the base', () => {
    // The dev overlay's extra objects (PostgreSQL, NATS, Redis) do not confuse the checks.
    const extra = parseAllDocuments(
      readFileSync(path.join(REPO_ROOT, 'infrastructure/kubernetes/overlays/dev/dependencies.yaml'), 'utf8'),
    ).map((d) => d.toJS());
    expect(checkKubernetesManifests('dev', [...baseManifests(), ...extra])).toEqual([]);
  });
});
