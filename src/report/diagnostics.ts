// Manifest diagnostics for people: in source order on stderr, with the count when there are several errors.
import { byPosition, renderDiagnostic, type Diagnostic } from '../manifest/diagnostic.js';

export function printDiagnostics(diags: readonly Diagnostic[]): void {
  const sorted = [...diags].sort(byPosition);
  for (const d of sorted) process.stderr.write(renderDiagnostic(d) + '\n');
  const errors = sorted.filter((d) => d.severity === 'error').length;
  if (errors > 1) process.stderr.write(`${errors} errors\n`);
}
