// Paths as people read them: relative to a folder (the project, the current folder) when inside
// it, with forward slashes; absolute when outside it (an absolute `out:` elsewhere is shown as
// written, not as a chain of ../).
import { isAbsolute, relative, sep } from 'node:path';

export function displayPath(abs: string, base: string): string {
  const rel = relative(base, abs);
  if (rel === '') return '.';
  if (rel.startsWith('..') || isAbsolute(rel)) return abs;
  return rel.split(sep).join('/');
}
