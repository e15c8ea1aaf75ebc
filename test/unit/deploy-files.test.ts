import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { SETTINGS, loadConfig } from '../../src/config.js';
import { parseDuration } from '../../src/duration.js';
import { freePort } from '../support/free-port.js';

// The container and deployment files are only checked statically (no Docker engine or cluster runs the
// tests), so this file keeps them equal to what the code reads: settings names, port, paths, timeouts.

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
/** Parsed YAML and JSON, read loosely: a missing key fails the assertion that reads it. */
type Json = Record<string, any>;

const PORT = Number(SETTINGS.serverPort.default);
const SHUTDOWN_SECONDS = (parseDuration(SETTINGS.shutdownTimeoutMs.default) as number) / 1000;
/** Variables the AWS SDK and Node read themselves, not SETTINGS. */
const OUTSIDE_SETTINGS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'NODE_ENV'];
const KNOWN_NAMES = new Set([...Object.values(SETTINGS).map((s) => s.env), ...OUTSIDE_SETTINGS]);

/** Dockerfile instructions, continuation lines joined and comments dropped: [keyword, arguments]. */
function dockerfileInstructions(text: string): [string, string][] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
      return [keyword.toUpperCase(), args];
    });
}

/** Every document of a YAML file, failing on a syntax error. */
function yamlDocuments(path: string): Json[] {
  return parseAllDocuments(read(path)).map((doc) => {
    assert.deepEqual(doc.errors, [], `${path} is not valid YAML`);
    return doc.toJS() as Json;
  });
}

const oneOfKind = (path: string, kind: string): Json => {
  const found = yamlDocuments(path).filter((doc) => doc.kind === kind);
  assert.equal(found.length, 1, `${path} holds one ${kind}`);
  return found[0] as Json;
};

const assertKnownNames = (where: string, names: string[]) => {
  assert.ok(names.length > 0, `${where} sets some variables`);
  for (const name of names) assert.ok(KNOWN_NAMES.has(name), `${where} sets ${name}, which neither SETTINGS nor the AWS SDK reads`);
};

/** The configuration the service would load from this environment (throws like a start-up would). */
const assertLoads = (where: string, env: Record<string, string>) =>
  assert.doesNotThrow(() => loadConfig(env), `${where}: the service would refuse this configuration`);

/**
 * Runs a health check's command (`["CMD", ...]` or `["node", ...]`) against a server answering /health on a
 * port of its own: with SERVER_PORT set to it, the check passes; with SERVER_PORT naming a closed port, it fails.
 */
