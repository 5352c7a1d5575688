// @hot-path
import { cmp } from './compare.js';
import type { Slab } from './slab.js';

/**
 * A copy-on-write B+tree over byte-string keys.
 *
 * Snapshots without copying: every node carries the epoch it was created (or last copied) in.
 * `freeze()` hands out the current root and marks the tree shared; the next mutation bumps the
 * epoch, so every existing node is now older than the tree and is treated as read-only. A
 * write then copies the nodes on its root-to-leaf path once (path copying, as in Driscoll et
 * al., "Making data structures persistent", 1989) and mutates the copies; later writes in the
 * same epoch find the copies current and mutate them in place. A frozen root therefore keeps
 * seeing exactly the tree it was taken from, and taking one is O(1).
 *
 * Invariant the fast path relies on: a node never points to a node with a newer epoch (a node
 * is only written while current, and its children are then current or older). So when a leaf
 * is current, its whole path is, and the write needs no copying at all.
 *
 * Shape: a leaf holds n entries as `items` = [key0, value0, key1, value1, ...] (one array
 * instead of two: a lookup or an insert touches one fewer object, measured as a real gain on
 * this memory-bound structure). A branch holds `children` and n = children.length - 1
 * separators in `items`, where every key in children[i] is < items[i] <= every key in
 * children[i + 1]. `heads` holds head(key) of each of the n keys. All leaves are at the same
 * depth. Every node other than the root is at least half full, except on the rightmost spine,
 * where appends split off a small node so that sequential loads fill leaves instead of halving
 * them.
 */

export class BNode {
  constructor(
    public epoch: number,
    /** head() of each key (leaf) or separator (branch): what binary search compares first. */
    public heads: number[],
    /** Leaf: key0, value0, key1, value1, ...; branch: the separators. */
    public items: Uint8Array[],
    /** Children; null in a leaf. */
    public children: BNode[] | null,
  ) {}
}

/** An empty array whose elements kind is already "doubles", so head loads stay monomorphic. */
export function doubles(): number[] {
  const a = [0.5];
  a.pop();
  return a;
}

function cloneNode(n: BNode, epoch: number): BNode {
  return new BNode(epoch, n.heads.slice(), n.items.slice(), n.children === null ? null : n.children.slice());
}

/**
 * The first six bytes of a key as a number (zero-padded): head(a) < head(b) implies a < b, and
 * equal heads leave the order to the bytes after them. Binary search compares heads held in a
 * flat array of doubles inside the node instead of dereferencing each probed key (a view object,
 * then its buffer: two cache misses per probe); on 1M random keys this roughly halved the cost
 * of a lookup. Six bytes keep the value an exact integer. Keys that share long prefixes fall
 * back to byte comparison after the six bytes, no slower than without heads.
 */
export function head(k: Uint8Array): number {
  const n = k.length;
  if (n >= 6) return k[0]! * 1099511627776 + k[1]! * 4294967296 + k[2]! * 16777216 + ((k[3]! << 16) | (k[4]! << 8) | k[5]!);
  let h = 0;
  for (let i = 0; i < 6; i++) h = h * 256 + (i < n ? k[i]! : 0);
  return h;
}

/**
 * cmp(a, b) for keys with equal heads. Equal heads mean the first min(6, length) bytes of both
 * are equal (a shorter key is zero-padded, and padding only equals zero bytes), so the
 * comparison starts at byte 6 and, for shorter keys, is decided by length alone.
 */
function cmpTail(a: Uint8Array, b: Uint8Array): number {
  const la = a.length;
  const lb = b.length;
  const n = la < lb ? la : lb;
  for (let i = 6; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return la - lb;
}

/** Index of `key` in a leaf, or `~insertionPoint` when absent. */
export function leafSearch(leaf: BNode, key: Uint8Array): number {
  const heads = leaf.heads;
  const kh = head(key);
  let lo = 0;
  let hi = heads.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    if (h < kh) lo = mid + 1;
    else if (h > kh) hi = mid - 1;
    else {
      const c = cmpTail(leaf.items[mid << 1]!, key);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid - 1;
      else return mid;
    }
  }
  return ~lo;
}

/**
 * First entry index whose key is >= `key` (strict: > `key`). `stride` is 2 in a leaf (keys
 * interleave with values) and 1 in a branch; in a branch, upper bound is the child to descend.
 */
