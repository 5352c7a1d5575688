import { type BNode, FILL, head, NO_CHILD } from './btree.js';
import { cmp } from './compare.js';

export interface TreeShape {
  /** Entries reachable from the root. */
  readonly entries: number;
  /** Levels including the leaves. */
  readonly height: number;
  readonly leaves: number;
  readonly branches: number;
}

export interface CheckLimits {
  readonly leafSize: number;
  readonly branchSize: number;
}

/**
 * Verifies every structural invariant of the tree under `root` and returns its shape; throws an
 * Error naming the first violation. For tests and debugging: it visits every node.
 *
 * Checked: keys strictly increasing across the whole tree; each head equals head(key); every
 * separator bounds its children (left < sep <= right); all leaves at one depth; array lengths
 * agree; no node above capacity; non-root nodes at least half full except on the rightmost
 * spine (where sequential appends leave small nodes), and never empty there either; no node
 * points to a node with a newer epoch (what lets a current leaf skip path copying).
 */
export function checkTree(root: BNode, limits: CheckLimits): TreeShape {
  let leafDepth = -1;
  let entries = 0;
  let leaves = 0;
  let branches = 0;
  let prev: Uint8Array | null = null;

  const fail = (msg: string): never => {
    throw new Error(`B+tree invariant violated: ${msg}`);
  };

  const visit = (node: BNode, depth: number, low: Uint8Array | null, high: Uint8Array | null, isRoot: boolean, spine: boolean): void => {
    const n = node.n;
    if (node.children === null) {
      leaves++;
      if (leafDepth === -1) leafDepth = depth;
      else if (leafDepth !== depth) fail(`leaves at depths ${leafDepth} and ${depth}`);
      if (node.items.length !== 2 * (limits.leafSize + 1) || node.heads.length !== limits.leafSize + 1) fail(`leaf arrays have capacity ${node.heads.length}/${node.items.length}, expected ${limits.leafSize + 1} entries`);
      for (let j = 2 * n; j < node.items.length; j++) if (node.items[j] !== FILL) fail(`leaf slot ${j >> 1} past n = ${n} still holds a key or value`);
      if (n > limits.leafSize) fail(`leaf holds ${n} > ${limits.leafSize} entries`);
      if (!isRoot && n === 0) fail('empty non-root leaf');
      if (!isRoot && !spine && n < limits.leafSize >> 1) fail(`leaf off the right spine holds ${n} < ${limits.leafSize >> 1} entries`);
      for (let i = 0; i < n; i++) {
        const k = node.items[2 * i]!;
        if (!(k instanceof Uint8Array) || !(node.items[2 * i + 1] instanceof Uint8Array)) fail(`leaf item ${i} is not a Uint8Array pair`);
        if (node.heads[i] !== head(k)) fail(`leaf head ${i} is ${node.heads[i]}, expected ${head(k)}`);
        if (prev !== null && cmp(prev, k) >= 0) fail(`keys out of order at entry ${entries}`);
        if (low !== null && cmp(k, low) < 0) fail(`key below its separator at entry ${entries}`);
        if (high !== null && cmp(k, high) >= 0) fail(`key not below the next separator at entry ${entries}`);
        prev = k;
        entries++;
      }
      return;
    }
    branches++;
    const kids = node.children;
    if (node.items.length !== limits.branchSize || node.heads.length !== limits.branchSize || kids.length !== limits.branchSize + 1) {
      fail(`branch arrays have capacity ${node.heads.length}/${node.items.length}/${kids.length}, expected ${limits.branchSize} separators`);
    }
    for (let j = n; j < node.items.length; j++) if (node.items[j] !== FILL) fail(`branch separator slot ${j} past n = ${n} is not empty`);
    for (let j = n + 1; j < kids.length; j++) if (kids[j] !== NO_CHILD) fail(`branch child slot ${j} past n = ${n} is not empty`);
    const used = n + 1;
    if (used > limits.branchSize) fail(`branch has ${used} > ${limits.branchSize} children`);
    if (used < 2) fail(`branch has ${used} child`);
    if (!isRoot && !spine && used < limits.branchSize >> 1) fail(`branch off the right spine has ${used} < ${limits.branchSize >> 1} children`);
    for (let i = 0; i < n; i++) {
      const s = node.items[i]!;
      if (node.heads[i] !== head(s)) fail(`branch head ${i} is ${node.heads[i]}, expected ${head(s)}`);
      if (i > 0 && cmp(node.items[i - 1]!, s) >= 0) fail('separators out of order');
    }
    for (let i = 0; i <= n; i++) {
      const child = kids[i]!;
      if (child.epoch > node.epoch) fail(`a node of epoch ${node.epoch} points to a newer node (epoch ${child.epoch})`);
      visit(child, depth + 1, i === 0 ? low : node.items[i - 1]!, i === n ? high : node.items[i]!, false, spine && i === n);
    }
  };

  visit(root, 0, null, null, true, true);
  return { entries, height: leafDepth + 1, leaves, branches };
}
