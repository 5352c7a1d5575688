import {
  COLUMN_FAMILIES,
  definePlugin,
  ENGINE,
  KvError,
  WriteBatch,
  type ColumnFamily,
  type Token,
  type IterOptions,
  type Plugin,
  type StorageEngine,
} from '@flashkv/core';

/** The service this plugin adds to a kernel. */
export interface JsonlExporter {
  /**
   * Writes every entry of `cf` within `range` as one JSON line `{"cf","k","v"}` (hex) to `sink`,
   * from one snapshot, so concurrent writes never give a torn export. Returns the entry count.
   */
  exportCf(cf: ColumnFamily, sink: (line: string) => void, range?: IterOptions): number;
  /** Applies exported lines as one atomic batch. Returns the entry count. */
  importLines(lines: Iterable<string>): Promise<number>;
}

/** Our own contract token. Its description is what kernel errors print. */
export const JSONL_EXPORTER: Token<JsonlExporter> = Symbol('acme.jsonl-exporter');

export interface JsonlExportOptions {
  /** Refuse to import more than this many lines at once (default 1,000,000). */
  readonly maxImport?: number;
}

export function jsonlExport(options: JsonlExportOptions = {}): Plugin {
  const maxImport = options.maxImport ?? 1_000_000;
  let exporter: Exporter | undefined;
  return definePlugin({
    name: 'flashkv-plugin-jsonl-export',
    version: '1.0.0',
    core: '^0.1.0',
    requires: [ENGINE],
    provides: [JSONL_EXPORTER],
    register(ctx) {
      exporter = new Exporter(ctx.resolve(ENGINE), maxImport);
      ctx.provide(JSONL_EXPORTER, exporter);
    },
    stop() {
      exporter?.close();
    },
  });
}

class Exporter implements JsonlExporter {
  private closed = false;

  constructor(
    private readonly engine: StorageEngine,
    private readonly maxImport: number,
  ) {}

  exportCf(cf: ColumnFamily, sink: (line: string) => void, range: IterOptions = {}): number {
    this.assertOpen();
    if (!COLUMN_FAMILIES.includes(cf)) throw new TypeError(`unknown column family ${String(cf)}`);
    const snap = this.engine.snapshot();
    const it = snap.iterator(cf, range);
    let n = 0;
    try {
      for (it.first(); it.valid(); it.next()) {
        sink(JSON.stringify({ cf, k: hex(it.key()), v: hex(it.value()) }));
        n++;
      }
    } finally {
      it.close();
      snap.release();
    }
    return n;
  }

  async importLines(lines: Iterable<string>): Promise<number> {
    this.assertOpen();
    const batch = new WriteBatch();
    let lineNo = 0;
    for (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      if (batch.count >= this.maxImport) throw new KvError('INVALID_ARGUMENT', `import is larger than ${this.maxImport} entries`);
      const row = parseLine(line, lineNo);
      batch.put(row.cf, row.k, row.v);
    }
    // Nothing is written unless every line parsed: the batch is applied atomically.
    await this.engine.write(batch, { sync: true });
    return batch.count;
  }

  close(): void {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new KvError('KERNEL_STATE', 'the jsonl exporter was stopped with its kernel');
  }
}

function parseLine(line: string, lineNo: number): { cf: ColumnFamily; k: Uint8Array; v: Uint8Array } {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch {
    throw new KvError('INVALID_ARGUMENT', `line ${lineNo} is not JSON`);
  }
  const r = row as { cf?: unknown; k?: unknown; v?: unknown };
  if (!COLUMN_FAMILIES.includes(r.cf as ColumnFamily)) throw new KvError('INVALID_ARGUMENT', `line ${lineNo}: unknown column family ${JSON.stringify(r.cf)}`);
  return { cf: r.cf as ColumnFamily, k: unhex(r.k, lineNo), v: unhex(r.v, lineNo) };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function unhex(s: unknown, lineNo: number): Uint8Array {
  if (typeof s !== 'string' || !/^(?:[0-9a-f]{2})*$/i.test(s)) throw new KvError('INVALID_ARGUMENT', `line ${lineNo}: expected an even-length hex string`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}
