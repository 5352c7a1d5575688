// The process launcher lives in src (the bench uses it too).
export { ProcCluster, freePort } from '../src/net/processes.js';
