/**
 * The FlashbackWrite batch step (FLASHBACK.md a.5.3). The kernel itself lives behind core's
 * `HotPath.flashbackBatch` (TS reference `flashbackBatchReference` in core, WASM in
 * @flashkv/asm); this module keeps flashback's batch sizes and the names the plugin has always
 * exported for the flat input/output and the direct reference call.
 */
import { newFlashbackBatchInput as newCoreInput, type FlashbackBatchInput } from '@flashkv/core';

export {
  FLASHBACK_MAX_WRITE_SIZE as MAX_TXN_WRITE_SIZE,
  FLASHBACK_OLD_ABSENT as OLD_ABSENT,
  FLASHBACK_OLD_PUT as OLD_PUT,
  FLASHBACK_OUT_WRITE_CF as OUT_WRITE_CF,
  FLASHBACK_OUT_DEFAULT_CF as OUT_DEFAULT_CF,
  flashbackBatchReference as flashbackBatch,
  flashbackBatchBound,
  newFlashbackBatchOutput,
  type FlashbackBatchInput,
  type FlashbackBatchOutput,
  type FlashbackBatchResult,
} from '@flashkv/core';

/** Most keys one FlashbackWrite batch rewrites (TiKV FLASHBACK_BATCH_SIZE - 1; = HOT_BATCH_MAX). */
export const FLASHBACK_BATCH_KEYS = 256;
/** Keys one read phase scans: one more than a batch, the extra one is the resume key. */
export const FLASHBACK_SCAN_KEYS = FLASHBACK_BATCH_KEYS + 1;
/** Values up to this length live inside the Write record (FORMATS.md 3.4). */
export const SHORT_VALUE_MAX_LEN = 255;

/** Room for at most `maxKeys` keys. */
export function newFlashbackBatchInput(maxKeys: number = FLASHBACK_SCAN_KEYS): FlashbackBatchInput {
  return newCoreInput(maxKeys);
}
