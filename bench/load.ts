import autocannon from 'autocannon';

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx answers, transport errors and GraphQL errors seen in sampled bodies. */
  failures: number;
}

export interface GraphqlWork {
  query: string;
  variables?: Record<string, unknown>;
}

/**
 * Drives a GraphQL endpoint with autocannon: `connections` keep-alive connections, each sending its next request
 * as soon as the previous answered, for `seconds`. `next` may vary the body per request (e.g. rotate sources).
 */
export async function loadGraphql(
  url: string,
  work: GraphqlWork | (() => GraphqlWork),
  options: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<LoadResult> {
  const body = (w: GraphqlWork) => JSON.stringify({ query: w.query, variables: w.variables ?? {} });
  const next = typeof work === 'function' ? work : () => work;
  let graphqlErrors = 0;
  let sampled = 0;
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: body(next()) }),
        onResponse: (status, responseBody) => {
          // Checking every body would make the generator the bottleneck; one in 50 is enough to catch errors.
          if (sampled++ % 50 !== 0) return;
          if (status !== 200 || responseBody.includes('"errors"')) graphqlErrors += 1;
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.total / options.seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts + graphqlErrors,
  };
}

/** The same load as loadGraphql on a GET route (the REST face): every request the same URL. */
export async function loadGet(url: string, options: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<LoadResult> {
  let failures = 0;
  let sampled = 0;
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.seconds,
    method: 'GET',
    headers: options.headers,
    requests: [
      {
        onResponse: (status) => {
          if (sampled++ % 50 === 0 && status !== 200) failures += 1;
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.total / options.seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts + failures,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The same shape of load without HTTP: `workers` concurrent loops calling `once` for `seconds`. */
export async function loadLoop(once: () => Promise<void>, options: { workers: number; seconds: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  const deadline = performance.now() + options.seconds * 1000;
  let failures = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        await once();
        latencies.push(performance.now() - started);
      } catch {
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, worker));
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / options.seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requests: latencies.length,
    failures,
  };
}
