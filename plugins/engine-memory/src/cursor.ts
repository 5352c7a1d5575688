// @hot-path
import { type BNode, childIndex, leafBound } from './btree.js';

/**
 * A position in a frozen B+tree (one taken with `CowBTree.freeze()`, which later writes never
 * change). Copy-on-write trees cannot keep leaf sibling links (copying a leaf would mean
 * copying its neighbours). Keeping the whole root-to-leaf path instead cost two arrays and a
 * second object per iterator: with them, a fresh iterator per seek+next10 ran 13% slower than
 * one reused iterator (1M keys). So the cursor keeps its leaf and the leaf's parent: the next
 * leaf is usually the parent's next child, and when the parent runs out (one leaf change in
 * about 64) the cursor descends again from the root by the leaf's last key, noting the nearest
 * subtree to the right on the way, and steps into that subtree's leftmost leaf (mirrored for
 * `prev`). Stepping allocates nothing.
 */
export class Cursor {
  protected readonly root: BNode;
  protected leaf: BNode;
  /** Index in `leaf`, or -1 when not on an entry. */
  protected pos = -1;
  /** The branch holding `leaf` (null when the root is a leaf) and the leaf's index in it. */
  private parent: BNode | null = null;
  private pidx = 0;

  constructor(root: BNode) {
    this.root = root;
    this.leaf = root;
  }

  valid(): boolean {
    return this.pos >= 0;
  }

  key(): Uint8Array {
    return this.leaf.items[this.pos << 1]!;
  }

  value(): Uint8Array {
    return this.leaf.items[(this.pos << 1) + 1]!;
  }

  invalidate(): void {
    this.pos = -1;
  }

  /** The leaf whose range holds `key`. */
  private leafFor(key: Uint8Array): BNode {
    let node = this.root;
    let parent: BNode | null = null;
    let idx = 0;
    for (let ch = node.children; ch !== null; ch = node.children) {
      idx = childIndex(node, key);
      parent = node;
      node = ch[idx]!;
    }
    this.parent = parent;
    this.pidx = idx;
    this.leaf = node;
    return node;
  }

  /** First entry with key >= `key`. */
  seekGE(key: Uint8Array): boolean {
    const leaf = this.leafFor(key);
    const i = leafBound(leaf, key, false);
    if (i < leaf.n) {
      this.pos = i;
      return true;
    }
    return this.nextLeaf();
  }

  /** Last entry with key <= `key`. */
  seekLE(key: Uint8Array): boolean {
    const leaf = this.leafFor(key);
    const i = leafBound(leaf, key, true) - 1;
    if (i >= 0) {
      this.pos = i;
      return true;
    }
    return this.prevLeaf();
  }

  /** Last entry with key < `key`. */
  seekLT(key: Uint8Array): boolean {
    const leaf = this.leafFor(key);
    const i = leafBound(leaf, key, false) - 1;
    if (i >= 0) {
      this.pos = i;
      return true;
    }
    return this.prevLeaf();
  }

  first(): boolean {
    let node = this.root;
    let parent: BNode | null = null;
    for (let ch = node.children; ch !== null; ch = node.children) {
      parent = node;
      node = ch[0]!;
    }
    this.parent = parent;
    this.pidx = 0;
    this.leaf = node;
    this.pos = node.n > 0 ? 0 : -1;
    return this.pos >= 0;
  }

  last(): boolean {
    let node = this.root;
    let parent: BNode | null = null;
    let idx = 0;
    for (let ch = node.children; ch !== null; ch = node.children) {
      parent = node;
      idx = node.n;
      node = ch[idx]!;
    }
    this.parent = parent;
    this.pidx = idx;
    this.leaf = node;
    this.pos = node.n - 1;
    return this.pos >= 0;
  }

  /** Moves to the next entry; only meaningful when valid. */
  next(): boolean {
    const p = this.pos + 1;
    if (p < this.leaf.n) {
      this.pos = p;
      return true;
    }
    return this.nextLeaf();
  }

  /** Moves to the previous entry; only meaningful when valid. */
  prev(): boolean {
    const p = this.pos - 1;
    if (p >= 0) {
      this.pos = p;
      return true;
    }
    return this.prevLeaf();
  }

  /** First entry of the leaf after the current one (non-root leaves are never empty). */
  private nextLeaf(): boolean {
    const parent = this.parent;
    if (parent !== null && this.pidx < parent.n) {
      const leaf = parent.children![++this.pidx]!;
      this.leaf = leaf;
      this.pos = 0;
      return true;
    }
    const leaf = this.leaf;
    if (leaf.n === 0) {
      this.pos = -1;
      return false;
    }
    const last = leaf.items[(leaf.n - 1) << 1]!;
    let node = this.root;
    let right: BNode | null = null;
    let rParent: BNode | null = null;
    let rIdx = 0;
    for (let ch = node.children; ch !== null; ch = node.children) {
      const i = childIndex(node, last);
      if (i < node.n) {
        right = ch[i + 1]!;
        rParent = node;
        rIdx = i + 1;
      }
      node = ch[i]!;
    }
    if (right === null) {
      this.pos = -1;
      return false;
    }
    for (let ch = right.children; ch !== null; ch = right.children) {
      rParent = right;
      rIdx = 0;
      right = ch[0]!;
    }
    this.leaf = right;
    this.parent = rParent;
    this.pidx = rIdx;
    this.pos = 0;
    return true;
  }

  /** Last entry of the leaf before the current one. */
  private prevLeaf(): boolean {
    const parent = this.parent;
    if (parent !== null && this.pidx > 0) {
      const leaf = parent.children![--this.pidx]!;
      this.leaf = leaf;
      this.pos = leaf.n - 1;
      return true;
    }
    const leaf = this.leaf;
    if (leaf.n === 0) {
      this.pos = -1;
      return false;
    }
    const first = leaf.items[0]!;
    let node = this.root;
    let left: BNode | null = null;
    let lParent: BNode | null = null;
    let lIdx = 0;
    for (let ch = node.children; ch !== null; ch = node.children) {
      const i = childIndex(node, first);
      if (i > 0) {
        left = ch[i - 1]!;
        lParent = node;
        lIdx = i - 1;
      }
      node = ch[i]!;
    }
    if (left === null) {
      this.pos = -1;
      return false;
    }
    for (let ch = left.children; ch !== null; ch = left.children) {
      lParent = left;
      lIdx = left.n;
      left = ch[lIdx]!;
    }
    this.leaf = left;
    this.parent = lParent;
    this.pidx = lIdx;
    this.pos = left.n - 1;
    return true;
  }
}
