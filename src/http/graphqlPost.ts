import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { chain, processRegularResult, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { RequestLimits } from '../config.js';
import type { GatewayContext } from '../graphql/context.js';

type ServerContext = { req: IncomingMessage; res: ServerResponse };
type GatewayYoga = YogaServerInstance<ServerContext, GatewayContext>;
type AnyHook = (payload: Record<string, unknown>) => unknown;

/**
 * Yoga's own JSON test (`application/json` or `application/graphql+json`, parameters allowed, the first of a list):
 * a body it would read another way (multipart uploads, forms, `application/graphql`) is left to it.
 */
function isJsonContentType(value: string | undefined): boolean {
  const type = value?.split(',')[0];
  if (!type) return false;
  return ['application/json', 'application/graphql+json'].some((json) => type === json || type.startsWith(`${json};`));
}

/**
 * Whether a request may be answered by `GraphqlJsonPost`: a JSON POST whose declared length is within the query
 * limit, asking for a plain JSON answer. Everything else (GET, uploads, forms, a body without a length or over the
 * limit, streamed answers) goes to Yoga's own node adapter, which refuses or serves it as before.
 */
export function takesBufferedJson(req: IncomingMessage, limits: RequestLimits): boolean {
  if (req.method !== 'POST') return false;
  const { headers } = req;
  if (!isJsonContentType(headers['content-type'])) return false;
  const length = headers['content-length'];
  if (length === undefined || !/^\d+$/.test(length) || Number(length) > limits.queryBytes) return false;
  if (headers['transfer-encoding'] !== undefined) return false;
  const accept = headers.accept?.toLowerCase();
  return !accept || !(accept.includes('event-stream') || accept.includes('multipart'));
}

/** The request's headers as the fetch API reads them, straight from node's parsed object (no copy). */
class NodeHeaders {
  constructor(private readonly raw: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  forEach(callback: (value: string, name: string, headers: NodeHeaders) => void): void {
    for (const name of Object.keys(this.raw)) callback(this.get(name)!, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw)) yield [name, this.get(name)!];
  }

  keys(): IterableIterator<string> {
    return Object.keys(this.raw)[Symbol.iterator]();
  }

  *values(): IterableIterator<string> {
    for (const name of Object.keys(this.raw)) yield this.get(name)!;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * The part of a fetch `Request` Yoga and its plugins read, over a body already in memory. The fetch adapter would
 * wrap the socket in a web stream, an abort controller and a body reader per request; under load those were a
 * fifth of the gateway's CPU. `json()` and `text()` answer as the adapter's do (the same decoding, the same
 * message for bad JSON), so Yoga's parser refuses the same bodies with the same errors.
 */
class BufferedJsonRequest {
  readonly method = 'POST';
  /** No stream: Yoga's streaming size limit has nothing to wrap, the declared length was checked up front. */
  readonly body = null;
  readonly bodyUsed = false;
  readonly headers: NodeHeaders;
  private controller: AbortController | null = null;

  constructor(
    readonly url: string,
    req: IncomingMessage,
    private readonly bodyText: string,
    private readonly res: ServerResponse,
  ) {
    this.headers = new NodeHeaders(req.headers);
  }

  text(): Promise<string> {
    return Promise.resolve(this.bodyText);
  }

  json(): Promise<unknown> {
    return new Promise((resolve) => {
      try {
        resolve(JSON.parse(this.bodyText));
      } catch (error) {
        if (error instanceof SyntaxError) error.message += `, "${this.bodyText}" is not valid JSON`;
        throw error;
      }
    });
  }

  /** Made when something asks (nothing in the gateway does): aborted when the client leaves before the answer. */
  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      const res = this.res;
      res.once('close', () => {
        if (!res.writableFinished) controller.abort();
      });
    }
    return this.controller.signal;
  }
}

/** The headers of an answer, as the response hooks read and set them (names are case-insensitive). */
class AnswerHeaders {
  private readonly map = new Map<string, string>();

  constructor(init?: Record<string, string>) {
    if (init) for (const [name, value] of Object.entries(init)) this.set(name, value);
  }

  get(name: string): string | null {
    return this.map.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }

  set(name: string, value: string): void {
    this.map.set(name.toLowerCase(), String(value));
  }

  append(name: string, value: string): void {
    const known = this.get(name);
    this.set(name, known === null ? value : `${known}, ${value}`);
  }

  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }

  forEach(callback: (value: string, name: string, headers: AnswerHeaders) => void): void {
    for (const [name, value] of this.map) callback(value, name, this);
  }

  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  values(): IterableIterator<string> {
    return this.map.values();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.map.entries();
  }
}

