// Refusals, said so that the user knows what to fix: a token the hub refuses names where it came
// from (HF_TOKEN, the token file …) and never its value; a repository-level 403 names the repository.
// Write access is asked of whoami before anything is uploaded.
import { HubApiError, whoAmI } from '@huggingface/hub';
import { err, ok, type Result } from '../result.js';
import { LIBRARY_CREDENTIALS, type Hub } from './hub.js';

/** What the user reads when a hub call fails: `what` is the action ("committing to org/x"). */
export function describeHubError(e: unknown, hub: Hub, what: string, repo?: string): string {
  if (e instanceof HubApiError) {
    const status = e.statusCode;
    if (status === 401) return `${what}: HTTP 401: ${refusedToken(hub)}`;
    if (status === 403) {
      const whose = hub.token ? `the token from ${hub.token.source}` : 'no token';
      return `${what}: HTTP 403: ${whose} may not write to ${repo ?? 'this repository'}; use a token with write access to it`;
    }
    return `${what}: HTTP ${status}: ${firstLine(e.message)}`;
  }
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined;
  if (message === 'fetch failed') return `${what}: cannot reach ${hub.endpoint} (${cause ?? message}); check the network, or HF_ENDPOINT`;
  return `${what}: ${message}`;
}

function refusedToken(hub: Hub): string {
  return hub.token
    ? `the hub refused the token from ${hub.token.source} (expired, revoked or mistyped?)`
    : 'no token: set HF_TOKEN, pass --token-file, or log in with `huggingface-cli login`';
}

const firstLine = (s: string) => s.split('\n')[0] ?? s;

/**
 * The token is accepted and may write under `org`: a read-only token, or a user's token for an
 * organisation it is not a member of, is refused here rather than after the first upload.
 */
export async function checkWriteAccess(hub: Hub, org: string): Promise<Result<string, string>> {
  if (!hub.token) return err(`publishing to ${hub.endpoint}: ${refusedToken(hub)}`);
  let me: Awaited<ReturnType<typeof whoAmI>>;
  try {
    me = await whoAmI({ ...LIBRARY_CREDENTIALS, hubUrl: hub.endpoint, fetch: hub.fetchFor() });
  } catch (e) {
    return err(describeHubError(e, hub, 'checking the token (whoami)'));
  }
  const role = me.auth.accessToken?.role;
  if (role === 'read') return err(`the token from ${hub.token.source} is read-only: publishing needs a token with write access to ${org}`);
  if (me.type === 'user' && me.name !== org && !me.orgs.some((o) => o.name === org)) {
    return err(
      `the token from ${hub.token.source} belongs to ${me.name}, who is not a member of ${org}: set publish.hub.org (or --org) to a namespace it may write to`,
    );
  }
  return ok(me.name);
}
