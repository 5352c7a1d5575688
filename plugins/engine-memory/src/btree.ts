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
 * Shape: a leaf holds `n` entries as `items` = [key0, value0, key1, value1, ...] (one array
 * instead of two: a lookup or an insert touches one fewer object). A branch holds `n`
 * separators in `items` and n + 1 `children`, where every key in children[i] is < items[i] <=
 * every key in children[i + 1]. `heads[i]` is head() of key or separator i. All leaves are at
 * the same depth.
 *
 * Memory: every array is allocated once, at its node's full capacity plus one spare slot (an
 * insert may overflow a node by one before it is split), by slicing a template, so it never
 * grows. Growing arrays left V8 slack capacity in every node and, worse, an abandoned backing
 * store in old space at each growth; both showed up in peak RSS. Slots past `n` hold shared
 * fillers, so a removed entry is never kept alive by a stale slot.
 *
 * Fill: every node other than the root is at least half full, except on the rightmost spine,
 * where appends split off a small node so that sequential loads fill leaves instead of halving
 * them. A full leaf first hands entries to a sibling with room (as B*-trees do) and only
 * splits when neither has any, which keeps random loads near 80% full instead of 69%.
 */

export class BNode {
  constructor(
    public epoch: number,
    /** Entries (leaf) or separators (branch) in use. */
    public n: number,
    /** head() of each key (leaf) or separator (branch): what binary search compares first. */
    public heads: number[],
    /** Leaf: key0, value0, key1, value1, ...; branch: the separators. */
    public items: Uint8Array[],
    /** Children; null in a leaf. */
    public children: BNode[] | null,
  ) {}
}

/** What unused item slots hold. */
export const FILL = new Uint8Array(0);
/** What unused child slots hold. */
export const NO_CHILD = new BNode(-1, 0, [], [], null);

/** An array of doubles of exactly `len` elements (packed, elements kind "doubles"). */
function doublesOf(len: number): number[] {
  const a = [0.5];
  a.pop();
  for (let i = 0; i < len; i++) a.push(0.5);
  // slice() copies into a backing store of exactly `len`; push left growth slack.
  return a.slice();
}

function filled<T>(len: number, v: T): T[] {
  const a: T[] = [];
  for (let i = 0; i < len; i++) a.push(v);
  return a.slice();
}