/** An answer with its body as text: what Yoga's JSON result processor makes, kept as text until it is written. */
class Answer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: AnswerHeaders;

  constructor(
    readonly text: string | null,
    init: { status?: number; statusText?: string; headers?: Record<string, string> } = {},
  ) {
    this.status = init.status ?? 200;
    this.statusText = init.statusText ?? '';
    this.headers = new AnswerHeaders(init.headers);
  }
}

/** What the request hooks may ask that only Yoga's own adapter does (answer early, swap the request): it serves these. */
class LeavesTheShortPath extends Error {}

function leave(): never {
  throw new LeavesTheShortPath();
}

/** The hooks of Yoga's plugins that act on the HTTP request and answer, in Yoga's order. */
interface RequestHooks {
  onRequest: AnyHook[];
  onRequestParse: AnyHook[];
  onParams: AnyHook[];
  onExecutionResult: AnyHook[];
  onResultProcess: AnyHook[];
  onResponse: AnyHook[];
  instrumentRequest?: (payload: { request: unknown }, wrapped: () => Promise<void> | void) => Promise<void> | void;
}

/**
 * Reads the request hooks off the plugins Yoga was made with, as Yoga and its adapter read them; null when a plugin
 * instruments a phase other than the request as a whole, which only Yoga's own pipeline knows how to wrap.
 */
function requestHooksOf(yoga: GatewayYoga): RequestHooks | null {
  // The list Yoga iterates for its hooks and hands its adapter (a protected field of the server, read through the adapter).
  const plugins = (yoga as unknown as { plugins: (Plugin | undefined)[] }).plugins;
  const hooks: RequestHooks = { onRequest: [], onRequestParse: [], onParams: [], onExecutionResult: [], onResultProcess: [], onResponse: [] };
  type Instrumentation = Parameters<typeof chain>[0];
  let instrumentation: Instrumentation | undefined;
  for (const plugin of plugins) {
    if (!plugin) continue;
    const named = plugin as unknown as Record<string, unknown>;
    for (const name of ['onRequest', 'onRequestParse', 'onParams', 'onExecutionResult', 'onResultProcess', 'onResponse'] as const) {
      if (typeof named[name] === 'function') hooks[name].push(named[name] as AnyHook);
    }
    const own = named.instrumentation as Instrumentation | undefined;
    if (!own) continue;
    if (Object.keys(own).some((phase) => phase !== 'request')) return null;
    instrumentation = instrumentation ? chain(instrumentation, own) : own;
  }
  hooks.instrumentRequest = instrumentation?.request as RequestHooks['instrumentRequest'];
  return hooks;
}

function readBody(req: IncomingMessage, length: number): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    req.once('end', () => resolve(received === length ? Buffer.concat(chunks, received).toString('utf-8') : null));
    req.once('error', () => resolve(null));
    req.once('aborted', () => resolve(null));
  });
}

/** The body of a fetch `Response` as node writes it; Yoga's JSON answers hold their text already. */
async function responseBody(response: Response): Promise<string | Buffer | null> {
  const held = response as unknown as { bodyType?: string; bodyInit?: unknown };
  if (held.bodyType === 'String' && typeof held.bodyInit === 'string') return held.bodyInit;
  if (response.body === null) return null;
  return Buffer.from(await response.arrayBuffer());
}

function writeAnswer(res: ServerResponse, status: number, headers: { forEach(callback: (value: string, name: string) => void): void }, body: string | Buffer | null): void {
  if (res.destroyed || res.writableEnded) return;
  res.statusCode = status;
  headers.forEach((value, name) => res.setHeader(name, value));
  res.end(body);
}

function writeFailure(res: ServerResponse): void {
  if (res.destroyed || res.writableEnded) return;
  if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }));
}

function isThenable(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as Promise<unknown>).then === 'function';
}

/**
 * Calls each hook with the same payload, in order, waiting only for one that returned a promise: most are
 * synchronous, and an await costs a turn of the queue. Undefined when none had to be waited for.
 */
