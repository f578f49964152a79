import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { loadConfig } from '@libs/config';
import { type ComposeProject, type ComposeService, readComposeProject, startedServices } from './compose-file';
import { type DockerStage, argumentsOf, copiesOf, execForm, readDockerfile } from './dockerfile';

/**
 * The deployment files, checked as far as a machine without a Docker engine
 * (and without Docker Compose) allows: the Dockerfile's commands against
 * package.json and the repository, the Compose files against what the code
 * reads (every variable through the real `loadConfig`), and the health check
 * command run for real against a local server.
 */

const ROOT = resolve(__dirname, '../..');
const packageJson = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};

/** Every variable `loadConfig` reads given `env`, and the configuration it makes of it (throws on a bad value). */
function configFrom(env: Record<string, string>) {
  const variablesRead = new Set<string>();
  const recordingEnv = new Proxy(env, {
    get(target, variable) {
      if (typeof variable === 'string') variablesRead.add(variable);
      return target[variable as string];
    },
  });
  return { config: loadConfig(recordingEnv), variablesRead };
}

describe('Dockerfile', () => {
  const stages = readDockerfile(resolve(ROOT, 'Dockerfile'));
  const build = stages.find((stage) => stage.name === 'build')!;
  const runtime = stages.at(-1)!;
  const runs = (stage: DockerStage) => argumentsOf(stage, 'RUN').join(' && ');

  it('builds in one stage and runs from another, on the Node major that package.json supports', () => {
    expect(build).toBeDefined();
    expect(runtime).not.toBe(build);
    const engineMajor = /^>=\s*(\d+)\./.exec(packageJson.engines.node)![1];
    for (const stage of stages) expect(stage.image).toMatch(new RegExp(`^node:${engineMajor}(\\.|-|$)`));
  });

  it('installs every dependency to build, and builds with the npm script', () => {
    expect(runs(build)).toMatch(/\bnpm ci\b(?![^&]*--omit=dev)/);
    expect(runs(build)).toMatch(/\bnpm run build\b/);
  });

  it('runs only npm scripts that package.json has', () => {
    for (const stage of stages) {
      for (const [, script] of runs(stage).matchAll(/\bnpm run ([\w:-]+)/g)) {
        expect(Object.keys(packageJson.scripts)).toContain(script);
      }
    }
  });

  it('copies into the build stage every folder the build script compiles, and its swc configuration', () => {
    const compiled = /^swc ((?:[\w-]+ )+)-d dist\b/.exec(packageJson.scripts.build)![1].trim().split(' ');
    const copied = copiesOf(build)
      .filter((copy) => copy.from === undefined)
      .flatMap((copy) => copy.sources);
    expect(copied).toEqual(expect.arrayContaining([...compiled, '.swcrc', 'package.json', 'package-lock.json']));
  });

  it('copies only files that exist and that .dockerignore leaves in the build context', () => {
    const ignored = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.git', '.env']));
    const fromContext = stages.flatMap(copiesOf).filter((copy) => copy.from === undefined);
    for (const source of fromContext.flatMap((copy) => copy.sources)) {
      expect({ source, exists: existsSync(resolve(ROOT, source)) }).toEqual({ source, exists: true });
      expect(ignored).not.toContain(source.split('/')[0]);
    }
  });

  it('keeps production dependencies only at run time, with the compiled code and the configuration files', () => {
    expect(runs(runtime)).toMatch(/\bnpm ci --omit=dev\b/);
    expect(runs(runtime)).not.toMatch(/\bnpm run build\b/);
    expect(copiesOf(runtime)).toEqual(
      expect.arrayContaining([
        { from: 'build', sources: ['/app/dist'], destination: './dist' },
        { from: undefined, sources: ['config'], destination: './config' },
      ]),
    );
  });

  it('runs as a user that is not root', () => {
    const users = argumentsOf(runtime, 'USER');
    expect(users).not.toEqual([]);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts what `npm start` runs, without its prestart build, on a file the build makes', () => {
    const command = execForm(argumentsOf(runtime, 'CMD').at(-1)!);
    expect(command).toEqual(packageJson.scripts.start.split(' '));
    const entryPoint = command.find((word) => word.startsWith('dist/'))!;
    // Jest's global setup has run `npm run build`.
    expect(existsSync(resolve(ROOT, entryPoint))).toBe(true);
    expect(existsSync(resolve(ROOT, entryPoint.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
  });

  it('exposes the port it sets as PORT, which the configuration reads', () => {
    const port = /^PORT=(\d+)$/.exec(argumentsOf(runtime, 'ENV').find((env) => env.startsWith('PORT='))!)![1];
    expect(argumentsOf(runtime, 'EXPOSE')).toEqual([port]);
    expect(configFrom({ PORT: port }).config.port).toBe(Number(port));
  });

  it('checks its health on /health/ready', () => {
    const [healthcheck] = argumentsOf(runtime, 'HEALTHCHECK');
    expect(execForm(healthcheck.slice(healthcheck.indexOf(' CMD ')))).toEqual([
      'node',
      '-e',
      expect.stringContaining("/health/ready'"),
    ]);
  });
});

describe('the health check command', () => {
  const [healthcheck] = argumentsOf(readDockerfile(resolve(ROOT, 'Dockerfile')).at(-1)!, 'HEALTHCHECK');
  const [node, ...nodeArguments] = execForm(healthcheck.slice(healthcheck.indexOf(' CMD ')));
  let server: Server;
  let status: number;
  const pathsAsked: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      pathsAsked.push(request.url ?? '');
      response.writeHead(status).end();
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  });

  afterAll(async () => {
    await new Promise((closed) => server?.close(closed));
  });

  /** The command, as the container runs it: `node -e ...` with PORT from the environment. */
  function runHealthcheck(port: number): Promise<number> {
    expect(node).toBe('node');
    return new Promise((exited) => {
      execFile(process.execPath, nodeArguments, { env: { PORT: String(port) }, timeout: 10_000 }, (error) =>
        exited(error === null ? 0 : typeof error.code === 'number' ? error.code : -1),
      );
    });
  }

  it('succeeds when /health/ready answers 200, on the port PORT names', async () => {
    status = 200;
    expect(await runHealthcheck((server.address() as AddressInfo).port)).toBe(0);
    expect(pathsAsked.at(-1)).toBe('/health/ready');
  });

  it('fails when /health/ready answers 503', async () => {
    status = 503;
    expect(await runHealthcheck((server.address() as AddressInfo).port)).toBe(1);
  });

  it('fails when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((listening) => closed.listen(0, '127.0.0.1', listening));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    expect(await runHealthcheck(port)).toBe(1);
  });
});