async function assertHealthCheckAsks(command: string[]): Promise<void> {
  const [program, ...args] = command[0] === 'CMD' ? command.slice(1) : command;
  assert.equal(program, 'node');
  const server = createServer((request, response) => response.writeHead(request.url === '/health' ? 200 : 404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const run = (port: number) =>
    new Promise<number | null>((resolve) => execFile(process.execPath, args, { env: { ...process.env, SERVER_PORT: String(port) }, timeout: 10_000 }, (error) => resolve(error ? (error.code as number) : 0)));
  try {
    assert.equal(await run((server.address() as AddressInfo).port), 0, 'healthy on SERVER_PORT');
    assert.notEqual(await run(await freePort()), 0, 'unhealthy when nothing answers on SERVER_PORT');
  } finally {
    server.close();
  }
}

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions(read('Dockerfile'));
  const all = (keyword: string) => instructions.filter(([k]) => k === keyword).map(([, args]) => args);
  const finalStage = instructions.slice(instructions.findLastIndex(([k]) => k === 'FROM'));

  it('when linted (dockerfile-utils, the linter of the VS Code Docker extension), then it has no finding', () => {
    assert.deepEqual(lintDockerfile(read('Dockerfile')).map((d) => `line ${d.range.start.line + 1}: ${d.message}`), []);
  });

  it('when read, then it builds in several stages on node:24-bookworm-slim', () => {
    const froms = all('FROM');
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    for (const from of froms) assert.match(from, /^node:24-bookworm-slim\b/);
  });

  it('when read, then it exposes SERVER_PORT\'s default, and its HEALTHCHECK asks /health on SERVER_PORT, set or not', async () => {
    assert.deepEqual(all('EXPOSE'), [String(PORT)]);
    const [healthcheck] = all('HEALTHCHECK');
    assert.ok(healthcheck, 'a HEALTHCHECK');
    assert.match(healthcheck, /CMD \["node", /, 'node itself fetches: the slim image has no curl');
    await assertHealthCheckAsks(JSON.parse(healthcheck.slice(healthcheck.indexOf('['))) as string[]);
  });

  it('when read, then the final stage runs as a user other than root', () => {
    const users = finalStage.filter(([k]) => k === 'USER').map(([, args]) => args);
    assert.ok(users.length > 0, 'USER in the final stage');
    assert.ok(!['root', '0', '0:0'].includes(users.at(-1) as string), `USER ${users.at(-1)}`);
  });

  it('when built, then CMD runs the entry point tsc writes and npm start runs', () => {
    const cmd = JSON.parse(all('CMD').at(-1) ?? 'null') as unknown;
    assert.deepEqual(cmd, ['node', 'dist/main.js'], 'exec form, so node is PID 1 and receives SIGTERM');
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    assert.ok(existsSync(new URL(join(build.compilerOptions.rootDir, 'main.ts'), root)), 'src/main.ts');
    assert.equal(join(build.compilerOptions.outDir, 'main.js'), cmd[1]);
    assert.ok(existsSync(new URL('dist/main.js', root)), 'dist/main.js exists (run npm run build first)');
    const pkg = JSON.parse(read('package.json')) as { scripts: { start: string } };
    assert.equal(pkg.scripts.start, 'node dist/main.js');
  });

  it('when read, then every variable it sets is one the service reads', () => {
    const names = all('ENV').flatMap((args) => [...args.matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*)=/g)].map(([, name]) => name as string));
    assertKnownNames('Dockerfile ENV', names);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
  const services = Object.entries(compose.services as Record<string, Json>).filter(([name]) => name.startsWith('ingestion'));
  const envOf = (service: Json): Record<string, string> =>
    Array.isArray(service.environment)
      ? Object.fromEntries((service.environment as string[]).map((line) => line.split(/=(.*)/s).slice(0, 2)))
      : Object.fromEntries(Object.entries((service.environment ?? {}) as Json).map(([k, v]) => [k, String(v)]));

  it('when read, then there is one service per store, each built from this Dockerfile', () => {
    const types = services.map(([, service]) => envOf(service).STORAGE_TYPE).sort();
    assert.deepEqual(types, ['dynamodb', 'mongodb', 'postgresql', 'sqlite']);
    for (const [name, service] of services) assert.equal(service.build, '.', name);
  });

  it('when read, then every service variable is one the service reads, and the service accepts them', () => {
    for (const [name, service] of services) {
      assertKnownNames(`docker-compose ${name}`, Object.keys(envOf(service)));
      assertLoads(`docker-compose ${name}`, envOf(service));
    }
  });

  it('when a service needs a backing store, then it waits for that store to be healthy', () => {
    for (const [name, service] of services) {
      for (const [dependency, condition] of Object.entries((service.depends_on ?? {}) as Json)) {
        assert.deepEqual(condition, { condition: 'service_healthy' }, `${name} -> ${dependency}`);
        assert.ok(compose.services[dependency]?.healthcheck, `${dependency} has a healthcheck`);
      }
    }
  });
});

describe('Kubernetes manifests', () => {
  const deployment = oneOfKind('deploy/kubernetes/deployment.yaml', 'Deployment');
  const configMap = oneOfKind('deploy/kubernetes/configmap.yaml', 'ConfigMap');
  const secret = oneOfKind('deploy/kubernetes/secret.example.yaml', 'Secret');
  const pod = deployment.spec.template.spec as Json;
  const [container] = pod.containers as Json[];
  const configEnv = { ...(configMap.data as Record<string, string>), ...(secret.stringData as Record<string, string>) };

  it('when read, then the ConfigMap, the Secret and the container set only variables the service reads', () => {
    assertKnownNames('ConfigMap', Object.keys(configMap.data as Json));
    assertKnownNames('Secret', Object.keys({ ...secret.data, ...secret.stringData }));
    for (const { name } of (container?.env ?? []) as Json[]) assert.ok(KNOWN_NAMES.has(name), `Deployment sets ${name}`);
    assertLoads('ConfigMap + Secret', configEnv);
  });

  it('when deployed, then the container reads the ConfigMap and the Secret', () => {
    const sources = (container?.envFrom ?? []) as Json[];
    assert.ok(sources.some((s) => s.configMapRef?.name === configMap.metadata.name), 'envFrom the ConfigMap');
    assert.ok(sources.some((s) => s.secretRef?.name === secret.metadata.name), 'envFrom the Secret');
  });

  it('when probed, then liveness asks /health and readiness /ready on the port named http', () => {
    const http = (container?.ports as Json[]).find((p) => p.name === 'http');
    assert.equal(http?.containerPort, PORT);
    assert.equal(Number(configEnv.SERVER_PORT ?? PORT), PORT);
    assert.deepEqual(container?.livenessProbe.httpGet, { path: '/health', port: 'http' });
    assert.deepEqual(container?.readinessProbe.httpGet, { path: '/ready', port: 'http' });
  });

  it('when a pod stops, then its grace period outlasts the preStop pause plus SHUTDOWN_TIMEOUT', () => {
    // The ConfigMap may lengthen SHUTDOWN_TIMEOUT; the grace period must cover the longer of it and the default.
    const configured = configEnv.SHUTDOWN_TIMEOUT === undefined ? 0 : (parseDuration(configEnv.SHUTDOWN_TIMEOUT) as number) / 1000;
    const shutdownSeconds = Math.max(SHUTDOWN_SECONDS, configured);
    const preStop = container?.lifecycle?.preStop?.exec?.command as string[] | undefined;
    const pauseSeconds = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
    assert.ok(pod.terminationGracePeriodSeconds > pauseSeconds + shutdownSeconds, `${pod.terminationGracePeriodSeconds}s`);
  });

  it('when run, then the pod is non-root with a read-only root and a writable /data', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container?.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    const data = (container?.volumeMounts as Json[]).find((m) => m.mountPath === '/data');
    const volume = (pod.volumes as Json[]).find((v) => v.name === data?.name);
    assert.ok(volume?.emptyDir !== undefined || volume?.persistentVolumeClaim !== undefined, 'an emptyDir or PVC at /data');
  });

  it('when scaled, then the HPA, PDB and Service select this Deployment', () => {
    const hpa = oneOfKind('deploy/kubernetes/hpa.yaml', 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
    const labels = deployment.spec.template.metadata.labels as Json;
    const pdb = oneOfKind('deploy/kubernetes/pdb.yaml', 'PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, labels);
    const service = oneOfKind('deploy/kubernetes/service.yaml', 'Service');
    assert.deepEqual(service.spec.selector, labels);
    assert.equal(service.spec.ports[0].targetPort, 'http');
  });
});

describe('ECS task definition', () => {
  const task = JSON.parse(read('deploy/ecs/task-definition.json')) as Json;
  const [container] = task.containerDefinitions as Json[];
  const env = Object.fromEntries(((container?.environment ?? []) as Json[]).map(({ name, value }) => [name, value]));

  it('when read, then it sets only variables the service reads, and the service accepts them', () => {
    assertKnownNames('ECS environment', [...Object.keys(env), ...((container?.secrets ?? []) as Json[]).map((s) => s.name)]);
    assert.equal(env.STORAGE_TYPE, 'dynamodb');
    assertLoads('ECS environment', env);
  });

  it('when run on Fargate, then it serves SERVER_PORT, health-checks /health and waits past SHUTDOWN_TIMEOUT', async () => {
    assert.deepEqual(task.requiresCompatibilities, ['FARGATE']);
    assert.equal(container?.portMappings[0].containerPort, PORT);
    await assertHealthCheckAsks(container?.healthCheck.command as string[]);
    assert.ok(container?.stopTimeout > SHUTDOWN_SECONDS, `stopTimeout ${container?.stopTimeout}s`);
    assert.equal(container?.logConfiguration.logDriver, 'awslogs');
  });
});

describe('CI workflow', () => {
  it('when a commit is pushed, then the workflow runs npm test', () => {
    const workflow = parse(read('.github/workflows/ci.yml')) as Json;
    const runs = Object.values(workflow.jobs as Record<string, Json>).flatMap((job) => (job.steps as Json[]).map((step) => step.run));
    assert.ok(runs.includes('npm test'), 'a step runs npm test');
  });

  it('when linted with actionlint, then it has no finding', () => {
    const actionlint = fileURLToPath(new URL('.tools/bin/actionlint', root));
    assert.ok(existsSync(actionlint), 'actionlint is missing: run bash scripts/install-actionlint.sh');
    const result = spawnSync(actionlint, ['-no-color', '.github/workflows/ci.yml'], { cwd: fileURLToPath(root), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
