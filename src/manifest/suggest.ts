import { distance } from 'fastest-levenshtein';

/** The closest known name to a misspelt one, if it is close enough to be a plausible typo. */
export function closest(input: string, known: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const kl = k.toLowerCase();
    // A truncated or extended name ("context_window" for "context_window_size") is a likely typo too.
    const affix = lower.length >= 3 && (kl.startsWith(lower) || lower.startsWith(kl));
    // Among affixes the nearest in length wins: "qwen3x" is qwen3, not qwen.
    const d = affix ? 0.5 + Math.abs(kl.length - lower.length) / 100 : distance(lower, kl);
    if (d < bestScore) {
      best = k;
      bestScore = d;
    }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestScore <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or ``. */
export function didYouMean(input: string, known: readonly string[], exclude: readonly string[] = []): string {
  const c = closest(
    input,
    known.filter((k) => !exclude.includes(k)),
  );
  return c === undefined ? '' : ` (did you mean ${JSON.stringify(c)}?)`;
}
