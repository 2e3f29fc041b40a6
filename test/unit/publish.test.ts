// The publish layer's pure parts: the hub's fetch (token for the endpoint only, retries, Retry-After),
// where a release goes (flags over the manifest), and the tree comparison.
import { describe, expect, it } from 'vitest';
import { changes } from '../../src/publish/compare.js';
import { connectHub, retryAfterMs } from '../../src/publish/hub.js';
import { destinationOf, type LocalFile } from '../../src/publish/layout.js';

const policy = { retries: 3, baseMs: 1, maxMs: 2 };

function fakeFetch(statuses: number[], headers: Record<string, string> = {}) {
  const seen: { url: string; auth: string | null }[] = [];
  const base: typeof fetch = (input, init) => {
    seen.push({ url: input instanceof Request ? input.url : input.toString(), auth: new Headers(init?.headers).get('authorization') });
    return Promise.resolve(new Response('{}', { status: statuses.shift() ?? 200, headers }));
  };
  return { base, seen };
}

describe('the hub fetch', () => {
  it('sends the token to the endpoint only, never to upload URLs elsewhere, and replaces the one the library writes', async () => {
    const { base, seen } = fakeFetch([]);
    const hub = connectHub('https://hub.test', { token: 'hf_secret', source: 'HF_TOKEN' }, policy, base);
    const f = hub.fetchFor();
    await f('https://hub.test/api/whoami-v2', { headers: { Authorization: 'Bearer hf_placeholder' } });
    await f('https://storage.test/upload/abc', { method: 'PUT', headers: { Authorization: 'Bearer hf_placeholder' } });
    expect(seen.map((s) => s.auth)).toEqual(['Bearer hf_secret', null]);
  });

  it('tries a 5xx again with backoff, and gives up after the retries', async () => {
    const once = fakeFetch([500, 502]);
    expect((await connectHub('https://hub.test', undefined, policy, once.base).fetchFor()('https://hub.test/x')).status).toBe(200);
    expect(once.seen).toHaveLength(3);
    const always = fakeFetch([500, 500, 500, 500, 500]);
    expect((await connectHub('https://hub.test', undefined, policy, always.base).fetchFor()('https://hub.test/x')).status).toBe(500);
    expect(always.seen).toHaveLength(4);
    const refused = fakeFetch([412]);
    expect((await connectHub('https://hub.test', undefined, policy, refused.base).fetchFor()('https://hub.test/x')).status).toBe(412);
    expect(refused.seen).toHaveLength(1);
  });

  it("waits for a 429's Retry-After", async () => {
    const limited = fakeFetch([429], { 'retry-after': '1' });
    const start = Date.now();
    expect((await connectHub('https://hub.test', undefined, policy, limited.base).fetchFor()('https://hub.test/x')).status).toBe(200);
    expect(Date.now() - start).toBeGreaterThanOrEqual(950);
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(null)).toBe(1000);
  });
});

describe('where a release goes', () => {
  it('takes flags over publish.hub, names the libs repository under the organisation, and says what is missing', () => {
    expect(destinationOf({ org: 'a', libsRepo: 'libs' }, {})).toEqual({
      ok: true,
      value: { org: 'a', libsRepo: 'a/libs', weightsRepo: '{weights}', private: false },
    });
    expect(destinationOf({ org: 'a', private: true }, { org: 'b', libsRepo: 'c/d' })).toMatchObject({ value: { org: 'b', libsRepo: 'c/d', private: true } });
    expect(destinationOf({}, {})).toMatchObject({ ok: false, error: expect.stringContaining('set publish.hub.org') as unknown });
    expect(destinationOf({ org: 'a' }, { libsRepo: 'x/y/z' })).toMatchObject({ ok: false });
  });
});

describe('the tree comparison', () => {
  const file = (path: string, data: string): LocalFile => ({ path, size: Buffer.byteLength(data), sha256: '', source: { data } });
  it('sends what differs, deletes what the release lacks, never .gitattributes nor what it is told to keep', async () => {
    // git blob ids of "a" and "b".
    const remote = [
      { path: 'same.txt', size: 1, oid: '2e65efe2a145dda7ee51d1741299f848e5bf752e' },
      { path: 'changed.txt', size: 1, oid: '63d8dbd40c23542e740659a7168a0ce3138ea748' },
      { path: '.gitattributes', size: 10, oid: 'x' },
      { path: 'extra.txt', size: 1, oid: 'y' },
      { path: 'kept.txt', size: 1, oid: 'z' },
    ];
    const diff = await changes([file('same.txt', 'a'), file('changed.txt', 'c'), file('new.txt', 'n')], remote, (p) => p === 'kept.txt');
    expect(diff.upload.map((f) => f.path)).toEqual(['changed.txt', 'new.txt']);
    expect(diff.delete).toEqual(['extra.txt']);
    expect(diff.unchanged).toBe(1);
  });
});
