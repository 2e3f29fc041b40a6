// Local model folders: what planning needs to know before anything runs.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from '../result.js';

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
