// Local model folders: what planning needs to know before anything runs, and the source that reads them.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { keyOf } from '../keys.js';
import { err, ok, type Result } from '../result.js';
import { digestsOf, type Located, type Part, type Source, type SourceDeps, type SourceFiles } from './source.js';
import { applyRules, isMetaFile, isWeightFile, type FileRules } from './files.js';

/** Reads `<folder>/config.json` (mlc_llm requires it), or says what is wrong with the folder. */
export async function readLocalConfig(folder: string): Promise<Result<unknown, string>> {
  try {
    if (!(await stat(folder)).isDirectory()) return err(`source ${folder} is not a folder`);
  } catch {
    return err(`source folder ${folder} does not exist`);
  }
  let text: string;
  try {
    text = await readFile(join(folder, 'config.json'), 'utf8');
  } catch {
    return err(`source folder ${folder} has no config.json (mlc_llm needs the Hugging Face config.json)`);
  }
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (e) {
    return err(`${join(folder, 'config.json')} is not valid JSON: ${(e as Error).message}`);
  }
}

export interface LocalFile {
  /** Absolute path of the file in the user's folder. */
  path: string;
  digest: string;
  size: number;
}

/** The folder's top-level files of one part, hashed through the stat cache. */
export async function hashLocalPart(
  folder: string,
  part: 'meta' | 'weights',
  digest: (path: string) => Promise<{ digest: string; size: number }>,
  rules: FileRules = { include: [], exclude: [] },
): Promise<Result<Record<string, LocalFile>, string>> {
  let names: string[];
  try {
    names = (await readdir(folder, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  } catch {
    return err(`source folder ${folder} does not exist`);
  }
  const wanted = applyRules(names, part, names.filter(part === 'meta' ? isMetaFile : isWeightFile), rules);
  if (part === 'meta' && !wanted.includes('config.json')) return err(`source folder ${folder} has no config.json`);
  if (part === 'weights' && wanted.length === 0) return err(`source folder ${folder} has no weight files (*.safetensors or *.bin)`);
  // All at once: the stat cache answers what it knows, and the shards it does not know hash in
  // parallel (one per core).
  const hashed = await Promise.all(
    wanted.map(async (name) => {
      const path = join(folder, name);
      return [name, { path, ...(await digest(path)) }] as const;
    }),
  );
  return ok(Object.fromEntries(hashed));
}

/** A folder on this machine: hashed in place (through the stat cache), never copied or fetched. */
export class LocalSource implements Source {
  readonly mirrored = false;
  constructor(
    readonly text: string,
    private readonly path: string,
    private readonly deps: SourceDeps,
  ) {}

  async locate(part: Part): Promise<Located> {
    this.deps.observe(this.path);
    const files = await hashLocalPart(this.path, part, (p) => this.deps.digest(p), this.deps.rules);
    if (!files.ok) return { kind: 'unavailable', reason: files.error };
    const digests = digestsOf(files.value);
    // The key holds the content, not the path: moving a folder rebuilds nothing.
    const fields = { source: 'local', part, rules: this.deps.rules, files: digests };
    return { kind: 'here', found: { files: files.value, key: keyOf(fields), fields, pin: { part, files: digests } } };
  }

  fetch(): Promise<Result<SourceFiles, string>> {
    return Promise.resolve(err(`${this.text}: a local folder is not fetched`));
  }

  folder(): string {
    return this.path;
  }
}
