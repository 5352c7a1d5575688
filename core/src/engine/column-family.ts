/** The four column families of TiKV's data layout (FORMATS.md section 3.3, DESIGN.md section 4). */
export type ColumnFamily = 'default' | 'lock' | 'write' | 'raft';

export const COLUMN_FAMILIES: readonly ColumnFamily[] = ['default', 'lock', 'write', 'raft'];

export function isColumnFamily(cf: unknown): cf is ColumnFamily {
  return cf === 'default' || cf === 'lock' || cf === 'write' || cf === 'raft';
}

export function assertColumnFamily(cf: unknown): asserts cf is ColumnFamily {
  if (!isColumnFamily(cf)) {
    throw new TypeError(`unknown column family ${JSON.stringify(cf)}: expected one of ${COLUMN_FAMILIES.join(', ')}`);
  }
}
