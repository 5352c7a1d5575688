export * from './flashback-batch.js';
export { ChangedKeyWalker, findFlashbackKey, scanFlashbackWrites, batchKey } from './read-phase.js';
export * from './actions.js';
export * from './commands.js';
export { FlashbackPreviewCommand, PREVIEW_COMMAND, type PreviewArgs, type PreviewCounts } from './preview.js';
export { FlashbackService, type BackoffOptions, type FlashbackJobState, type FlashbackServiceOptions, type FlashbackStep } from './orchestrator.js';
export { parseFlashbackTime } from './time.js';
export { flashback, FLASHBACK_PLUGIN_NAME, type FlashbackPluginOptions } from './plugin.js';
