/**
 * Offline checks of the deployment files that no schema catches: that the
 * three routing tables agree, that every service has its probes, limits and
 * non-root user, that the Terraform modules are called with the variables they
 * declare, that the dashboard shows what the alerts watch. Run by
 * infrastructure/validate.sh after the tools' own checks (dclint, dockerfile-utils,
 * kubectl kustomize, promtool, terraform fmt).
 *
 *   tsx infrastructure/checks/validate.ts [--kustomized <dir with <overlay>.yaml>] [--promql-out <file>]
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { parse, parseAllDocuments } from 'yaml';
import { ROUTES } from '../../scripts/cluster/gateway';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const INFRA = path.join(ROOT, 'infrastructure');
const SERVICES = ['auth-server', 'sync-server', 'notifier', 'client'] as const;
const OVERLAYS = ['dev', 'staging', 'production'] as const;

type Problems = string[];
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is checked field by field below.
type Yaml = any;

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const readYaml = (file: string): Yaml => parse(read(file), { merge: true });

/** The gateway's table as `prefix → group`, the reference the others must match. */
const expectedRoutes = new Map<string, string>(ROUTES.map((r) => [r.prefix, r.group]));
const serviceOfGroup: Record<string, string> = {
  auth: 'auth-server',
  sync: 'sync-server',
  notifier: 'notifier',
  client: 'client',
};

export function checkCompose(): Problems {
  const problems: Problems = [];
  const compose = readYaml('docker-compose.yml');
  const services: Record<string, Yaml> = compose.services ?? {};
  const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
  for (const [name, service] of Object.entries(services)) {
    if (!service.healthcheck?.test) problems.push(`compose: ${name} has no healthcheck`);
    if (!service.restart) problems.push(`compose: ${name} has no restart policy`);
    for (const [dependency, condition] of Object.entries(service.depends_on ?? {})) {
      if ((condition as Yaml)?.condition !== 'service_healthy') {
        problems.push(`compose: ${name} depends on ${dependency} without condition: service_healthy`);
      }
    }
    for (const volume of service.volumes ?? []) {
      const [source, , mode] = String(volume).split(':');
      if (!source) continue;
      if (source.startsWith('./')) {
        if (mode !== 'ro') problems.push(`compose: ${name} mounts host path ${source} writable; only read-only config`);
        if (!existsSync(path.join(ROOT, source))) problems.push(`compose: ${name} mounts missing ${source}`);
      } else if (!declaredVolumes.has(source)) {
        problems.push(`compose: ${name} uses volume ${source} that is not declared under volumes:`);
      }
    }
  }
  for (const service of ['auth-server', 'sync-server-1', 'sync-server-2', 'notifier', 'client', 'gateway']) {
    if (!services[service]) problems.push(`compose: service ${service} is missing`);
  }
  for (const backing of ['postgres', 'nats', 'redis', 'mailpit', 'prometheus', 'grafana', 'loki']) {
    if (!services[backing]) problems.push(`compose: service ${backing} is missing`);
  }
  for (const [name, service] of Object.entries(services)) {
    if (!/^(auth-server|sync-server-\d|notifier)$/.test(name)) continue;
    const env = service.environment ?? {};
    for (const variable of ['DATABASE_URL', 'NATS_URL', 'AUTH_URL', 'PUBLIC_URL']) {
      if (!(variable in env)) problems.push(`compose: ${name} lacks ${variable}`);
    }
    // The sync server only fetches the JWKS; /internal/* and its token are for auth-server and notifier.
    if (!name.startsWith('sync-server') && !('INTERNAL_API_TOKEN' in env))
      problems.push(`compose: ${name} lacks INTERNAL_API_TOKEN`);
    if (name.startsWith('sync-server') && !env.REDIS_URL) problems.push(`compose: ${name} lacks REDIS_URL`);
  }
  const syncIds = ['sync-server-1', 'sync-server-2'].map((s) => services[s]?.environment?.SYNC_INSTANCE_ID);
  if (new Set(syncIds).size !== 2) problems.push('compose: the sync instances need distinct SYNC_INSTANCE_ID');
  return problems;
}