/**
 * The first six bytes of a key as a number (zero-padded): head(a) < head(b) implies a < b, and
 * equal heads leave the order to the bytes after them. Binary search compares heads held in a
 * flat array of doubles inside the node instead of dereferencing each probed key (a view object,
 * then its buffer: two cache misses per probe); on 1M random 16-byte keys, lookups ran 2.1 to
 * 2.4 times as fast as the same tree searching the keys themselves (alternating slices, same
 * process). Six bytes keep the value an exact integer. Keys that share long prefixes fall
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
  let hi = leaf.n - 1;
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

/** First entry of a leaf whose key is >= `key` (strict: > `key`). */
export function leafBound(leaf: BNode, key: Uint8Array, strict: boolean): number {
  const heads = leaf.heads;
  const kh = head(key);
  let lo = 0;
  let hi = leaf.n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    let below: boolean;
    if (h !== kh) below = h < kh;
    else {
      const c = cmpTail(leaf.items[mid << 1]!, key);
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
  let hi = branch.n;
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
  /** Templates sliced to make node arrays of exact capacity (max + 1 spare). */
  private readonly leafHeadsT: number[];
  private readonly leafItemsT: Uint8Array[];
  private readonly branchHeadsT: number[];
  private readonly branchItemsT: Uint8Array[];
  private readonly branchKidsT: BNode[];
  /** The root-to-leaf path of the last descent: nodes, and the child index taken in each branch. */
  private readonly pathN: BNode[] = [];
  private pathI: Int32Array = new Int32Array(16);
  /** Depth of the leaf the last `set` wrote, whose path pathN/pathI still hold; -1 if none. */
  private hint = -1;

  constructor(options: BTreeOptions = {}) {
    const leaf = options.leafSize ?? DEFAULT_LEAF_SIZE;
    const branch = options.branchSize ?? DEFAULT_BRANCH_SIZE;
    if (!Number.isInteger(leaf) || leaf < 3 || leaf > 4096) throw new TypeError(`leafSize must be an integer in 3..4096, got ${leaf}`);
    if (!Number.isInteger(branch) || branch < 4 || branch > 4096) throw new TypeError(`branchSize must be an integer in 4..4096, got ${branch}`);
    this.leafSize = leaf;
    this.branchSize = branch;
    this.minLeaf = leaf >> 1;
    this.minBranch = branch >> 1;
    this.leafHeadsT = doublesOf(leaf + 1);
    this.leafItemsT = filled(2 * (leaf + 1), FILL);
    // A branch of branchSize children has branchSize - 1 separators; one spare of each.
    this.branchHeadsT = doublesOf(branch);
    this.branchItemsT = filled(branch, FILL);
    this.branchKidsT = filled(branch + 1, NO_CHILD);
    this.root = this.newLeaf(0);
  }

  private newLeaf(epoch: number): BNode {
    return new BNode(epoch, 0, this.leafHeadsT.slice(), this.leafItemsT.slice(), null);
  }

  private newBranch(epoch: number): BNode {
    return new BNode(epoch, 0, this.branchHeadsT.slice(), this.branchItemsT.slice(), this.branchKidsT.slice());
  }

  private clone(node: BNode, epoch: number): BNode {
    this.copies++;
    return new BNode(epoch, node.n, node.heads.slice(), node.items.slice(), node.children === null ? null : node.children.slice());
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

  /**
   * Inserts or replaces. Key and value are copied through `slab` (the key only when new); with
   * no slab they are kept as given (the caller handed them over and never changes them).
   */
  set(key: Uint8Array, value: Uint8Array, slab: Slab | null): void {
    // The leaf of the previous set first (its path is still in pathN/pathI): keys written in
    // order (a sorted batch) mostly land in it, and a search of one leaf replaces a descent
    // from the root. The key belongs to that leaf for sure when it matches an entry or falls
    // strictly between two of its entries; at either end it may belong to a neighbour, so the
    // tree is descended as usual.
    let depth = this.hint;
    let i: number;
    if (depth >= 0) {
      const leaf = this.pathN[depth]!;
      i = leafSearch(leaf, key);
      if (i < 0 && (i === -1 || ~i === leaf.n)) {
        depth = this.descend(key);
        i = leafSearch(this.pathN[depth]!, key);
      }
    } else {
      depth = this.descend(key);
      i = leafSearch(this.pathN[depth]!, key);
    }
    this.hint = depth;
    const v = slab === null ? value : slab.copy(value);
    const leaf = this.writable(depth);
    if (i >= 0) {
      leaf.items[(i << 1) + 1] = v;
      return;
    }
    const at = ~i;
    const n = leaf.n;
    const k = slab === null ? key : slab.copy(key);
    const heads = leaf.heads;
    const items = leaf.items;
    for (let j = n; j > at; j--) {
      heads[j] = heads[j - 1]!;
      items[2 * j] = items[2 * j - 2]!;
      items[2 * j + 1] = items[2 * j - 1]!;
    }
    heads[at] = head(k);
    items[2 * at] = k;
    items[2 * at + 1] = v;
    leaf.n = n + 1;
    this.count++;
    if (n + 1 > this.leafSize) {
      // The tree changes shape: the remembered path is no longer one.
      this.hint = -1;
      this.overflow(depth, at === n && this.onRightSpine(depth));
    }
  }

  /** Removes `key`; false when it was absent (and then nothing is copied). */
  delete(key: Uint8Array): boolean {
    this.hint = -1;
    const depth = this.descend(key);
    const i = leafSearch(this.pathN[depth]!, key);
    if (i < 0) return false;
    removeEntries(this.writable(depth), i, i + 1);
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
    this.hint = -1;
    if (cmp(start, end) >= 0) return 0;
    let from = start;
    let removed = 0;
    for (;;) {
      const depth = this.descend(from);
      const leaf0 = this.pathN[depth]!;
      const n0 = leaf0.n;
      const lo = leafBound(leaf0, from, false);
      const hi = leafBound(leaf0, end, false);
      // The separator that bounds this leaf on the right: the next leaf starts at it.
      let bound: Uint8Array | null = null;
      for (let d = depth - 1; d >= 0; d--) {
        const node = this.pathN[d]!;
        const ci = this.pathI[d]!;
        if (ci < node.n) {
          bound = node.items[ci]!;
          break;
        }
      }
      if (lo < hi) {
        removeEntries(this.writable(depth), lo, hi);
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
      node = this.clone(node, ep);
      this.root = node;
      pN[0] = node;
    }
    for (let d = 1; d <= depth; d++) {
      let child = pN[d]!;
      if (child.epoch !== ep) {
        child = this.clone(child, ep);
        node.children![this.pathI[d - 1]!] = child;
        pN[d] = child;
      }
      node = child;
    }
    return node;
  }

  private onRightSpine(depth: number): boolean {
    for (let d = 0; d < depth; d++) {
      if (this.pathI[d] !== this.pathN[d]!.n) return false;
    }
    return true;
  }

  /** A current copy of child `i` of the current branch `parent`. */
  private writableChild(parent: BNode, i: number): BNode {
    const c = parent.children![i]!;
    if (c.epoch === this.epoch) return c;
    const copy = this.clone(c, this.epoch);
    parent.children![i] = copy;
    return copy;
  }

  /**
   * The leaf at `depth` holds leafSize + 1 entries: move some to a sibling with room, or split
   * it (and any ancestors that overflow in turn). `append` means the entry went to the end of
   * the rightmost leaf, where a sequential load wants the full leaf kept whole.
   */
  private overflow(depth: number, append: boolean): void {
    if (!append && depth > 0) {
      const parent = this.pathN[depth - 1]!;
      const ci = this.pathI[depth - 1]!;
      const leaf = this.pathN[depth]!;
      const size = this.leafSize;
      if (ci > 0 && parent.children![ci - 1]!.n < size) {
        const left = this.writableChild(parent, ci - 1);
        shiftLeaves(parent, ci - 1, left, leaf, (left.n + leaf.n) >> 1);
        return;
      }
      if (ci < parent.n && parent.children![ci + 1]!.n < size) {
        const right = this.writableChild(parent, ci + 1);
        shiftLeaves(parent, ci, leaf, right, (leaf.n + right.n + 1) >> 1);
        return;
      }
    }
    this.splitUp(depth, append);
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
        const n = node.n;
        const s = append ? n - 1 : n >> 1;
        right = this.newLeaf(ep);
        moveEntries(node, s, right, 0, n - s);
        clearEntries(node, s, n);
        node.n = s;
        right.n = n - s;
        sep = right.items[0]!;
        sepHead = right.heads[0]!;
      } else {
        const kids = node.n + 1;
        // Left keeps children [0, s) and separators [0, s - 1); separator s - 1 moves up.
        const s = append ? kids - 2 : (kids + 1) >> 1;
        sep = node.items[s - 1]!;
        sepHead = node.heads[s - 1]!;
        right = this.newBranch(ep);
        moveSeparators(node, s, right, 0, node.n - s);
        moveChildren(node, s, right, 0, kids - s);
        right.n = node.n - s;
        node.items[s - 1] = FILL;
        node.n = s - 1;
      }
      if (d === 0) {
        const root = this.newBranch(ep);
        root.n = 1;
        root.heads[0] = sepHead;
        root.items[0] = sep;
        root.children![0] = node;
        root.children![1] = right;
        this.root = root;
        this.levels++;
        return;
      }
      const parent = this.pathN[d - 1]!;
      const ci = this.pathI[d - 1]!;
      const pn = parent.n;
      const heads = parent.heads;
      const items = parent.items;
      const kids = parent.children!;
      for (let j = pn; j > ci; j--) {
        heads[j] = heads[j - 1]!;
        items[j] = items[j - 1]!;
        kids[j + 1] = kids[j]!;
      }
      heads[ci] = sepHead;
      items[ci] = sep;
      kids[ci + 1] = right;
      parent.n = pn + 1;
      if (pn + 2 <= this.branchSize) return;
      node = parent;
      d--;
    }
  }

  /** Restores minimum fill from the leaf at `depth` upwards after removals (path is current). */
  private rebalance(depth: number): void {
    for (let d = depth; d > 0; d--) {
      const node = this.pathN[d]!;
      const leaf = node.children === null;
      // Leaves count entries, branches count children.
      const len = leaf ? node.n : node.n + 1;
      if (len >= (leaf ? this.minLeaf : this.minBranch)) return;
      const parent = this.pathN[d - 1]!;
      const ci = this.pathI[d - 1]!;
      const li = ci < parent.n ? ci : ci - 1;
      const left = this.writableChild(parent, li);
      const right = this.writableChild(parent, li + 1);
      if (leaf) {
        const total = left.n + right.n;
        if (total <= this.leafSize) {
          mergeLeaves(parent, li, left, right);
          continue;
        }
        shiftLeaves(parent, li, left, right, total >> 1);
        return;
      }
      const total = left.n + right.n + 2;
      if (total <= this.branchSize) {
        mergeBranches(parent, li, left, right);
        continue;
      }
      shiftBranches(parent, li, left, right, total >> 1);
      return;
    }
    const root = this.root;
    if (root.children !== null && root.n === 0) {
      this.root = root.children[0]!;
      this.levels--;
    }
  }
}

/** Copies `count` leaf entries from `src` at `from` to `dst` at `to` (no shifting, no clearing). */
function moveEntries(src: BNode, from: number, dst: BNode, to: number, count: number): void {
  const sh = src.heads;
  const si = src.items;
  const dh = dst.heads;
  const di = dst.items;
  for (let j = 0; j < count; j++) {
    dh[to + j] = sh[from + j]!;
    di[2 * (to + j)] = si[2 * (from + j)]!;
    di[2 * (to + j) + 1] = si[2 * (from + j) + 1]!;
  }
}

/** Empties leaf slots [from, to), so that slots past `n` keep nothing alive. */
function clearEntries(leaf: BNode, from: number, to: number): void {
  for (let j = from; j < to; j++) {
    leaf.items[2 * j] = FILL;
    leaf.items[2 * j + 1] = FILL;
  }
}

function moveSeparators(src: BNode, from: number, dst: BNode, to: number, count: number): void {
  for (let j = 0; j < count; j++) {
    dst.heads[to + j] = src.heads[from + j]!;
    dst.items[to + j] = src.items[from + j]!;
    src.items[from + j] = FILL;
  }
}

function moveChildren(src: BNode, from: number, dst: BNode, to: number, count: number): void {
  const sk = src.children!;
  const dk = dst.children!;
  for (let j = 0; j < count; j++) {
    dk[to + j] = sk[from + j]!;
    sk[from + j] = NO_CHILD;
  }
}

/** Removes leaf entries [lo, hi), shifting the tail down and clearing the freed slots. */
function removeEntries(leaf: BNode, lo: number, hi: number): void {
  const n = leaf.n;
  const k = hi - lo;
  const heads = leaf.heads;
  const items = leaf.items;
  for (let j = lo; j + k < n; j++) {
    heads[j] = heads[j + k]!;
    items[2 * j] = items[2 * (j + k)]!;
    items[2 * j + 1] = items[2 * (j + k) + 1]!;
  }
  for (let j = n - k; j < n; j++) {
    items[2 * j] = FILL;
    items[2 * j + 1] = FILL;
  }
  leaf.n = n - k;
}

/** Removes separator i and child i + 1 of a branch. */
function removeSeparator(branch: BNode, i: number): void {
  const n = branch.n;
  const heads = branch.heads;
  const items = branch.items;
  const kids = branch.children!;
  for (let j = i; j < n - 1; j++) {
    heads[j] = heads[j + 1]!;
    items[j] = items[j + 1]!;
    kids[j + 1] = kids[j + 2]!;
  }
  items[n - 1] = FILL;
  kids[n] = NO_CHILD;
  branch.n = n - 1;
}

/** Appends leaf `right` (child li + 1 of `parent`) to `left` (child li) and drops it. */
function mergeLeaves(parent: BNode, li: number, left: BNode, right: BNode): void {
  moveEntries(right, 0, left, left.n, right.n);
  left.n += right.n;
  removeSeparator(parent, li);
}

/** Appends branch `right` to `left`, pulling their separator down between them. */
function mergeBranches(parent: BNode, li: number, left: BNode, right: BNode): void {
  const ln = left.n;
  left.heads[ln] = parent.heads[li]!;
  left.items[ln] = parent.items[li]!;
  moveSeparators(right, 0, left, ln + 1, right.n);
  moveChildren(right, 0, left, ln + 1, right.n + 1);
  left.n = ln + 1 + right.n;
  removeSeparator(parent, li);
}

/**
 * Moves entries between adjacent leaves li and li + 1 of `parent` so that `left` ends with
 * `target` of their entries, and resets the separator between them. Both are current.
 */
function shiftLeaves(parent: BNode, li: number, left: BNode, right: BNode, target: number): void {
  const ln = left.n;
  const rn = right.n;
  if (target > ln) {
    const k = target - ln;
    moveEntries(right, 0, left, ln, k);
    left.n = target;
    removeEntries(right, 0, k);
  } else if (target < ln) {
    const k = ln - target;
    const rh = right.heads;
    const ri = right.items;
    for (let j = rn - 1; j >= 0; j--) {
      rh[j + k] = rh[j]!;
      ri[2 * (j + k)] = ri[2 * j]!;
      ri[2 * (j + k) + 1] = ri[2 * j + 1]!;
    }
    moveEntries(left, target, right, 0, k);
    clearEntries(left, target, ln);
    right.n = rn + k;
    left.n = target;
  }
  parent.heads[li] = right.heads[0]!;
  parent.items[li] = right.items[0]!;
}

/**
 * Moves children between adjacent branches li and li + 1 of `parent` so that `left` ends with
 * `target` children; separators rotate through the parent. Rare (deletes only), so it goes
 * through plain arrays.
 */
function shiftBranches(parent: BNode, li: number, left: BNode, right: BNode, target: number): void {
  const heads: number[] = [];
  const items: Uint8Array[] = [];
  const kids: BNode[] = [];
  for (let j = 0; j < left.n; j++) {
    heads.push(left.heads[j]!);
    items.push(left.items[j]!);
  }
  heads.push(parent.heads[li]!);
  items.push(parent.items[li]!);
  for (let j = 0; j < right.n; j++) {
    heads.push(right.heads[j]!);
    items.push(right.items[j]!);
  }
  for (let j = 0; j <= left.n; j++) kids.push(left.children![j]!);
  for (let j = 0; j <= right.n; j++) kids.push(right.children![j]!);
  const fill = (node: BNode, from: number, seps: number): void => {
    for (let j = 0; j < node.items.length; j++) node.items[j] = FILL;
    for (let j = 0; j < node.children!.length; j++) node.children![j] = NO_CHILD;
    for (let j = 0; j < seps; j++) {
      node.heads[j] = heads[from + j]!;
      node.items[j] = items[from + j]!;
    }
    for (let j = 0; j <= seps; j++) node.children![j] = kids[from + j]!;
    node.n = seps;
  };
  fill(left, 0, target - 1);
  parent.heads[li] = heads[target - 1]!;
  parent.items[li] = items[target - 1]!;
  fill(right, target, kids.length - target - 1);
}
