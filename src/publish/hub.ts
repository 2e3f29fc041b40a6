// src/publish/ owns putting a release on the Hugging Face hub: where each file goes (layout.ts),
// the hub's fetch with the token and retries (this file), a repository's tree compared with local
// digests (compare.ts), one commit per repository with its parentCommit (commit.ts), what a dry run
// would send (probe.ts), the commit each URL is pinned to (pins.ts) and refusals (access.ts).
// Uploads go through @huggingface/hub; nothing here prints.
//
// The fetch every @huggingface/hub call gets: the token goes to the hub's endpoint only (upload
// URLs the LFS batch hands out are presigned, and storage refuses a second credential), and 5xx,
// 429 and dropped connections are tried again — the library itself tries nothing twice.
import { backoffMs, DEFAULT_RETRY, type RetryPolicy } from '../net/index.js';
import { sleep } from '../net/backoff.js';
import type { FoundToken } from '../sources/hf.js';

export interface Hub {
  endpoint: string;
  token: FoundToken | undefined;
  /** A fresh fetch for one piece of work; `watch` sees each answer (to count what was sent). */
  fetchFor(watch?: ExchangeWatcher): typeof fetch;
}

/** Sees each request once it is answered (after retries): its method, URL, body and answer. */
export type ExchangeWatcher = (exchange: { method: string; url: string; body: unknown; response: Response }) => Response | Promise<Response>;

/**
 * What whoAmI and createRepo, which insist on a token of their own (and on its hf_ prefix), are
 * given: the fetch drops the header they write from it and sends the real token, to the endpoint only.
 */
export const LIBRARY_CREDENTIALS = { accessToken: 'hf_replaced-by-the-fetch' } as const;

/** The longest a 429's Retry-After is obeyed; beyond it the request fails. */
const MAX_RETRY_AFTER_MS = 120_000;

export function connectHub(endpoint: string, token: FoundToken | undefined, policy: RetryPolicy = DEFAULT_RETRY, base: typeof fetch = fetch): Hub {
  const origin = new URL(endpoint).origin;
  return {
    endpoint,
    token,
    fetchFor: (watch) => async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const headers = new Headers(init?.headers);
      // The library writes "Bearer undefined" when it is given no token of its own.
      headers.delete('authorization');
      if (token && new URL(url).origin === origin) headers.set('authorization', `Bearer ${token.token}`);
      const response = await withRetries(() => base(url, { ...init, headers }), policy);
      return watch ? watch({ method: init?.method ?? 'GET', url, body: init?.body, response }) : response;
    },
  };
}

async function withRetries(send: () => Promise<Response>, policy: RetryPolicy): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await send();
    } catch (e) {
      // A connection refused or cut: the server may be back in a moment. An abort is not retried.
      if (attempt > policy.retries || (e instanceof Error && e.name === 'AbortError')) throw e;
      await sleep(backoffMs(attempt, policy));
      continue;
    }
    const retryable = response.status >= 500 || response.status === 429;
    if (!retryable || attempt > policy.retries) return response;
    const wait = response.status === 429 ? retryAfterMs(response.headers.get('retry-after')) : backoffMs(attempt, policy);
    if (wait === undefined || wait > MAX_RETRY_AFTER_MS) return response;
    await response.body?.cancel();
    await sleep(wait);
  }
}

/** Retry-After in seconds or as an HTTP date; 1 s when the server says nothing usable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return 1000;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? 1000 : Math.max(0, at - now);
}
