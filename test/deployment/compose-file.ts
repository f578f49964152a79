import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Tags, parseDocument } from 'yaml';

/**
 * Docker Compose files, read as Compose would read them, as far as this
 * project's files need: YAML merge keys (`<<: *anchor`), files merged in the
 * order given (mappings merged, sequences appended, `!reset` removing a value,
 * `!override` replacing one), `${VARIABLE:-default}` read with no variable set,
 * and profiles. No Docker Compose runs on this machine to do it for us.
 */

export type ComposeHealthcheck = {
  test: string[];
  interval?: string;
  timeout?: string;
  start_period?: string;
  retries?: number;
};

export type ComposeService = {
  image?: string;
  build?: string;
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: ComposeHealthcheck;
  depends_on?: Record<string, { condition: string }>;
};

export type ComposeProject = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

const RESET = Symbol('!reset');

class Override {
  constructor(readonly value: unknown) {}
}

const COMPOSE_TAGS: Tags = [
  { tag: '!reset', resolve: () => RESET },
  { tag: '!reset', collection: 'map', resolve: () => RESET },
  { tag: '!reset', collection: 'seq', resolve: () => RESET },
  { tag: '!override', collection: 'map', resolve: (node) => new Override(node.toJSON()) },
  { tag: '!override', collection: 'seq', resolve: (node) => new Override(node.toJSON()) },
];

/** The project that `docker compose -f first -f second ...` would run, with no variable set in the shell. */
export function readComposeProject(root: string, files: string[]): ComposeProject {
  const merged = files.map((file) => parseComposeFile(resolve(root, file))).reduce(mergeCompose, {});
  return interpolate(withoutMarkers(merged)) as ComposeProject;
}

/** The services `docker compose up` starts: those without a profile. */
export function startedServices(project: ComposeProject): string[] {
  return Object.entries(project.services)
    .filter(([, service]) => (service.profiles ?? []).length === 0)
    .map(([name]) => name);
}

function parseComposeFile(path: string): unknown {
  const document = parseDocument(readFileSync(path, 'utf8'), { merge: true, customTags: COMPOSE_TAGS });
  const problems = [...document.errors, ...document.warnings];
  if (problems.length > 0) throw new Error(`${path}: ${problems.map((problem) => problem.message).join('; ')}`);
  return document.toJS();
}

/** Compose's exceptions to appending sequences: a command is replaced whole. */
const REPLACED_NOT_APPENDED = new Set(['command', 'entrypoint', 'test']);

function mergeCompose(base: unknown, overlay: unknown): unknown {
  if (overlay === RESET) return undefined;
  if (overlay instanceof Override) return overlay.value;
  if (Array.isArray(base) && Array.isArray(overlay)) return [...base, ...overlay];
  if (isMapping(base) && isMapping(overlay)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(overlay)) {
      merged[key] = REPLACED_NOT_APPENDED.has(key) ? value : mergeCompose(base[key], value);
    }
    return merged;
  }
  return overlay;
}

/** A file read alone may still hold markers (a `!reset` over nothing): they leave no value. */
function withoutMarkers(value: unknown): unknown {
  if (value === RESET) return undefined;
  if (value instanceof Override) return withoutMarkers(value.value);
  if (Array.isArray(value)) return value.map(withoutMarkers);
  if (!isMapping(value)) return value;
  const entries = Object.entries(value).map(([key, entry]) => [key, withoutMarkers(entry)] as const);
  return Object.fromEntries(entries.filter(([, entry]) => entry !== undefined));
}

/** `${NAME:-default}` and `${NAME-default}` read as their default, `${NAME}` as empty: no variable is set. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, _name: string, fallback?: string) => fallback ?? '');
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (!isMapping(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, interpolate(entry)]));
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Override);
}
