// Located diagnostics: what went wrong, where (file:line:col), shown with the offending line.
import { relative } from 'node:path';

export interface Location {
  file: string; // absolute path
  line: number; // 1-based
  col: number; // 1-based
  length: number; // characters to underline on that line (>= 1)
  sourceLine: string;
}

export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  location?: Location;
}

export const error = (message: string, location?: Location): Diagnostic => ({ severity: 'error', message, location });
export const warning = (message: string, location?: Location): Diagnostic => ({ severity: 'warning', message, location });

export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel === '' || rel.startsWith('..') ? file : rel;
}

/** `file:line:col: message`, then the line with a caret under the offending text. */
export function renderDiagnostic(d: Diagnostic, cwd = process.cwd()): string {
  const prefix = d.severity === 'warning' ? 'warning: ' : '';
  if (!d.location) return `mlc-build: ${prefix}${d.message}`;
  const { file, line, col, length, sourceLine } = d.location;
  const head = `${displayPath(file, cwd)}:${line}:${col}: ${prefix}${d.message}`;
  const gutter = String(line).length;
  const text = sourceLine.replace(/\t/g, ' ');
  const underline = ' '.repeat(col - 1) + '^'.repeat(Math.max(1, Math.min(length, text.length - col + 1)));
  return `${head}\n ${line} | ${text}\n ${' '.repeat(gutter)} | ${underline}`;
}

export function byPosition(a: Diagnostic, b: Diagnostic): number {
  const la = a.location;
  const lb = b.location;
  if (!la || !lb) return la ? 1 : lb ? -1 : 0;
  return la.file.localeCompare(lb.file) || la.line - lb.line || la.col - lb.col;
}
