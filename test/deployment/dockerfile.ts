import { readFileSync } from 'node:fs';

/**
 * A Dockerfile read into its stages and instructions, as far as a test needs
 * to check them: no Docker engine runs on this machine to build it.
 */

export type DockerInstruction = { keyword: string; arguments: string };

export type DockerStage = { image: string; name: string | undefined; instructions: DockerInstruction[] };

export function readDockerfile(path: string): DockerStage[] {
  const stages: DockerStage[] = [];
  for (const instruction of instructionsOf(readFileSync(path, 'utf8'))) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.arguments.split(/\s+/);
      if (as !== undefined && as.toUpperCase() !== 'AS') throw new Error(`unexpected FROM ${instruction.arguments}`);
      stages.push({ image, name, instructions: [] });
    } else if (instruction.keyword !== 'ARG' || stages.length > 0) {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** The arguments of every instruction of `stage` named `keyword`, in order. */
export function argumentsOf(stage: DockerStage, keyword: string): string[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === keyword)
    .map((instruction) => instruction.arguments);
}

/** `COPY [--from=stage] source... destination`: its sources and where from (undefined: the build context). */
export function copiesOf(
  stage: DockerStage,
): Array<{ from: string | undefined; sources: string[]; destination: string }> {
  return argumentsOf(stage, 'COPY').map((copy) => {
    const words = copy.split(/\s+/);
    const flags = words.filter((word) => word.startsWith('--'));
    const paths = words.filter((word) => !word.startsWith('--'));
    const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
    return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
  });
}

/** The exec form (`["node", "..."]`) of a CMD, or of a HEALTHCHECK's CMD; throws on the shell form. */
export function execForm(argumentsText: string): string[] {
  const json = argumentsText.slice(argumentsText.indexOf('['));
  const words: unknown = JSON.parse(json);
  if (!Array.isArray(words) || !words.every((word) => typeof word === 'string')) {
    throw new Error(`not an exec form: ${argumentsText}`);
  }
  return words;
}

function instructionsOf(text: string): DockerInstruction[] {
  const logicalLines: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logicalLines.push(`${pending}${line.trim()}`);
    pending = '';
  }
  return logicalLines
    .filter((line) => line.length > 0)
    .map((line) => {
      const [keyword] = line.split(/\s/, 1);
      return { keyword: keyword.toUpperCase(), arguments: line.slice(keyword.length).trim() };
    });
}
