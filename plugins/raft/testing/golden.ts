import type { ConfChangeType, ReadOnlyOption } from '../src/core/index.js';
import { SimCluster } from './cluster.js';
import { formatEntry, formatMessage, fromLatin1, latin1 } from './format.js';

/**
 * Golden scripts (STYLE.md habit 6, after etcd-io/raft's testdata): a file of blocks
 *
 *     command arg key=value
 *     ----
 *     expected output
 *
 * separated by blank lines; `#` lines before a command are comments. Outputs never contain a
 * blank line (an empty output is written as `ok`). `runGolden` returns the file as it should be,
 * so a test compares it with the original and `UPDATE_GOLDEN=1` writes it back.
 */
export interface GoldenBlock {
  readonly comments: string[];
  readonly command: string;
  readonly expected: string[];
  readonly line: number;
}

export function parseGolden(text: string, file = '<script>'): GoldenBlock[] {
  const lines = text.split('\n');
  const blocks: GoldenBlock[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    if (line.startsWith('#')) {
      comments.push(line);
      i++;
      continue;
    }
    const command = line;
    const at = i + 1;
    if (lines[i + 1] !== '----') throw new SyntaxError(`${file}:${at}: expected ---- after the command ${JSON.stringify(command)}`);
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!);
    blocks.push({ comments, command, expected, line: at });
    comments = [];
  }
  return blocks;
}

export function renderGolden(blocks: readonly GoldenBlock[], outputs: readonly string[][]): string {
  const parts = blocks.map((b, k) => [...b.comments, b.command, '----', ...outputs[k]!].join('\n'));
  return `${parts.join('\n\n')}\n`;
}

/** Runs every block of a script and returns the outputs the commands produced. */
export function runGolden(text: string, file = '<script>'): { blocks: GoldenBlock[]; outputs: string[][]; rendered: string } {
  const blocks = parseGolden(text, file);
  const env = new GoldenEnv();
  const outputs = blocks.map((b) => {
    let out: string[];
    try {
      out = env.run(b.command);
    } catch (e) {
      out = [`error: ${e instanceof Error ? e.message : String(e)}`];
    }
    return out.length === 0 ? ['ok'] : out;
  });
  return { blocks, outputs, rendered: renderGolden(blocks, outputs) };
}

function parseArgs(words: readonly string[]): { pos: string[]; kv: Map<string, string> } {
  const pos: string[] = [];
  const kv = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq > 0) kv.set(w.slice(0, eq), w.slice(eq + 1));
    else pos.push(w);
  }
  return { pos, kv };
}

function ids(text: string | undefined): number[] {
  if (text === undefined || text === '') return [];
  return text.split(',').map((s) => mustInt(s));
}

function mustInt(s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || !Number.isSafeInteger(n)) throw new SyntaxError(`expected an integer, got ${JSON.stringify(s)}`);
  return n;
}

function bool(s: string | undefined, dflt: boolean): boolean {
  if (s === undefined) return dflt;
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw new SyntaxError(`expected true or false, got ${JSON.stringify(s)}`);
}

const CC_TYPES: Record<string, ConfChangeType> = { 'add-node': 'addNode', 'add-learner': 'addLearner', 'remove-node': 'removeNode' };

/** The commands a golden script may use, over one SimCluster with a lossless FIFO network. */
export class GoldenEnv {
  private cluster: SimCluster | undefined;

  private c(): SimCluster {
    if (this.cluster === undefined) throw new Error('no cluster: start the script with `cluster voters=...`');
    return this.cluster;
  }