export function checkNats(): Problems {
  const problems: Problems = [];
  const conf = read('infrastructure/nats/nats.conf');
  if (!/jetstream\s*\{[^}]*sync_interval:\s*always/s.test(conf)) {
    problems.push('nats.conf: jetstream { sync_interval: always } is missing (acknowledged events could be lost)');
  }
  const devDeps = read('infrastructure/kubernetes/overlays/dev/dependencies.yaml');
  if (!/sync_interval:\s*always/.test(devDeps)) problems.push('kubernetes dev NATS config lacks sync_interval: always');
  const helm = read('infrastructure/terraform/modules/nats/main.tf');
  if (!/sync_interval\s*=\s*"always"/.test(helm)) problems.push('terraform nats module lacks sync_interval = "always"');
  return problems;
}

/** Traefik's rules, parsed back into prefix → service. */
export function checkTraefikRoutes(): Problems {
  const problems: Problems = [];
  const dynamic = readYaml('infrastructure/traefik/dynamic.yml');
  const seen = new Map<string, string>();
  for (const [name, router] of Object.entries<Yaml>(dynamic.http?.routers ?? {})) {
    for (const [, prefix] of String(router.rule).matchAll(/PathPrefix\(`([^`]+)`\)/g)) {
      if (prefix && prefix !== '/' && prefix !== '/internal')
        seen.set(prefix, router.service === 'noop@internal' ? name : router.service);
    }
  }
  for (const [prefix, group] of expectedRoutes) {
    if (seen.get(prefix) !== group)
      problems.push(`traefik: ${prefix} goes to ${seen.get(prefix) ?? 'nothing'}, the gateway says ${group}`);
  }
  for (const prefix of seen.keys()) {
    if (!expectedRoutes.has(prefix)) problems.push(`traefik: ${prefix} is not in the gateway's ROUTES`);
  }
  const sync = dynamic.http?.services?.sync?.loadBalancer?.servers ?? [];
  if (sync.length < 2) problems.push('traefik: the sync service should balance over both instances');
  if (!String(dynamic.http?.routers?.['internal-blocked']?.rule).includes('/internal')) {
    problems.push('traefik: /internal must be blocked explicitly');
  }
  return problems;
}

export function checkDockerfiles(): Problems {
  const problems: Problems = [];
  for (const service of SERVICES) {
    const file = `infrastructure/docker/${service}.Dockerfile`;
    if (!existsSync(path.join(ROOT, file))) {
      problems.push(`${file} is missing`);
      continue;
    }
    const dockerfile = DockerfileParser.parse(read(file));
    const froms = dockerfile.getFROMs();
    if (froms.length < 2) problems.push(`${file}: not multi-stage`);
    const stages = new Set(froms.map((f) => f.getBuildStage()).filter((s): s is string => s !== null));
    for (const copy of dockerfile.getCOPYs()) {
      const from = copy.getFromFlag()?.getValue();
      if (from && !stages.has(from)) problems.push(`${file}: COPY --from=${from} names no stage`);
    }
    const instructions = dockerfile.getInstructions();
    const lastFrom = froms.at(-1);
    const finalStage = instructions.filter(
      (i) => lastFrom && i.getRange().start.line >= lastFrom.getRange().start.line,
    );
    const users = finalStage.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArgumentsContent()?.trim());
    if (users.length === 0 || users.at(-1) === 'root' || users.at(-1) === '0') {
      problems.push(`${file}: the runtime stage must switch to a non-root USER`);
    }
    if (dockerfile.getHEALTHCHECKs().length === 0) problems.push(`${file}: no HEALTHCHECK`);
    const cmd = dockerfile.getCMDs().at(-1);
    if (!cmd || cmd.getJSONStrings().length === 0)
      problems.push(`${file}: CMD must use the exec (JSON) form so SIGTERM reaches node`);
    const nodeImage = dockerfile
      .getInitialARGs()
      .flatMap((arg) => arg.getProperties())
      .find((p) => p.getName() === 'NODE_IMAGE')
      ?.getValue();
    if (nodeImage !== 'node:24-slim')
      problems.push(`${file}: NODE_IMAGE should default to node:24-slim (got ${nodeImage})`);
    if (service !== 'client' && finalStage.some((i) => /\btsx\b/.test(i.getArgumentsContent() ?? ''))) {
      problems.push(`${file}: the runtime stage runs tsx; it should run the bundle`);
    }
  }
  return problems;
}

