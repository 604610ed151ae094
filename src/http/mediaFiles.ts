import { Readable } from 'node:stream';
import send from '@fastify/send';
import type { GatewayConfig } from '../config.js';
import { ERROR_CODES, GatewayError, type ErrorCode } from '../errors.js';
import type { SourceRecord, Store } from '../interfaces.js';
import { itemMediaPaths } from '../notes/index.js';
import { findMediaFile, mediaPathFields, type MediaKind, type MediaRefusal } from '../notes/mediaFile.js';
import { itemsByIds } from '../queries/listItems.js';
import { effectiveMediaSettings } from '../sources/mediaSettings.js';
import { assertProfileMatches, assertSourceId } from '../sources/sourceId.js';

/**
 * `GET`/`HEAD /media/cover/:itemId` and `/media/video/:itemId`: an item's cover or video, streamed from the
 * source's `<vaultRoot>/<dataDir>`. The route logic (`serveMedia`) takes plain values and returns a plain answer,
 * so the HTTP framework that mounts it (src/http/rest/mediaRoutes.ts) stays a thin mapping.
 *
 * Range and conditional requests are @fastify/send's: one range (`a-b`, `a-`, `-n`, an end past the file
 * clamped) is a 206; ranges that overlap or touch are merged into one 206; several disjoint ranges are answered
 * with the whole file (200), never multipart; a range that starts past the end is a 416 with
 * `Content-Range: bytes *\/size`. `If-None-Match` / `If-Modified-Since` give 304, `If-Match` /
 * `If-Unmodified-Since` 412, an `If-Range` that does not match the current validator the whole file.
 */

/** The parts of a request the route reads; header names in lower case, as node's `IncomingHttpHeaders`. */
export interface MediaRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Answers of the HTTP layer itself, which no resolver or store raises: they are not GatewayErrors (the
 * GraphQL error codes live in src/errors.ts), but a client matches on them the same way.
 */
export type HttpOnlyCode = 'METHOD_NOT_ALLOWED' | 'INTERNAL_SERVER_ERROR';

/** The original's error shape (`detail`) with the gateway's code; `reason` says which media rule refused. */
export interface MediaErrorBody {
  detail: string;
  code: ErrorCode | HttpOnlyCode;
  reason?: MediaRefusal;
}

export interface MediaAnswer {
  status: number;
  headers: Record<string, string>;
  /** The file or its slice; null for HEAD, 304, and error answers (which carry `error`). */
  stream: Readable | null;
  error?: MediaErrorBody;
}

const REFUSAL_DETAIL: Record<MediaRefusal, string> = {
  VAULT_NOT_CONFIGURED: "Source media root is not configured (set the source's vault with source-settings, or SX_VAULT_ROOT)",
  PATH_REFUSED: 'Media file not found (the stored path leaves the media folder)',
  FILE_MISSING: 'Media file not found',
};

// The original's fallbacks when the extension names no type.
const FALLBACK_TYPE: Record<MediaKind, string> = { cover: 'image/jpeg', video: 'video/mp4' };

function errorAnswer(status: number, error: MediaErrorBody, headers: Record<string, string> = {}): MediaAnswer {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers }, stream: null, error };
}

function gatewayErrorAnswer(error: GatewayError): MediaAnswer {
  return errorAnswer(ERROR_CODES[error.code], { detail: error.message, code: error.code });
}

function headerValue(headers: MediaRequest['headers'], name: string): string | null {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first.trim() === '' ? null : first.trim();
}

/**
 * The source a media request names, in the original's order: `X-SX-Source-ID`, then `?source_id`; null when
 * neither is given (the default source answers then).
 */
export function requestedMediaSource(headers: MediaRequest['headers'], query: URLSearchParams): string | null {
  const fromQuery = query.get('source_id');
  return headerValue(headers, 'x-sx-source-id') ?? (fromQuery === null || fromQuery === '' ? null : fromQuery);
}

async function chosenSource(store: Store, sourceId: string | null): Promise<string> {
  if (sourceId !== null) return assertSourceId(sourceId);
  const fallback = (await store.listSources()).find((source) => source.isDefault);
  if (!fallback) {
    throw new GatewayError('SOURCE_ID_MISSING', 'Missing source: send ?source_id= or the X-SX-Source-ID header (no default source is set)');
  }
  return fallback.id;
}

