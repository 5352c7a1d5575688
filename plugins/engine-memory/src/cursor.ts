// @hot-path
import { type BNode, childIndex, leafBound } from './btree.js';

/**
 * A position in a frozen B+tree (one taken with `CowBTree.freeze()`, which later writes never
 * change). COW trees cannot keep leaf sibling links (copying a leaf would mean copying its
 * neighbours), so the cursor keeps its root-to-leaf path and climbs it to change leaves.
 * Stepping allocates nothing; the path arrays are made once, sized by the tree's height.
 */
export class Cursor {
  /** nodes[d] is the node at depth d on the current path; nodes[height - 1] is the leaf. */
  private readonly nodes: BNode[];
  /** idx[d] is the child taken in nodes[d] (branches only). A plain array: cheaper to make
   * than an Int32Array, and iterators are made once per seek in scan-heavy code. */
  private readonly idx: number[];
  private readonly h: number;
  private leaf: BNode;
  /** Index in `leaf`, or -1 when not on an entry. */
  private pos = -1;

  constructor(root: BNode) {
    let h = 1;
    for (let n = root; n.children !== null; n = n.children[0]!) h++;
    this.h = h;
    this.nodes = new Array<BNode>(h).fill(root);
    this.idx = new Array<number>(h).fill(0);
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

  /** The leaf the cursor is on; iterators use it to check bounds once per leaf. */
  currentLeaf(): BNode {
    return this.leaf;
  }

  /** Descends towards `key`, leaving `leaf` set to the leaf whose range holds it. */
  private descend(key: Uint8Array): BNode {
    const nodes = this.nodes;
    const idx = this.idx;
    let node = nodes[0]!;
    for (let d = 0; d < this.h - 1; d++) {
      const i = childIndex(node, key);
      idx[d] = i;
      node = node.children![i]!;
      nodes[d + 1] = node;
    }
    this.leaf = node;
    return node;
  }

  /** First entry with key >= `key`. */
  seekGE(key: Uint8Array): boolean {
    const leaf = this.descend(key);
    const i = leafBound(leaf, key, false);
    if (i < leaf.n) {
      this.pos = i;
      return true;
    }
    return this.nextLeaf();
  }

  /** Last entry with key <= `key`. */
  seekLE(key: Uint8Array): boolean {
    const leaf = this.descend(key);
    const i = leafBound(leaf, key, true) - 1;
    if (i >= 0) {
      this.pos = i;
      return true;
    }
    return this.prevLeaf();
  }

  /** Last entry with key < `key`. */
  seekLT(key: Uint8Array): boolean {
    const leaf = this.descend(key);
    const i = leafBound(leaf, key, false) - 1;
    if (i >= 0) {
      this.pos = i;
      return true;
    }
    return this.prevLeaf();
  }

  first(): boolean {
    const nodes = this.nodes;
    let node = nodes[0]!;
    for (let d = 0; d < this.h - 1; d++) {
      this.idx[d] = 0;
      node = node.children![0]!;
      nodes[d + 1] = node;
    }
    this.leaf = node;
    this.pos = node.n > 0 ? 0 : -1;
    return this.pos >= 0;
  }

  last(): boolean {
    const nodes = this.nodes;
    let node = nodes[0]!;
    for (let d = 0; d < this.h - 1; d++) {
      const i = node.n;
      this.idx[d] = i;
      node = node.children![i]!;
      nodes[d + 1] = node;
    }
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

  invalidate(): void {
    this.pos = -1;
  }

  /** First entry of the leaf after the current one (non-root leaves are never empty). */
  private nextLeaf(): boolean {
    const nodes = this.nodes;
    const idx = this.idx;
    const h = this.h;
    for (let d = h - 2; d >= 0; d--) {
      const i = idx[d]! + 1;
      const parent = nodes[d]!;
      if (i <= parent.n) {
        idx[d] = i;
        let node = parent.children![i]!;
        for (let e = d + 1; e < h - 1; e++) {
          nodes[e] = node;
          idx[e] = 0;
          node = node.children![0]!;
        }
        nodes[h - 1] = node;
        this.leaf = node;
        this.pos = 0;
        return true;
      }
    }
    this.pos = -1;
    return false;
  }

  /** Last entry of the leaf before the current one. */
  private prevLeaf(): boolean {
    const nodes = this.nodes;
    const idx = this.idx;
    const h = this.h;
    for (let d = h - 2; d >= 0; d--) {
      const i = idx[d]! - 1;
      if (i >= 0) {
        idx[d] = i;
        let node = nodes[d]!.children![i]!;
        for (let e = d + 1; e < h - 1; e++) {
          nodes[e] = node;
          const last = node.n;
          idx[e] = last;
          node = node.children![last]!;
        }
        nodes[h - 1] = node;
        this.leaf = node;
        this.pos = node.n - 1;
        return true;
      }
    }
    this.pos = -1;
    return false;
  }
}