function callHooks(hooks: readonly AnyHook[], payload: Record<string, unknown>, from = 0): Promise<unknown> | undefined {
  for (let index = from; index < hooks.length; index++) {
    const returned = hooks[index]!(payload);
    if (isThenable(returned)) return returned.then(() => callHooks(hooks, payload, index + 1));
  }
  return undefined;
}

const ignoreRejection = () => undefined;

/** Background work a plugin hands over; nothing of the gateway's waits for it. */
function waitUntil(pending: unknown): void {
  void Promise.resolve(pending).catch(ignoreRejection);
}

/** The request's URL as Yoga hands it to hooks: parsed when a hook first reads a part of it. */
const LAZY_URL: ProxyHandler<Exchange> = {
  get(exchange, name) {
    const url = exchange.url;
    return Reflect.get(url, name, url);
  },
};

/**
 * One request on the short path: what the hooks read and may change. The hooks' setters are methods bound once
 * per request rather than closures made per hook call.
 */
class Exchange {
  readonly serverContext: ServerContext & { waitUntil: (pending: unknown) => void };
  requestParser: unknown = undefined;
  result: ExecutionResult | undefined;
  processor: unknown = undefined;
  mediaType = '*/*';
  readonly acceptable: string[] = [];
  readonly lazyUrl: URL;
  private parsedUrl: URL | undefined;

  constructor(
    readonly request: BufferedJsonRequest,
    readonly params: Record<string, unknown>,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    this.serverContext = { req, res, waitUntil };
    this.lazyUrl = new Proxy(this, LAZY_URL) as unknown as URL;
    this.setRequestParser = this.setRequestParser.bind(this);
    this.setResult = this.setResult.bind(this);
    this.setResultProcessor = this.setResultProcessor.bind(this);
  }

  /** Parsed when a hook reads it (through `lazyUrl`); none of the gateway's does for a POST to /graphql. */
  get url(): URL {
    this.parsedUrl ??= new URL(this.request.url);
    return this.parsedUrl;
  }

  setRequestParser(parser: unknown): void {
    this.requestParser = parser;
  }

  setResult(result: ExecutionResult): void {
    this.result = result;
  }

  setResultProcessor(processor: unknown, mediaType: string): void {
    this.processor = processor;
    this.mediaType = mediaType;
  }
}

/**
 * Serves JSON POSTs to /graphql (see `takesBufferedJson`) without the fetch adapter Yoga runs on: the body is read
 * into memory first (its length is known and within the query limit), and the answer is written straight to the
 * socket. Everything between is Yoga's: its plugins' request hooks and instrumentation, the parser's checks,
 * `handleParams` (parse, validate, context, execute through the envelop plugins, error masking), the result
 * processors and the response hooks, called in Yoga's order with what Yoga passes them.
 *
 * A single operation takes the short path, which calls those hooks directly; a hook that would answer early or
 * replace the request or the params, a hook that refuses the request (an error answer is Yoga's to shape), and a
 * batch go through Yoga's own `handleRequest` on the same buffered body instead, so each of them is answered exactly
 * as Yoga answers it.
 */
export class GraphqlJsonPost {
  private readonly hooks: RequestHooks | null;

  constructor(private readonly yoga: GatewayYoga) {
    this.hooks = requestHooksOf(yoga);
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const bodyText = await readBody(req, Number(req.headers['content-length']));
    // The client left, or sent less than it declared: there is nobody to answer.
    if (bodyText === null) {
      res.destroy();
      return;
    }
    const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/graphql'}`;
    try {
      if (this.hooks) {
        const exchange = this.exchangeOf(new BufferedJsonRequest(url, req, bodyText, res), bodyText, req, res);
        if (exchange && (await this.shortPath(this.hooks, exchange))) return;
      }
      const response = await this.yoga.handleRequest(new BufferedJsonRequest(url, req, bodyText, res) as unknown as Request, { req, res });
      if (res.destroyed || res.writableEnded) return;
      writeAnswer(res, response.status, response.headers, await responseBody(response));
    } catch {
      // Yoga turns every failure of an operation into a GraphQL answer; this is a hook that threw on the way out.
      writeFailure(res);
    }
  }

  /** A single operation's exchange; null for a body Yoga's parser would refuse or read as a batch. */
  private exchangeOf(request: BufferedJsonRequest, bodyText: string, req: IncomingMessage, res: ServerResponse): Exchange | null {
    let params: unknown;
    try {
      params = JSON.parse(bodyText);
    } catch {
      return null;
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) return null;
    return new Exchange(request, params as Record<string, unknown>, req, res);
  }