  run(commandLine: string): string[] {
    const [cmd, ...rest] = commandLine.trim().split(/\s+/);
    const { pos, kv } = parseArgs(rest);
    switch (cmd) {
      case 'cluster': {
        const read = kv.get('read') ?? 'safe';
        if (read !== 'safe' && read !== 'lease') throw new SyntaxError('read= is safe or lease');
        const snapEvery = kv.get('snapshot-every');
        this.cluster = new SimCluster({
          voters: ids(kv.get('voters') ?? '1,2,3'),
          learners: ids(kv.get('learners')),
          seed: mustInt(kv.get('seed') ?? '1'),
          trace: true,
          ...(snapEvery !== undefined ? { snapshotEvery: mustInt(snapEvery) } : {}),
          raft: {
            preVote: bool(kv.get('prevote'), true),
            checkQuorum: bool(kv.get('checkquorum'), true),
            readOnlyOption: (read === 'lease' ? 'leaseBased' : 'safe') satisfies ReadOnlyOption,
            electionTick: mustInt(kv.get('election') ?? '10'),
            heartbeatTick: mustInt(kv.get('heartbeat') ?? '1'),
            maxInflightMsgs: mustInt(kv.get('inflight') ?? '64'),
          },
        });
        return this.status();
      }
      case 'campaign':
        this.c().campaign(mustInt(pos[0]));
        return [];
      case 'tick': {
        this.c().tick(mustInt(pos[0]), mustInt(pos[1] ?? '1'));
        return [];
      }
      case 'tick-all': {
        const n = mustInt(pos[0] ?? '1');
        for (let i = 0; i < n; i++) this.c().tickAll();
        return [];
      }
      case 'elapse': {
        // Time passes with a prompt network: tick everyone, then settle, n times. Only role
        // changes are printed, as a timeline.
        const c = this.c();
        const n = mustInt(pos[0] ?? '1');
        const out: string[] = [];
        for (let i = 1; i <= n; i++) {
          c.tickAll();
          c.stabilize();
          for (const line of c.takeTrace()) if (/^\d+: (follower|preCandidate|candidate|leader) lead=/.test(line)) out.push(`tick ${i}: ${line}`);
        }
        return out;
      }
      case 'stabilize':
        this.c().stabilize();
        return this.c().takeTrace();
      case 'deliver': {
        const c = this.c();
        for (const env of c.network.inFlight()) c.deliver(env);
        return c.takeTrace();
      }
      case 'pending':
        return this.c().network.inFlight().map((e) => formatMessage(e.msg));
      case 'process-ready': {
        const c = this.c();
        for (const id of pos.length > 0 ? pos.map(mustInt) : c.ids()) while (c.hasReady(id)) c.handleReady(id);
        return c.takeTrace();
      }
      case 'propose': {
        const r = this.c().propose(mustInt(pos[0]), fromLatin1(pos[1] ?? ''));
        return [r.ok ? `proposed index=${r.id.index} term=${r.id.term}` : `refused: ${r.code}`];
      }
      case 'conf-change': {
        const type = CC_TYPES[pos[1] ?? ''];
        if (type === undefined) throw new SyntaxError('conf-change <id> add-node|add-learner|remove-node <node>');
        const r = this.c().proposeConfChange(mustInt(pos[0]), { type, nodeId: mustInt(pos[2]) });
        return [r.ok ? `proposed index=${r.id.index} term=${r.id.term}` : `refused: ${r.code}`];
      }
      case 'read-index': {
        const code = this.c().readIndex(mustInt(pos[0]), fromLatin1(pos[1] ?? ''));
        return code === undefined ? [] : [`refused: ${code}`];
      }
      case 'transfer-leader': {
        const code = this.c().transferLeader(mustInt(pos[0]), mustInt(pos[1]));
        return code === undefined ? [] : [`refused: ${code}`];
      }
      case 'partition': {
        const groups: number[][] = [[]];
        for (const p of pos) {
          if (p === '/') groups.push([]);
          else groups[groups.length - 1]!.push(mustInt(p));
        }
        this.c().partition(groups);
        return [];
      }
      case 'heal':
        this.c().heal();
        return [];
      case 'drop-all':
        return [`dropped ${this.c().dropAll()} messages`];
      case 'crash':
        this.c().crash(mustInt(pos[0]));
        return [];
      case 'restart':
        this.c().restart(mustInt(pos[0]));
        return this.status();
      case 'add-node':
        this.c().addNode(mustInt(pos[0]));
        return [];
      case 'compact': {
        const id = mustInt(pos[0]);
        this.c().compact(id);
        const s = this.c().node(id).storage;
        return [`${id}: snapshot at ${s.snapshot().metadata.index}, log now [${s.firstIndex()}, ${s.lastIndex()}]`];
      }
      case 'status':
        return this.status();
      case 'log': {
        const c = this.c();
        const id = mustInt(pos[0]);
        const log = c.raw(id).raft.raftLog;
        return [`${id}: first=${log.firstIndex()} last=${log.lastIndex()} commit=${log.committed} applied=${log.applied}`, ...log.allEntries().map(formatEntry)];
      }
      case 'values': {
        const c = this.c();
        return c.ids().map((id) => `${id}: [${c.node(id).sm.values.join(' ')}]`);
      }
      case 'reads': {
        const n = this.c().node(mustInt(pos[0]));
        return n.reads.length === 0 ? ['none'] : n.reads.map((r) => `index=${r.index} ctx=${latin1(r.ctx)}`);
      }
      default:
        throw new SyntaxError(`unknown command ${JSON.stringify(cmd)}`);
    }
  }

  private status(): string[] {
    const c = this.c();
    const out: string[] = [];
    for (const id of c.ids()) {
      const n = c.node(id);
      if (!n.alive) {
        out.push(`${id}: crashed`);
        continue;
      }
      const st = n.node!.status();
      const log = n.node!.raft.raftLog;
      const cs = st.confState;
      const learners = cs.learners.length > 0 ? ` learners=${cs.learners.join(',')}` : '';
      out.push(
        `${id}: ${st.state} term=${st.term} lead=${st.lead} commit=${st.commit} applied=${st.applied} last=${log.lastIndex()} voters=${cs.voters.join(',')}${learners}`,
      );
      if (st.progress !== undefined) {
        for (const [pid, pr] of [...st.progress].sort((a, b) => a[0] - b[0])) {
          if (pid !== id) out.push(`  ${pid}: ${pr.describe()}`);
        }
      }
    }
    return out;
  }
}