function kindsOf(documents: Yaml[]): Map<string, Yaml[]> {
  const byKind = new Map<string, Yaml[]>();
  for (const doc of documents) {
    if (!doc?.kind) continue;
    byKind.set(doc.kind, [...(byKind.get(doc.kind) ?? []), doc]);
  }
  return byKind;
}

/** Checks on rendered manifests: the output of `kubectl kustomize`, or the base files when kubectl is missing. */
export function checkKubernetesManifests(label: string, documents: Yaml[]): Problems {
  const problems: Problems = [];
  const byKind = kindsOf(documents);
  const deployments = (byKind.get('Deployment') ?? []).filter((d) => SERVICES.includes(d.metadata?.name));
  for (const service of SERVICES) {
    const deployment = deployments.find((d) => d.metadata.name === service);
    if (!deployment) {
      problems.push(`${label}: Deployment ${service} is missing`);
      continue;
    }
    const pod = deployment.spec.template.spec;
    if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${label}: ${service} must run as non-root`);
    for (const container of pod.containers ?? []) {
      const readiness = container.readinessProbe?.httpGet?.path;
      const liveness = container.livenessProbe?.httpGet?.path;
      // Every service, the web client included (its route handlers, client/lib/ops.ts).
      if (readiness !== '/readyz') problems.push(`${label}: ${service} readiness probe is ${readiness}, want /readyz`);
      if (liveness !== '/healthz') problems.push(`${label}: ${service} liveness probe is ${liveness}, want /healthz`);
      for (const kind of ['requests', 'limits'] as const) {
        for (const resource of ['cpu', 'memory']) {
          if (!container.resources?.[kind]?.[resource])
            problems.push(`${label}: ${service} has no ${kind}.${resource}`);
        }
      }
      if (container.securityContext?.allowPrivilegeEscalation !== false) {
        problems.push(`${label}: ${service} must set allowPrivilegeEscalation: false`);
      }
      if (service === 'sync-server') {
        // Replicas sharing an id would split one durable NATS consumer between them.
        const instanceId = (container.env ?? []).find((e: Yaml) => e?.name === 'SYNC_INSTANCE_ID');
        if (instanceId?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') {
          problems.push(`${label}: sync-server must set SYNC_INSTANCE_ID from the pod's metadata.name`);
        }
      }
    }
  }
  const hpa = (byKind.get('HorizontalPodAutoscaler') ?? []).find((h) => h.spec?.scaleTargetRef?.name === 'sync-server');
  if (!hpa) problems.push(`${label}: no HorizontalPodAutoscaler for sync-server`);
  else if (hpa.spec.minReplicas < 2) problems.push(`${label}: the sync HPA must keep 2 instances at least`);
  const pdb = (byKind.get('PodDisruptionBudget') ?? []).find(
    (p) => p.spec?.selector?.matchLabels?.['app.kubernetes.io/name'] === 'sync-server',
  );
  if (!pdb) problems.push(`${label}: no PodDisruptionBudget for sync-server`);
  const policies = byKind.get('NetworkPolicy') ?? [];
  const denyAll = policies.find(
    (p) =>
      Object.keys(p.spec?.podSelector ?? {}).length === 0 &&
      (p.spec?.policyTypes ?? []).includes('Ingress') &&
      !p.spec.ingress,
  );
  if (!denyAll) problems.push(`${label}: no default-deny ingress NetworkPolicy`);
  const ingress = (byKind.get('Ingress') ?? [])[0];
  if (!ingress) {
    problems.push(`${label}: no Ingress`);
  } else {
    const paths = new Map<string, string>();
    for (const rule of ingress.spec.rules ?? []) {
      for (const p of rule.http?.paths ?? []) paths.set(p.path, p.backend?.service?.name);
    }
    for (const [prefix, group] of expectedRoutes) {
      if (paths.get(prefix) !== serviceOfGroup[group]) {
        problems.push(
          `${label}: Ingress sends ${prefix} to ${paths.get(prefix) ?? 'nothing'}, the gateway to ${group}`,
        );
      }
    }
    if ([...paths.keys()].some((p) => p.startsWith('/internal'))) problems.push(`${label}: Ingress exposes /internal`);
    if (paths.get('/') !== 'client') problems.push(`${label}: Ingress sends / to ${paths.get('/')}, want client`);
  }
  return problems;
}