/** The item's stored row read through a binding that ends before the file is streamed. */
async function readItem(store: Store, sourceId: string, itemId: string): Promise<{ source: SourceRecord; item: Parameters<typeof mediaPathFields>[0] | undefined }> {
  const binding = await store.openTenant(sourceId);
  let ok = false;
  try {
    const item = (await itemsByIds(binding.db, [itemId])).get(itemId);
    ok = true;
    return { source: binding.source, item };
  } finally {
    await binding.finish(ok);
  }
}

/**
 * One media request. `sourceId` is what the client named (null: the default source), `itemId` the decoded
 * path parameter. Store errors with a code (unknown source, invalid id) become answers; anything else throws.
 */
export async function serveMedia(
  store: Store,
  config: GatewayConfig,
  sourceIdInput: string | null,
  itemIdInput: string,
  kind: MediaKind,
  request: MediaRequest,
): Promise<MediaAnswer> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return errorAnswer(405, { detail: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED' }, { Allow: 'GET, HEAD' });
  }
  let sourceId: string;
  let found: Awaited<ReturnType<typeof readItem>>;
  try {
    sourceId = await chosenSource(store, sourceIdInput);
    assertProfileMatches(sourceId, headerValue(request.headers, 'x-sx-profile-index'));
    // PostgreSQL text cannot hold U+0000, so such an id is answered here, the same in both stores: no item has it.
    if (itemIdInput === '' || itemIdInput.includes('\0')) return errorAnswer(404, { detail: 'Not found', code: 'NOT_FOUND' });
    found = await readItem(store, sourceId, itemIdInput);
  } catch (error) {
    if (error instanceof GatewayError) return gatewayErrorAnswer(error);
    throw error;
  }
  const sourceHeader = { 'X-SX-Source-ID': sourceId };
  if (!found.item) return errorAnswer(404, { detail: 'Not found', code: 'NOT_FOUND' }, sourceHeader);

  const settings = effectiveMediaSettings(found.source.media, config.media);
  const relative = itemMediaPaths(mediaPathFields(found.item), settings)[kind].relative;
  const file = await findMediaFile(settings, relative);
  if (!file.found) {
    return errorAnswer(404, { detail: REFUSAL_DETAIL[file.refusal], code: 'MEDIA_NOT_FOUND', reason: file.refusal }, sourceHeader);
  }

  // send() takes a URL-encoded path under `root`; it refuses `..` and NUL once more, and opens the real path
  // found above, so a symlink is not followed a second time.
  const inFolder = file.path
    .slice(file.dataFolder.length + 1)
    .split(/[\\/]/)
    .map(encodeURIComponent)
    .join('/');
  const sent = await send({ method: request.method, headers: sendHeaders(request.headers) } as unknown as Readable, inFolder, {
    root: file.dataFolder,
    dotfiles: 'allow',
    index: false,
    // The original sends no Cache-Control; clients revalidate with the ETag.
    cacheControl: false,
    contentType: false,
  });
  if (sent.type !== 'file') {
    sent.stream.destroy();
    // Anything but a range or precondition answer means the file changed since the lookup (removed, now a folder).
    if (sent.statusCode !== 416 && sent.statusCode !== 412) {
      return errorAnswer(404, { detail: REFUSAL_DETAIL.FILE_MISSING, code: 'MEDIA_NOT_FOUND', reason: 'FILE_MISSING' }, sourceHeader);
    }
    // Empty, as the original's 416; a 416 says the size in `Content-Range: bytes */size`.
    const headers: Record<string, string> = { ...sourceHeader, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' };
    if (sent.headers['Content-Range']) headers['Content-Range'] = sent.headers['Content-Range'];
    return { status: sent.statusCode, headers, stream: null };
  }
  const headers: Record<string, string> = { ...sourceHeader };
  for (const [name, value] of Object.entries(sent.headers)) headers[name] = String(value);
  if (sent.statusCode !== 304) headers['Content-Type'] = send.mime.getType(file.path) ?? FALLBACK_TYPE[kind];
  const empty = request.method === 'HEAD' || sent.statusCode === 304;
  if (empty) sent.stream.destroy();
  return { status: sent.statusCode, headers, stream: empty ? null : sent.stream };
}

/** @fastify/send reads conditional and Range headers as single strings. */
function sendHeaders(headers: MediaRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
