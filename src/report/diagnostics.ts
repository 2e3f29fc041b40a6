// Manifest diagnostics for people: in source order on stderr, with the count when there are several errors.
import { byPosition, renderDiagnostic, type Diagnostic } from '../manifest/diagnostic.js';

export function printDiagnostics(diags: readonly Diagnostic[]): void {
  process.stderr.write(diagnosticsText(diags));
}

/** What printDiagnostics prints. */
export function diagnosticsText(diags: readonly Diagnostic[]): string {
  const sorted = [...diags].sort(byPosition);
  const errors = sorted.filter((d) => d.severity === 'error').length;
  return sorted.map((d) => renderDiagnostic(d) + '\n').join('') + (errors > 1 ? `${errors} errors\n` : '');
}
