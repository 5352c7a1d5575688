import { decodeConfChange, type Entry, type Message, type Ready, type Snapshot } from '../src/core/index.js';

/** Readable one-line forms of raft values, used by golden scripts and failure messages. */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

export function fromLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function formatEntry(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} ${cc.type}(${cc.nodeId})`;
  }
  return e.data.length === 0 ? `${e.term}/${e.index} (empty)` : `${e.term}/${e.index} ${JSON.stringify(latin1(e.data))}`;
}

export function formatSnapshot(s: Snapshot): string {
  const cs = s.metadata.confState;
  const learners = cs.learners.length > 0 ? ` learners=${cs.learners.join(',')}` : '';
  return `snapshot ${s.metadata.term}/${s.metadata.index} voters=${cs.voters.join(',')}${learners}`;
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  const parts: string[] = [head];
  switch (m.type) {
    case 'app':
      parts.push(`prev=${m.logTerm ?? 0}/${m.index ?? 0} commit=${m.commit ?? 0}`);
      if (m.entries !== undefined && m.entries.length > 0) parts.push(`[${m.entries.map(formatEntry).join(', ')}]`);
      break;
    case 'appResp':
      if (m.reject === true) parts.push(`reject index=${m.index ?? 0} hint=${m.logTerm ?? 0}/${m.rejectHint ?? 0}`);
      else if (m.index !== undefined) parts.push(`index=${m.index}`);
      break;
    case 'vote':
    case 'preVote':
      parts.push(`last=${m.logTerm ?? 0}/${m.index ?? 0}`);
      if (m.force === true) parts.push('force');
      break;
    case 'voteResp':
    case 'preVoteResp':
      parts.push(m.reject === true ? 'rejected' : 'granted');
      break;
    case 'heartbeat':
      parts.push(`commit=${m.commit ?? 0}`);
      break;
    case 'snap':
      if (m.snapshot !== undefined) parts.push(formatSnapshot(m.snapshot));
      break;
    case 'transferLeader':
      parts.push(`to=${m.transferee ?? 0}`);
      break;
    case 'readIndexResp':
      parts.push(`index=${m.index ?? 0}`);
      break;
    default:
      break;
  }
  if (m.context !== undefined && m.context.length > 0) parts.push(`ctx=${JSON.stringify(latin1(m.context))}`);
  return parts.join(' ');
}

/** A Ready as indented lines (golden scripts print what each node was asked to do). */
export function formatReady(id: number, rd: Ready): string[] {
  const lines: string[] = [];
  if (rd.softState !== undefined) lines.push(`${id}: ${rd.softState.state} lead=${rd.softState.lead}`);
  if (rd.hardState !== undefined) lines.push(`${id}: hard state term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}`);
  if (rd.snapshot !== undefined) lines.push(`${id}: install ${formatSnapshot(rd.snapshot)}`);
  if (rd.entries.length > 0) lines.push(`${id}: persist [${rd.entries.map(formatEntry).join(', ')}]`);
  if (rd.committedEntries.length > 0) lines.push(`${id}: apply [${rd.committedEntries.map(formatEntry).join(', ')}]`);
  for (const rs of rd.readStates) lines.push(`${id}: read state index=${rs.index} ctx=${JSON.stringify(latin1(rs.ctx))}`);
  return lines;
}
