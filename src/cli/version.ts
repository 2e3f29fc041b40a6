import { readFileSync } from 'node:fs';

/** mlc-build's version, from its package.json (paths are the bundle's, lib/cli/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
