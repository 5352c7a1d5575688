/** Shared by the `server` bench suite and its child process. */
export const BENCH_TOKEN = 'bench-token';
export const KEY_BYTES = 16;
export const VALUE_BYTES = 64;

/** Key `i` of the loaded set: 'srv\0' + u32 i, padded to 16 bytes. */
export function benchKey(i: number, tag = 0x73727600): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  const v = new DataView(k.buffer);
  v.setUint32(0, tag);
  v.setUint32(4, i);
  return k;
}