/** Without kubectl: every file a kustomization names exists and parses. */
export function checkKustomizationReferences(): { problems: Problems; base: Yaml[] } {
  const problems: Problems = [];
  const base: Yaml[] = [];
  const visit = (dir: string, collect: boolean) => {
    const file = path.join(dir, 'kustomization.yaml');
    if (!existsSync(file)) {
      problems.push(`${path.relative(ROOT, dir)}: no kustomization.yaml`);
      return;
    }
    const kustomization = parse(readFileSync(file, 'utf8'));
    for (const component of kustomization.components ?? []) {
      const target = path.join(dir, component);
      if (!existsSync(target)) problems.push(`${path.relative(ROOT, file)}: component ${component} does not exist`);
      else visit(target, false);
    }
    for (const resource of kustomization.resources ?? []) {
      const target = path.join(dir, resource);
      if (!existsSync(target)) problems.push(`${path.relative(ROOT, file)}: resource ${resource} does not exist`);
      else if (statSync(target).isDirectory()) visit(target, false);
      else {
        try {
          const docs = parseAllDocuments(readFileSync(target, 'utf8')).map((d) => {
            if (d.errors.length > 0) throw d.errors[0];
            return d.toJS();
          });
          if (collect) base.push(...docs);
        } catch (error) {
          problems.push(`${path.relative(ROOT, target)}: ${(error as Error).message}`);
        }
      }
    }
  };
  visit(path.join(INFRA, 'kubernetes', 'base'), true);
  for (const overlay of OVERLAYS) visit(path.join(INFRA, 'kubernetes', 'overlays', overlay), false);
  return { problems, base };
}

/**
 * Terraform without providers (no network here): each module call's source
 * exists, passes only variables the module declares and every variable that
 * has no default. Relies on canonical formatting (terraform fmt) for the parse.
 */
export function checkTerraform(): Problems {
  const problems: Problems = [];
  const tf = path.join(INFRA, 'terraform');
  const variablesOf = (moduleDir: string) => {
    const declared = new Map<string, boolean>();
    for (const file of readdirSync(moduleDir).filter((f) => f.endsWith('.tf'))) {
      const text = readFileSync(path.join(moduleDir, file), 'utf8');
      for (const match of text.matchAll(/^variable "([^"]+)" \{\n([\s\S]*?)^\}/gm)) {
        declared.set(match[1]!, /^\s+default\s+=/m.test(match[2]!));
      }
    }
    return declared;
  };
  for (const env of OVERLAYS) {
    const envDir = path.join(tf, 'envs', env);
    const text = readFileSync(path.join(envDir, 'main.tf'), 'utf8');
    for (const match of text.matchAll(/^module "([^"]+)" \{\n([\s\S]*?)^\}/gm)) {
      const [, name, body] = match;
      const source = /^\s+source\s+=\s+"([^"]+)"/m.exec(body!)?.[1];
      const moduleDir = source ? path.resolve(envDir, source) : '';
      if (!source || !existsSync(moduleDir)) {
        problems.push(`terraform/envs/${env}: module ${name} has no source on disk (${source})`);
        continue;
      }
      const declared = variablesOf(moduleDir);
      const passed = new Set([...body!.matchAll(/^ {2}(\w+)\s+=/gm)].map((m) => m[1]!).filter((v) => v !== 'source'));
      for (const variable of passed) {
        if (!declared.has(variable)) problems.push(`terraform/envs/${env}: module ${name} gets undeclared ${variable}`);
      }
      for (const [variable, hasDefault] of declared) {
        if (!hasDefault && !passed.has(variable))
          problems.push(`terraform/envs/${env}: module ${name} misses ${variable}`);
      }
    }
    const envVariables = variablesOf(envDir);
    const tfvars = readFileSync(path.join(envDir, `${env}.tfvars`), 'utf8');
    for (const [, variable] of tfvars.matchAll(/^(\w+)\s+=/gm)) {
      if (!envVariables.has(variable!))
        problems.push(`terraform/envs/${env}/${env}.tfvars sets undeclared ${variable}`);
    }
  }
  return problems;
}

