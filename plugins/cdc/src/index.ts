export * from './events.js';
export { CdcService, CDC_ROWS_PRIORITY, CDC_RESOLVED_TS_PRIORITY, type Cdc, type CdcServiceOptions, type ChangefeedOptions, type OnePcFenceView } from './cdc.js';
export { cdc, CDC, CDC_PLUGIN_NAME, type CdcPluginOptions } from './plugin.js';
export { eventToJson, writeJsonLines, writeJsonLinesFile, type JsonLinesSink } from './sink.js';
