/**
 * The command contract (STYLE.md habit 4, TiKV's `src/storage/txn/commands`): a command names
 * the keys it touches, the scheduler latches them, builds a context and calls `process` once.
 * Actions (pure functions over txn and reader) live below commands; the scheduler above them
 * owns concurrency, so a command never locks anything itself.
 *
 * Kept deliberately small: prewrite, commit, flashback and third-party commands all fit it.
 */
import { InvalidArgumentError } from '../../errors.js';

/**
 * What the scheduler always gives a command. A concrete scheduler is generic over a richer
 * context (a snapshot, the consensus handle, a clock): see `SchedulerOptions.context`.
 */
export interface CommandContext {
  /** The scheduler's id for this run: unique per scheduler, increasing in arrival order. */
  readonly cid: number;
}

export interface Command<R, C = CommandContext> {
  /** Stable name for registries, errors and metrics, e.g. `prewrite`. */
  readonly name: string;
  /**
   * Every key the command may write or whose read must not race a write (TiKV latches the
   * keys of prewrite, commit, rollback, ...). Called once, at arrival; the array and keys may
   * be reused by the caller afterwards, as only their hashes are kept. Read-only commands
   * that need no isolation return an empty array and never wait.
   */
  latchKeys(): readonly Uint8Array[];
  /**
   * Runs with the latches held; they are released when the returned promise settles, whether
   * it resolves or rejects. A rejection reaches the caller of `Scheduler.run` unchanged.
   */
  process(ctx: C): Promise<R>;
}

/** Builds a command from request arguments; registered under the command's name. */
export type CommandFactory<C = CommandContext> = (args: unknown) => Command<unknown, C>;

export interface CommandRegistration {
  readonly name: string;
  /** Who registered it (a plugin name), for the duplicate-name error. */
  readonly owner: string;
}

/**
 * Name -> factory, so plugins add commands (flashback's prepare/finish, a third party's own)
 * without forking the txn layer. A name can be registered once; a second registration is an
 * error naming both owners, because silently replacing a command would change what an
 * existing request does.
 */
export class CommandRegistry<C = CommandContext> {
  private readonly entries = new Map<string, { readonly factory: CommandFactory<C>; readonly owner: string }>();

  register(name: string, factory: CommandFactory<C>, options: { readonly owner?: string } = {}): CommandRegistration {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a command name must be a non-empty string');
    if (typeof factory !== 'function') throw new TypeError(`command ${name}: the factory must be a function`);
    const owner = options.owner ?? 'anonymous';
    const existing = this.entries.get(name);
    if (existing !== undefined) {
      throw new InvalidArgumentError(`command ${name} is already registered by ${existing.owner}; ${owner} cannot register it again`, {
        command: name,
        owner: existing.owner,
        duplicateOwner: owner,
      });
    }
    this.entries.set(name, { factory, owner });
    return { name, owner };
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  /**
   * Builds a command by name. An unknown name is INVALID_ARGUMENT (it usually comes from a
   * request); a factory returning something that is not a command of that name is a TypeError.
   */
  create<R = unknown>(name: string, args: unknown): Command<R, C> {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new InvalidArgumentError(`unknown command ${JSON.stringify(name)}`, { command: name, known: this.names() });
    }
    const cmd = entry.factory(args);
    if (cmd === null || typeof cmd !== 'object' || typeof cmd.latchKeys !== 'function' || typeof cmd.process !== 'function') {
      throw new TypeError(`command ${name}: the factory registered by ${entry.owner} did not return a command`);
    }
    if (cmd.name !== name) throw new TypeError(`command ${name}: the factory registered by ${entry.owner} returned a command named ${cmd.name}`);
    return cmd as Command<R, C>;
  }
}
