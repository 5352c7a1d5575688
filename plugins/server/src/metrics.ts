import { createServer, type Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one server, in a registry of its own (no process-global state, so two
 * nodes in one process, as tests run them, do not share counters).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'flashkv_grpc_requests_total', help: 'gRPC calls by method and status code', labelNames: ['method', 'code'], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: 'flashkv_grpc_request_duration_seconds',
    help: 'gRPC call latency by method (streams: until the stream ends)',
    labelNames: ['method'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly flashbackKeys = new Gauge({ name: 'flashkv_flashback_keys_rewritten', help: 'keys rewritten by the latest flashback job streamed by this server', registers: [this.registry] });
  readonly flashbackRegions = new Gauge({ name: 'flashkv_flashback_regions_finished', help: 'regions finished by the latest flashback job streamed by this server', registers: [this.registry] });

  /** Server-streaming calls open now, by method (Changefeed, Flashback): read at scrape time from `openStreams`. */
  openStreams: () => Record<string, number> = () => ({});
  readonly openStreamsGauge = new Gauge({
    name: 'flashkv_grpc_open_streams',
    help: 'server-streaming calls currently open, by method (a client that left must not stay counted)',
    labelNames: ['method'],
    registers: [this.registry],
    collect: () => {
      for (const [method, n] of Object.entries(this.openStreams())) this.openStreamsGauge.set({ method }, n);
    },
  });

  /** Call at the start of a call; the returned function records it with its final status. */
  begin(method: string): (code: grpc.status) => void {
    const t0 = process.hrtime.bigint();
    return (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.histogramOf(method).observe(seconds);
      this.counterOf(method, code).inc();
    };
  }

  // Label children cached per method and code: prom-client would hash the label object on every call.
  private readonly histograms = new Map<string, { observe(v: number): void }>();
  private readonly counters = new Map<string, { inc(): void }>();

  private histogramOf(method: string): { observe(v: number): void } {
    let h = this.histograms.get(method);
    if (h === undefined) this.histograms.set(method, (h = this.latency.labels({ method })));
    return h;
  }

  private counterOf(method: string, code: grpc.status): { inc(): void } {
    const key = `${method} ${code}`;
    let c = this.counters.get(key);
    if (c === undefined) this.counters.set(key, (c = this.requests.labels({ method, code: grpc.status[code] ?? String(code) })));
    return c;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** `GET /metrics` over HTTP, needing the same bearer token as the gRPC API. */
export async function serveMetrics(metrics: ServerMetrics, address: string, authorised: (header: string | undefined) => boolean): Promise<{ server: HttpServer; port: number }> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (m === null) throw new TypeError(`metrics address must be host:port, got "${address}"`);
  const server = createServer((req, res) => {
    if (!authorised(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('missing or wrong bearer token\n');
      return;
    }
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1], () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : Number(m[2]) };
}
