import type { EncodedKey } from '../../codec/index.js';
import type { Write } from '../../codec/index.js';
import { alreadyExistError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import { rawOf } from './common.js';

/**
 * ALREADY_EXIST for an insert / checkNotExists on a key that exists (TiKV
 * `check_data_constraint`). `write` is the newest record at `commitTs`: a Put means the key
 * exists, a Delete that it does not; a Lock or Rollback says nothing, so the versions below it
 * decide.
 */
export function checkDataConstraint(reader: MvccReader, shouldNotExist: boolean, write: Write, commitTs: bigint, key: EncodedKey): void {
  if (!shouldNotExist || write.writeType === 'Delete') return;
  if (write.writeType === 'Put' || (commitTs > 0n && reader.getWrite(key, commitTs - 1n) !== undefined)) {
    throw alreadyExistError(rawOf(key));
  }
}