  /** False when the request left the short path before its operation ran (see the class). */
  private async shortPath(hooks: RequestHooks, exchange: Exchange): Promise<boolean> {
    if (!hooks.instrumentRequest) return this.answer(hooks, exchange);
    let answered = false;
    await hooks.instrumentRequest({ request: exchange.request }, async () => {
      answered = await this.answer(hooks, exchange);
    });
    return answered;
  }

  private async answer(hooks: RequestHooks, exchange: Exchange): Promise<boolean> {
    let answer: Answer;
    try {
      answer = await this.operation(hooks, exchange);
    } catch (error) {
      if (error instanceof LeavesTheShortPath) return false;
      throw error;
    }
    const { request, serverContext } = exchange;
    const payload = { request, response: answer, serverContext, setResponse: leave, fetchAPI: this.yoga.fetchAPI };
    const pending = callHooks(hooks.onResponse, payload);
    if (pending) await pending;
    writeAnswer(serverContext.res, answer.status, answer.headers, answer.text);
    return true;
  }

  private async operation(hooks: RequestHooks, exchange: Exchange): Promise<Answer> {
    const yoga = this.yoga;
    const fetchAPI = yoga.fetchAPI;
    const { request, params, serverContext } = exchange;

    const url = exchange.lazyUrl;
    const onRequestPayload = { request, setRequest: leave, serverContext, fetchAPI, url, requestHandler: undefined, setRequestHandler: leave, endResponse: leave };
    const requested = callHooks(hooks.onRequest, onRequestPayload);
    if (requested) await requested;
    // The parser hooks choose a parser for the content type (already known to be JSON, and parsed) and check the
    // request; one that refuses it throws, and Yoga shapes that answer.
    try {
      const parseDone: AnyHook[] = [];
      for (const onRequestParse of hooks.onRequestParse) {
        const payload = { request, url, requestParser: exchange.requestParser, serverContext, setRequestParser: exchange.setRequestParser, endResponse: leave, fetchAPI };
        let returned = onRequestParse(payload);
        if (isThenable(returned)) returned = await returned;
        const done = (returned as { onRequestParseDone?: AnyHook } | undefined)?.onRequestParseDone;
        if (done) parseDone.push(done);
      }
      if (!exchange.requestParser) leave();
      const parsed = callHooks(parseDone, { requestParserResult: params, setRequestParserResult: leave });
      if (parsed) await parsed;
      const paramsPayload = { params, request, setParams: leave, paramsHandler: yoga.handleParams, setParamsHandler: leave, setResult: leave, fetchAPI, context: serverContext };
      const checked = callHooks(hooks.onParams, paramsPayload);
      if (checked) await checked;
    } catch (error) {
      if (error instanceof LeavesTheShortPath) throw error;
      leave();
    }

    exchange.result = (await yoga.handleParams({ request: request as unknown as Request, context: serverContext as never, params: params as never })) as ExecutionResult;
    // Each hook sees the result and processor the hooks before it left, as Yoga hands them on.
    for (const onExecutionResult of hooks.onExecutionResult) {
      const returned = onExecutionResult({ result: exchange.result, setResult: exchange.setResult, request, context: serverContext });
      if (isThenable(returned)) await returned;
    }
    for (const onResultProcess of hooks.onResultProcess) {
      const returned = onResultProcess({
        request,
        acceptableMediaTypes: exchange.acceptable,
        result: exchange.result,
        setResult: exchange.setResult,
        resultProcessor: exchange.processor,
        setResultProcessor: exchange.setResultProcessor,
        serverContext,
      });
      if (isThenable(returned)) await returned;
    }
    const { processor, mediaType, result } = exchange;
    if (!processor) {
      return new Answer(null, { status: 406, statusText: 'Not Acceptable', headers: { accept: exchange.acceptable.join('; charset=utf-8, ') } });
    }
    if (processor === processRegularResult) return processRegularResult(result!, { Response: Answer } as never, mediaType) as unknown as Answer;
    // Another processor (none is chosen for the media types this path takes): its fetch Response, read whole.
    type Processor = (result: ExecutionResult, fetch: typeof fetchAPI, type: string) => Response | Promise<Response>;
    const response = await (processor as Processor)(result!, fetchAPI, mediaType);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    return new Answer(response.body === null ? null : await response.text(), { status: response.status, headers });
  }
}