export function lowerBound(node: BNode, key: Uint8Array, strict: boolean): number {
  const heads = node.heads;
  const items = node.items;
  const shift = node.children === null ? 1 : 0;
  const kh = head(key);
  let lo = 0;
  let hi = heads.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    let below: boolean;
    if (h !== kh) below = h < kh;
    else {
      const c = cmpTail(items[mid << shift]!, key);
      below = strict ? c <= 0 : c < 0;
    }
    if (below) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The child of a branch whose range holds `key` (first separator > key). */
export function childIndex(branch: BNode, key: Uint8Array): number {
  const heads = branch.heads;
  const kh = head(key);
  let lo = 0;
  let hi = heads.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    if (h < kh || (h === kh && cmpTail(branch.items[mid]!, key) <= 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Point lookup in the tree under `root` (a live or a frozen one). */
export function lookup(root: BNode, key: Uint8Array): Uint8Array | undefined {
  let node = root;
  for (let ch = node.children; ch !== null; ch = node.children) node = ch[childIndex(node, key)]!;
  const i = leafSearch(node, key);
  return i >= 0 ? node.items[(i << 1) + 1] : undefined;
}

export interface BTreeOptions {
  /** Most entries in a leaf (default DEFAULT_LEAF_SIZE). */
  readonly leafSize?: number;
  /** Most children of a branch (default DEFAULT_BRANCH_SIZE). */
  readonly branchSize?: number;
}

// Chosen by measurement (1M random 16-byte keys, fill, lookups, seeks and scans): see README.
export const DEFAULT_LEAF_SIZE = 64;
export const DEFAULT_BRANCH_SIZE = 64;

export class CowBTree {
  private root: BNode;
  private epoch = 0;
  /** A frozen root may still be in use: the next mutation must start a new epoch. */
  private shared = false;
  private count = 0;
  private levels = 1;
  private copies = 0;
  readonly leafSize: number;
  readonly branchSize: number;
  private readonly minLeaf: number;
  private readonly minBranch: number;
  /** The root-to-leaf path of the last descent: nodes, and the child index taken in each branch. */
  private readonly pathN: BNode[] = [];
  private pathI: Int32Array = new Int32Array(16);

  constructor(options: BTreeOptions = {}) {
    const leaf = options.leafSize ?? DEFAULT_LEAF_SIZE;
    const branch = options.branchSize ?? DEFAULT_BRANCH_SIZE;
    if (!Number.isInteger(leaf) || leaf < 3) throw new TypeError(`leafSize must be an integer >= 3, got ${leaf}`);
    if (!Number.isInteger(branch) || branch < 4) throw new TypeError(`branchSize must be an integer >= 4, got ${branch}`);
    this.leafSize = leaf;
    this.branchSize = branch;
    this.minLeaf = leaf >> 1;
    this.minBranch = branch >> 1;
    this.root = new BNode(0, doubles(), [], null);
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Levels including the leaves (1 for a tree that is a single leaf). */
  get height(): number {
    return this.levels;
  }

  /** Nodes copied so far because a frozen root still shared them (what snapshots cost). */
  get nodesCopied(): number {
    return this.copies;
  }

  /** The current root, frozen: no later mutation of this tree changes what it reaches. O(1). */
  freeze(): BNode {
    this.shared = true;
    return this.root;
  }

  /** The live root for inspection (checkTree); unlike freeze() it may change with the next write. */
  peek(): BNode {
    return this.root;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return lookup(this.root, key);
  }

  /** Inserts or replaces. Key and value are copied through `slab` (the key only when new). */
  set(key: Uint8Array, value: Uint8Array, slab: Slab): void {
    const depth = this.descend(key);
    const i = leafSearch(this.pathN[depth]!, key);
    const v = slab.copy(value);
    const leaf = this.writable(depth);
    if (i >= 0) {
      leaf.items[(i << 1) + 1] = v;
      return;
    }
    const at = ~i;
    const n = leaf.heads.length;
    const append = at === n && this.onRightSpine(depth);
    const k = slab.copy(key);
    // Heads are raw doubles: shift them in a loop (passing a double to splice would box it).
    // Items are pointers: splice moves them with one memmove and one write-barrier pass, which
    // measured faster than a store per slot into an old-space array.
    const heads = leaf.heads;
    for (let j = n; j > at; j--) heads[j] = heads[j - 1]!;
    heads[at] = head(k);
    leaf.items.splice(at << 1, 0, k, v);
    this.count++;
    if (n + 1 > this.leafSize) this.splitUp(depth, append);
  }

  /** Removes `key`; false when it was absent (and then nothing is copied). */
  delete(key: Uint8Array): boolean {
    const depth = this.descend(key);
    const i = leafSearch(this.pathN[depth]!, key);
    if (i < 0) return false;
    const leaf = this.writable(depth);
    leaf.heads.splice(i, 1);
    leaf.items.splice(i << 1, 2);
    this.count--;
    this.rebalance(depth);
    return true;
  }

  /**
   * Removes every key k with start <= k < end; returns how many. One descent per leaf touched:
   * each round clears the part of one leaf inside the range, repairs that path, then continues
   * from the separator that bounds the leaf on the right.
   */
  deleteRange(start: Uint8Array, end: Uint8Array): number {
    if (cmp(start, end) >= 0) return 0;
    let from = start;
    let removed = 0;
    for (;;) {
      const depth = this.descend(from);
      const leaf0 = this.pathN[depth]!;
      const n0 = leaf0.heads.length;
      const lo = lowerBound(leaf0, from, false);
      const hi = lowerBound(leaf0, end, false);
      // The separator that bounds this leaf on the right: the next leaf starts at it.
      let bound: Uint8Array | null = null;
      for (let d = depth - 1; d >= 0; d--) {
        const n = this.pathN[d]!;
        const ci = this.pathI[d]!;
        if (ci < n.items.length) {
          bound = n.items[ci]!;
          break;
        }
      }
      if (lo < hi) {
        const leaf = this.writable(depth);
        leaf.heads.splice(lo, hi - lo);
        leaf.items.splice(lo << 1, (hi - lo) << 1);
        this.count -= hi - lo;
        removed += hi - lo;
        this.rebalance(depth);
      }
      if (hi < n0 || bound === null || cmp(bound, end) >= 0) return removed;
      from = bound;
    }
  }

  /** Fills pathN/pathI with the path to the leaf whose range holds `key`; returns the leaf's depth. */
  private descend(key: Uint8Array): number {
    const pN = this.pathN;
    let pI = this.pathI;
    if (pI.length < this.levels) pI = this.pathI = new Int32Array(this.levels * 2);
    let node = this.root;
    let d = 0;
    for (let ch = node.children; ch !== null; ch = node.children) {
      const i = childIndex(node, key);
      pN[d] = node;
      pI[d] = i;
      d++;
      node = ch[i]!;
    }
    pN[d] = node;
    return d;
  }

  /** Makes the path of the last descent current (copying shared nodes) and returns its leaf. */
  private writable(depth: number): BNode {
    if (this.shared) {
      this.epoch++;
      this.shared = false;
    }
    const ep = this.epoch;
    const pN = this.pathN;
    const leaf = pN[depth]!;
    if (leaf.epoch === ep) return leaf;
    let node = pN[0]!;
    if (node.epoch !== ep) {
      this.copies++;
      node = cloneNode(node, ep);
      this.root = node;
      pN[0] = node;
    }
    for (let d = 1; d <= depth; d++) {
      let child = pN[d]!;
      if (child.epoch !== ep) {
        this.copies++;
        child = cloneNode(child, ep);
        node.children![this.pathI[d - 1]!] = child;
        pN[d] = child;
      }
      node = child;
    }
    return node;
  }

  private onRightSpine(depth: number): boolean {
    for (let d = 0; d < depth; d++) {
      if (this.pathI[d] !== this.pathN[d]!.children!.length - 1) return false;
    }
    return true;
  }

  /** Splits the overfull node at `depth` and any ancestors that overflow in turn. */
  private splitUp(depth: number, append: boolean): void {
    const ep = this.epoch;
    let d = depth;
    let node = this.pathN[d]!;
    for (;;) {
      let right: BNode;
      let sep: Uint8Array;
      let sepHead: number;
      if (node.children === null) {
        const n = node.heads.length;
        const s = append ? n - 1 : n >> 1;
        right = new BNode(ep, node.heads.slice(s), node.items.slice(s << 1), null);
        node.heads.length = s;
        node.items.length = s << 1;
        sep = right.items[0]!;
        sepHead = right.heads[0]!;
      } else {
        const n = node.children.length;
        // Left keeps children [0, s) and separators [0, s - 1); separator s - 1 moves up.
        const s = append ? n - 2 : (n + 1) >> 1;
        sep = node.items[s - 1]!;
        sepHead = node.heads[s - 1]!;
        right = new BNode(ep, node.heads.slice(s), node.items.slice(s), node.children.slice(s));
        node.heads.length = s - 1;
        node.items.length = s - 1;
        node.children.length = s;
      }
      if (d === 0) {
        const heads = doubles();
        heads.push(sepHead);
        this.root = new BNode(ep, heads, [sep], [node, right]);
        this.levels++;
        return;
      }
      const parent = this.pathN[d - 1]!;
      const ci = this.pathI[d - 1]!;
      parent.heads.splice(ci, 0, sepHead);
      parent.items.splice(ci, 0, sep);
      parent.children!.splice(ci + 1, 0, right);
      if (parent.children!.length <= this.branchSize) return;
      node = parent;
      d--;
    }
  }

  /** Restores minimum fill from the leaf at `depth` upwards after removals (path is current). */
  private rebalance(depth: number): void {
    const ep = this.epoch;
    for (let d = depth; d > 0; d--) {
      const node = this.pathN[d]!;
      const leaf = node.children === null;
      const len = leaf ? node.heads.length : node.children!.length;
      if (len >= (leaf ? this.minLeaf : this.minBranch)) return;
      const parent = this.pathN[d - 1]!;
      const kids = parent.children!;
      const ci = this.pathI[d - 1]!;
      const li = ci + 1 < kids.length ? ci : ci - 1;
      let left = kids[li]!;
      let right = kids[li + 1]!;
      if (left.epoch !== ep) {
        this.copies++;
        kids[li] = left = cloneNode(left, ep);
      }
      if (right.epoch !== ep) {
        this.copies++;
        kids[li + 1] = right = cloneNode(right, ep);
      }
      const total = leaf ? left.heads.length + right.heads.length : left.children!.length + right.children!.length;
      if (total <= (leaf ? this.leafSize : this.branchSize)) {
        mergeInto(parent, li, left, right);
        continue;
      }
      redistribute(parent, li, left, right, total >> 1);
      return;
    }
    const root = this.root;
    if (root.children !== null && root.children.length === 1) {
      this.root = root.children[0]!;
      this.levels--;
    }
  }
}

/** Appends `right` to `left` (children li and li + 1 of `parent`) and drops `right`. */
function mergeInto(parent: BNode, li: number, left: BNode, right: BNode): void {
  if (left.children === null) {
    left.heads = left.heads.concat(right.heads);
    left.items = left.items.concat(right.items);
  } else {
    // Laid end to end, the separator between the two sits between their separator lists.
    left.heads = left.heads.concat([parent.heads[li]!], right.heads);
    left.items = left.items.concat([parent.items[li]!], right.items);
    left.children = left.children.concat(right.children!);
  }
  parent.heads.splice(li, 1);
  parent.items.splice(li, 1);
  parent.children!.splice(li + 1, 1);
}

/** Evens out siblings li and li + 1 so that `left` ends with `target` entries (or children). */
function redistribute(parent: BNode, li: number, left: BNode, right: BNode, target: number): void {
  if (left.children === null) {
    const heads = left.heads.concat(right.heads);
    const items = left.items.concat(right.items);
    left.heads = heads.slice(0, target);
    left.items = items.slice(0, target << 1);
    right.heads = heads.slice(target);
    right.items = items.slice(target << 1);
    parent.heads[li] = right.heads[0]!;
    parent.items[li] = right.items[0]!;
  } else {
    const heads = left.heads.concat([parent.heads[li]!], right.heads);
    const items = left.items.concat([parent.items[li]!], right.items);
    const kids = left.children.concat(right.children!);
    left.heads = heads.slice(0, target - 1);
    left.items = items.slice(0, target - 1);
    left.children = kids.slice(0, target);
    parent.heads[li] = heads[target - 1]!;
    parent.items[li] = items[target - 1]!;
    right.heads = heads.slice(target);
    right.items = items.slice(target);
    right.children = kids.slice(target);
  }
}
