// src/net owns talking HTTP: one client on node's http/https with keep-alive sockets (a large
// download reads its body straight from a connection of its own into reused buffers); connect,
// first-byte and idle timeouts (never a deadline for a whole transfer); the resumable, verified GET
// (Range resume, sha256 while writing, expected size and digest, bounded retries with backoff and
// jitter); PUT with a streamed body; HEAD and small GETs. Failures are values (`NetFailure`, with a
// reason to switch on). It knows nothing of what the bytes are: the hub source and the remote
// cache both stand on it.
export { HttpClient, type Answer, type HttpClientOptions, type RequestOptions, type SmallBody } from './client.js';
export type { DownloadOptions, Downloaded } from './download.js';
export type { StreamBody, Timeouts } from './exchange.js';
export { transient, type NetFailure, type NetReason, type TimeoutPhase } from './failure.js';
export { backoffMs, DEFAULT_RETRY, type RetryPolicy } from './backoff.js';
export { fileSink, streamSink, type DownloadSink } from './sink.js';