interface Dashboard {
  panels: Array<{ title: string; datasource?: { type?: string }; targets?: Array<{ expr?: string }> }>;
}

/** The dashboard shows what the alerts watch; returns the PromQL of every panel for promtool to parse. */
export function checkMonitoring(): { problems: Problems; promql: string[] } {
  const problems: Problems = [];
  const dashboard = JSON.parse(read('infrastructure/monitoring/grafana/dashboards/confab.json')) as Dashboard;
  const promql = dashboard.panels
    .filter((p) => p.datasource?.type === 'prometheus')
    .flatMap((p) => (p.targets ?? []).map((t) => t.expr).filter((e): e is string => Boolean(e)));
  const shown = promql.join('\n');
  const alerts = readYaml('infrastructure/monitoring/prometheus/alerts.yml');
  const required = [
    'confab_sync_updates_total',
    'confab_sync_store_seconds',
    'confab_sync_outbox_depth',
    'confab_notifier_deliveries_total',
    'confab_notifier_dead_letters_total',
  ];
  const alertText = JSON.stringify(alerts);
  for (const metric of required) {
    if (!alertText.includes(metric)) problems.push(`alerts.yml: no alert on ${metric}`);
    if (!shown.includes(metric)) problems.push(`dashboard: no panel shows ${metric}`);
  }
  const operations = existsSync(path.join(ROOT, 'docs/operations.md')) ? read('docs/operations.md') : '';
  for (const group of alerts.groups ?? []) {
    for (const rule of group.rules ?? []) {
      if (!rule.alert) continue;
      if (!rule.annotations?.runbook) problems.push(`alerts.yml: ${rule.alert} has no runbook annotation`);
      if (!operations.includes(`### ${rule.alert}`))
        problems.push(`docs/operations.md: no section "### ${rule.alert}"`);
    }
  }
  return { problems, promql };
}

function main(): void {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const results: Array<[string, Problems]> = [
    ['compose', checkCompose()],
    ['nats', checkNats()],
    ['traefik routes', checkTraefikRoutes()],
    ['dockerfiles', checkDockerfiles()],
  ];
  const references = checkKustomizationReferences();
  results.push(['kustomize references', references.problems]);
  const rendered = option('--kustomized');
  if (rendered) {
    for (const overlay of OVERLAYS) {
      const documents = parseAllDocuments(readFileSync(path.join(rendered, `${overlay}.yaml`), 'utf8')).map((d) =>
        d.toJS(),
      );
      results.push([`kubernetes ${overlay}`, checkKubernetesManifests(overlay, documents)]);
    }
  } else {
    results.push([
      'kubernetes base (kubectl missing: overlays not rendered)',
      checkKubernetesManifests('base', references.base),
    ]);
  }
  results.push(['terraform module calls', checkTerraform()]);
  const monitoring = checkMonitoring();
  results.push(['monitoring', monitoring.problems]);
  const promqlOut = option('--promql-out');
  if (promqlOut) {
    // As recording rules, so `promtool check rules` parses every panel's PromQL.
    const rules = monitoring.promql.map((expr, i) => ({ record: `confab:dashboard_panel_${i}`, expr }));
    writeFileSync(promqlOut, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }, null, 2));
  }
  let failed = 0;
  for (const [name, problems] of results) {
    if (problems.length === 0) {
      process.stdout.write(`  ok    ${name}\n`);
    } else {
      failed += problems.length;
      process.stdout.write(`  FAIL  ${name}\n${problems.map((p) => `        - ${p}\n`).join('')}`);
    }
  }
  if (failed > 0) {
    process.stdout.write(`${failed} problem(s)\n`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
