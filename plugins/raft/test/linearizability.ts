// A Wing-Gong linearizability checker with Lowe's memoization (the "WGL" algorithm) for a
// read/write register. A history is a list of operations with call and return times; a write
// whose outcome is unknown has `ret: Infinity` and may take effect at any point after its call,
// or never.

export interface RegisterOp {
  readonly kind: 'put' | 'get';
  /** put: the value written; get: the value observed (undefined: the key was absent). */
  readonly value: string | undefined;
  readonly call: number;
  /** Infinity when the outcome is unknown (only for puts). */
  readonly ret: number;
}

interface Node {
  readonly op: number;
  readonly isCall: boolean;
  /** The call's matching return node (undefined for a pending op). */
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

/**
 * True when the history is linearizable for a register starting at `initial`. Events are
 * ordered by time (a return before a call at the same instant, so touching ops do not overlap);
 * the search linearizes one minimal call at a time, backtracking on a return whose op is not yet
 * linearized, and skips any (linearized set, register value) it has already explored.
 */
export function checkRegister(history: readonly RegisterOp[], initial: string | undefined = undefined): boolean {
  for (const op of history) {
    if (op.kind === 'get' && op.ret === Infinity) throw new TypeError('a get without a result does not belong in a history');
    if (!(op.ret >= op.call)) throw new TypeError('an op returns before it is called');
  }
  const events: { t: number; node: Node }[] = [];
  const head: Node = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  history.forEach((op, i) => {
    const call: Node = { op: i, isCall: true, match: undefined, prev: undefined, next: undefined };
    events.push({ t: op.call, node: call });
    if (op.ret !== Infinity) {
      const ret: Node = { op: i, isCall: false, match: undefined, prev: undefined, next: undefined };
      call.match = ret;
      // An op that returned at the instant it was called still returns after its own call.
      events.push({ t: op.ret === op.call ? op.ret + 1e-9 * Math.max(1, Math.abs(op.ret)) : op.ret, node: ret });
    }
  });
  events.sort((a, b) => a.t - b.t || (a.node.isCall === b.node.isCall ? 0 : a.node.isCall ? 1 : -1));
  let prev = head;
  for (const e of events) {
    prev.next = e.node;
    e.node.prev = prev;
    prev = e.node;
  }
  let remaining = history.filter((op) => op.ret !== Infinity).length;
  const words = Math.ceil(history.length / 32) || 1;
  const linearized = new Uint32Array(words);
  const seen = new Set<string>();
  const stack: { node: Node; state: string | undefined }[] = [];
  let state = initial;

  const lift = (n: Node): void => {
    n.prev!.next = n.next;
    if (n.next) n.next.prev = n.prev;
    const m = n.match;
    if (m) {
      m.prev!.next = m.next;
      if (m.next) m.next.prev = m.prev;
    }
  };
  const unlift = (n: Node): void => {
    const m = n.match;
    if (m) {
      m.prev!.next = m;
      if (m.next) m.next.prev = m;
    }
    n.prev!.next = n;
    if (n.next) n.next.prev = n;
  };

  /** Undoes the last linearized call (the stack is not empty); returns the entry after it. */
  const backtrack = (): Node | undefined => {
    const top = stack.pop()!;
    state = top.state;
    linearized[top.node.op >>> 5]! &= ~(1 << (top.node.op & 31));
    unlift(top.node);
    if (top.node.match) remaining++;
    return top.node.next;
  };

  let entry = head.next;
  while (remaining > 0) {
    if (entry === undefined) {
      // Only pending calls are left to try from here: undo the last choice.
      if (stack.length === 0) return false;
      entry = backtrack();
      continue;
    }
    if (entry.isCall) {
      const op = history[entry.op]!;
      const ok = op.kind === 'put' || op.value === state;
      const nextState = op.kind === 'put' ? op.value : state;
      if (ok) {
        linearized[entry.op >>> 5]! |= 1 << (entry.op & 31);
        const key = `${linearized.join(',')}|${nextState === undefined ? '\u0000' : 'v' + nextState}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ node: entry, state });
          state = nextState;
          lift(entry);
          if (entry.match) remaining--;
          entry = head.next;
          continue;
        }
        linearized[entry.op >>> 5]! &= ~(1 << (entry.op & 31));
      }
      entry = entry.next;
    } else {
      // A return whose op is not linearized yet: this branch is dead.
      if (stack.length === 0) return false;
      entry = backtrack();
    }
  }
  return true;
}
