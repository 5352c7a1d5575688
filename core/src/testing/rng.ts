/**
 * Seeded randomness for tests and simulations (STYLE.md habits 1 and 6): every random choice in
 * a FlashKV test goes through an Rng built from a printed seed, so `SEED=n` replays a failure.
 *
 * The generator is xoshiro128** (Blackman and Vigna, "Scrambled linear pseudorandom number
 * generators", 2018) seeded through splitmix32, chosen because it needs only 32-bit integer
 * arithmetic, which JS numbers do exactly with Math.imul and `>>> 0` (no bigint on the way).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`Rng seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    // splitmix32 spreads a small or structured seed over the whole 128-bit state; xoshiro must
    // never start from all zeros, which splitmix32 cannot produce four times in a row.
    let s = this.seed;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new TypeError(`Rng.int needs a positive safe integer, got ${n}`);
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in [lo, hi] (both inclusive). */
  between(lo: number, hi: number): number {
    if (hi < lo) throw new TypeError(`Rng.between needs lo <= hi, got ${lo} > ${hi}`);
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** `len` uniform random bytes in a fresh array. */
  bytes(len: number): Uint8Array {
    const out = new Uint8Array(len);
    let word = 0;
    for (let i = 0; i < len; i++) {
      if ((i & 3) === 0) word = this.u32();
      out[i] = word & 0xff;
      word >>>= 8;
    }
    return out;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new TypeError('Rng.pick from an empty array');
    return items[this.int(items.length)]!;
  }

  /** Fisher-Yates in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * An independent generator derived from this one, so a sub-task (one simulated node, one
   * op generator) draws from its own stream and adding draws elsewhere does not shift it.
   */
  fork(): Rng {
    return new Rng(this.u32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The seed of a randomised test: `SEED` from the environment (decimal or 0x-hex) to replay
 * a failure, otherwise a fresh one. Print it with the test (the differential harness puts
 * it in every failure message).
 */
export function testSeed(): number {
  const env = process.env['SEED'];
  if (env !== undefined && env.trim() !== '') {
    const text = env.trim();
    const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new TypeError(`SEED must be an unsigned 32-bit integer, got ${JSON.stringify(env)}`);
    return n;
  }
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
}
