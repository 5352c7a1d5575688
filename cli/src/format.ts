// gRPC status names, so format.ts does not load grpc-js (or the kernel) for a usage error.
const STATUS_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const UNAVAILABLE = 14;

const td = new TextDecoder('utf-8', { fatal: false });

export const text = (b: Uint8Array): string => td.decode(b);

/** One line for stderr: the KvError code or gRPC status name, then the message. */
export function errorLine(e: unknown): string {
  // One line, whatever the library's message held (grpc-js puts OpenSSL's report on a second line).
  return errorText(e).replace(/\s*\n\s*/g, ' ').trim();
}

function errorText(e: unknown): string {
  const o = e as { code?: unknown; details?: unknown; message?: unknown };
  // A KvError (the server's, rebuilt by FlashKvClient) has a string code.
  if (e instanceof Error && typeof o.code === 'string') return `${o.code}: ${e.message}`;
  if (e instanceof Error && typeof o.code === 'number' && typeof o.details === 'string') {
    const name = STATUS_NAMES[o.code] ?? String(o.code);
    const hint = o.code === UNAVAILABLE ? ' (is `flashkv serve` running at --endpoint / FLASHKV_ENDPOINT?)' : '';
    return `${name}: ${o.details}${hint}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Left-aligned columns with a header row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