const COMPOSE_VARIANTS: Array<{ name: string; files: string[]; stores: string[] }> = [
  { name: 'docker compose up (KurrentDB)', files: ['docker-compose.yml'], stores: ['postgres', 'kurrentdb'] },
  {
    name: 'PostgreSQL alone',
    files: ['docker-compose.yml', 'docker-compose.postgres.yml'],
    stores: ['postgres'],
  },
];

describe.each(COMPOSE_VARIANTS)('Compose: $name', ({ files, stores }) => {
  const project: ComposeProject = readComposeProject(ROOT, files);
  const service = (name: string): ComposeService => project.services[name];
  const apps = [
    { name: 'api', role: 'api' },
    { name: 'projector', role: 'projector' },
  ];
  const dockerfileHealthcheck = (() => {
    const [healthcheck] = argumentsOf(readDockerfile(resolve(ROOT, 'Dockerfile')).at(-1)!, 'HEALTHCHECK');
    return execForm(healthcheck.slice(healthcheck.indexOf(' CMD ')));
  })();

  it('starts the stores, an API and a projector', () => {
    expect(startedServices(project).sort()).toEqual([...stores, 'api', 'projector'].sort());
  });

  it('starts every service only once what it depends on is healthy, and each of those has a health check', () => {
    for (const name of startedServices(project)) {
      expect(service(name).healthcheck?.test.length).toBeGreaterThan(0);
      for (const [dependency, { condition }] of Object.entries(service(name).depends_on ?? {})) {
        expect({ name, dependency, condition, started: startedServices(project).includes(dependency) }).toEqual({
          name,
          dependency,
          condition: 'service_healthy',
          started: true,
        });
      }
    }
  });

  describe.each(apps)('$name', ({ name, role }) => {
    const environment = () => service(name).environment ?? {};

    it('is built from the Dockerfile, with its health check on /health/ready', () => {
      expect(service(name).build).toBe('.');
      expect(existsSync(resolve(ROOT, service(name).build!, 'Dockerfile'))).toBe(true);
      expect(service(name).healthcheck?.test).toEqual(['CMD', ...dockerfileHealthcheck]);
    });

    it(`sets only variables the configuration reads, with values it accepts, as ROLE=${role}`, () => {
      const { config, variablesRead } = configFrom(environment());
      expect(config.role).toBe(role);
      expect(Object.keys(environment()).filter((variable) => !variablesRead.has(variable))).toEqual([]);
    });

    it('keeps its read model in the postgres service, with the credentials and database it creates', () => {
      const url = new URL(environment().DATABASE_URL);
      const postgres = service('postgres');
      expect(url.protocol).toBe('postgres:');
      expect(url.hostname).toBe('postgres');
      expect(url.port).toBe(containerPortsOf(postgres)[0]);
      expect(decodeURIComponent(url.username)).toBe(postgres.environment?.POSTGRES_USER);
      expect(decodeURIComponent(url.password)).toBe(postgres.environment?.POSTGRES_PASSWORD);
      expect(url.pathname).toBe(`/${postgres.environment?.POSTGRES_DB}`);
    });

    it('keeps its events in the store this variant runs, and depends on exactly the stores it uses', () => {
      const eventStoreUrl = environment().EVENTSTORE_URL;
      const { eventStore } = configFrom(environment()).config;
      if (stores.includes('kurrentdb')) {
        expect(eventStore).toMatchObject({
          kind: 'kurrentdb',
          connectionString: eventStoreUrl,
          readModel: { connectionString: environment().DATABASE_URL },
        });
        const url = new URL(eventStoreUrl);
        expect(url.protocol).toBe('kurrentdb:');
        expect(url.hostname).toBe('kurrentdb');
        expect(url.port).toBe(containerPortsOf(service('kurrentdb'))[0]);
        // The development node runs insecure: no TLS to ask for.
        expect(service('kurrentdb').environment?.KURRENTDB_INSECURE).toBe('true');
        expect(url.searchParams.get('tls')).toBe('false');
      } else {
        expect(eventStoreUrl).toBeUndefined();
        expect(eventStore).toMatchObject({
          kind: 'postgres',
          connectionString: environment().DATABASE_URL,
        });
      }
      expect(Object.keys(service(name).depends_on ?? {}).sort()).toEqual([...stores].sort());
    });
  });

  it('publishes the API on the port its configuration serves, and no port of the projector (so it scales)', () => {
    const { config } = configFrom(service('api').environment ?? {});
    expect(containerPortsOf(service('api'))).toEqual([String(config.port)]);
    expect(service('projector').ports ?? []).toEqual([]);
  });

  it('runs PostgreSQL 16 or later', () => {
    const [, major] = /^postgres:(\d+)/.exec(service('postgres').image ?? '') ?? [];
    expect(Number(major)).toBeGreaterThanOrEqual(16);
  });

  if (stores.includes('kurrentdb')) {
    it("runs KurrentDB's official image as one insecure node, healthy when /health/live answers", () => {
      const kurrentdb = service('kurrentdb');
      expect(kurrentdb.image).toMatch(/^docker\.kurrent\.io\/kurrent-latest\/kurrentdb:\d+\.\d+/);
      expect(kurrentdb.environment).toMatchObject({ KURRENTDB_CLUSTER_SIZE: '1', KURRENTDB_INSECURE: 'true' });
      expect(containerPortsOf(kurrentdb)).toEqual(['2113']);
      expect(kurrentdb.healthcheck?.test.join(' ')).toContain('http://localhost:2113/health/live');
    });
  }
});

/** The container side of each `host:container` port mapping. */
function containerPortsOf(service: ComposeService): string[] {
  return (service.ports ?? []).map((mapping) => mapping.split(':').at(-1)!);
}
