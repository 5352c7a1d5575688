export * from './events.js';
export { CdcService, FeedFlow, CDC_ROWS_PRIORITY, CDC_RESOLVED_TS_PRIORITY, type Cdc, type CdcServiceOptions, type ChangefeedOptions, type FeedStats, type OnePcFenceView } from './cdc.js';
export { cdc, CDC, CDC_PLUGIN_NAME, type CdcPluginOptions } from './plugin.js';
export { eventToJson, writeJsonLines, writeJsonLinesFile, type JsonLinesSink, type JsonLinesOptions } from './sink.js';
