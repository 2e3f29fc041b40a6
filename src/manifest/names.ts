// Names that become file names: model ids, target names, stems.
import { error, type Diagnostic, type Location } from './diagnostic.js';

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function isSafeSegment(name: string): boolean {
  return SAFE_SEGMENT.test(name) && name.length <= 200;
}

export function checkSafeName(name: string, what: string, at: Location, diags: Diagnostic[]): void {
  if (!isSafeSegment(name)) {
    diags.push(
      error(
        `${what} ${JSON.stringify(name)} is not a safe file name: it becomes part of paths under out/ (use letters, digits, ".", "_", "+", "-"; no "/" and no leading "." or "-")`,
        at,
      ),
    );
  }
}
