export * from './plugin.js';
export * from './plan.js';
export * from './kernel.js';
export * from './events.js';
export * from './tokens.js';
export { parseRange, parseVersion, compareVersions } from './semver.js';
