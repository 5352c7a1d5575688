/**
 * Three forms of a key that are all byte arrays at run time (STYLE.md "Names"). The brands are
 * compile-time only, so mixing a raw user key into a place that expects an encoded one (the
 * commonest MVCC bug) fails to type-check, and costs nothing when it runs.
 */
declare const keyForm: unique symbol;

/** A user key as the client sent it. */
export type RawKey = Uint8Array & { readonly [keyForm]: 'raw' };
/** `Key::from_raw`: the memcomparable encoding of a raw key (FORMATS.md 1.1), the lock-CF key. */
export type EncodedKey = Uint8Array & { readonly [keyForm]: 'encoded' };
/** An encoded key followed by the 8-byte `!ts` suffix (FORMATS.md section 3), the write/default-CF key. */
export type TsKey = Uint8Array & { readonly [keyForm]: 'ts' };

/** Marks bytes as a raw user key (no copy, no check). */
export function asRawKey(bytes: Uint8Array): RawKey {
  return bytes as RawKey;
}

/**
 * Marks bytes as an encoded key as-is, like TiKV's `Key::from_encoded` (no copy, no check; use
 * `decodeBytes` when the bytes come from outside and must be validated).
 */
export function asEncodedKey(bytes: Uint8Array): EncodedKey {
  return bytes as EncodedKey;
}

/** Marks bytes as a timestamped key as-is (no copy, no check). */
export function asTsKey(bytes: Uint8Array): TsKey {
  return bytes as TsKey;
}
