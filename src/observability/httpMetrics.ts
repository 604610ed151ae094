import { Counter, Histogram, type Registry } from 'prom-client';

/** Seconds; the same buckets as the GraphQL durations, so the two faces compare on one dashboard. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export interface HttpMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
}

/**
 * Requests of the REST face, the media routes and /health, by route pattern (`/items/:item_id`, never the
 * path itself, so ids do not become series) and status. GraphQL operations have their own metrics.
 */
export function httpMetrics(registry: Registry): HttpMetrics {
  const requests = new Counter({
    name: 'sx_http_requests_total',
    help: 'Requests answered by the REST face, the media routes and /health, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'sx_http_request_duration_seconds',
    help: 'Time from a REST, media or /health request to its answer (seconds), by route pattern and method',
    labelNames: ['route', 'method'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  return {
    observe(method, route, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route, method }, seconds);
    },
  };
}
