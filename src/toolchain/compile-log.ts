// What `mlc_llm compile` prints of the library's memory needs (mlc_llm's model_metadata.py):
//   Total memory usage without KV cache: 3329.54 MB (Parameters: 2640.79 MB. Temporary buffer: 688.75 MB)
//   KV cache size: 0.38 MB per token in the context window
// MB are 2^20 bytes. Older releases print "cache::" and the first line only; logs may carry colour codes.

export interface CompileMemory {
  paramsMB: number;
  tempBufferMB: number;
  /** Absent in logs of mlc_llm releases that do not print the KV cache line. */
  kvCacheMBPerToken?: number;
}

// eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC, which is what this strips
const ANSI = /\u001b\[[0-9;]*m/g;
const TOTAL = /Total memory usage without KV cache:+\s*([\d.]+)\s*MB\s*\(Parameters:\s*([\d.]+)\s*MB\.?\s*Temporary buffer:\s*([\d.]+)\s*MB\)/;
const KV = /KV cache size:\s*([\d.]+)\s*MB per token/;

/** The memory figures of a compile's log, if it printed them (the last report wins). */
export function parseCompileMemory(log: string): CompileMemory | undefined {
  let found: CompileMemory | undefined;
  let kv: number | undefined;
  for (const line of log.replace(ANSI, '').split('\n')) {
    const t = TOTAL.exec(line);
    if (t) found = { paramsMB: Number(t[2]), tempBufferMB: Number(t[3]) };
    const k = KV.exec(line);
    if (k) kv = Number(k[1]);
  }
  if (!found || !Number.isFinite(found.paramsMB) || !Number.isFinite(found.tempBufferMB)) return undefined;
  return kv !== undefined && Number.isFinite(kv) ? { ...found, kvCacheMBPerToken: kv } : found;
}

/** As kept in the compile's record (`facts`), so it travels with the result to other machines. */
export function memoryFacts(m: CompileMemory): Record<string, number> {
  return {
    params_mb: m.paramsMB,
    temp_buffer_mb: m.tempBufferMB,
    ...(m.kvCacheMBPerToken !== undefined ? { kv_cache_mb_per_token: m.kvCacheMBPerToken } : {}),
  };
}

export function memoryOfFacts(facts: Readonly<Record<string, number>> | undefined): CompileMemory | undefined {
  if (!facts || typeof facts.params_mb !== 'number' || typeof facts.temp_buffer_mb !== 'number') return undefined;
  return {
    paramsMB: facts.params_mb,
    tempBufferMB: facts.temp_buffer_mb,
    ...(typeof facts.kv_cache_mb_per_token === 'number' ? { kvCacheMBPerToken: facts.kv_cache_mb_per_token } : {}),
  };
}
