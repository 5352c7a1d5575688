// @flashkv/raft/testing: the seeded simulation harness for the raft core (STYLE.md habit 6).
export { SimCluster, SimNode, type ClusterOptions, type NodeOptions, type ProposeResult } from './cluster.js';
export { SimNetwork, type Envelope, type NetworkOptions } from './sim-network.js';
export { SimStateMachine } from './state-machine.js';
export { SafetyChecker, InvariantViolation, type LiveNode } from './invariants.js';
export { runChaos, type ChaosOptions, type ChaosStats } from './chaos.js';
export { formatEntry, formatMessage, formatReady, formatSnapshot, fromLatin1, latin1 } from './format.js';
export { GoldenEnv, parseGolden, renderGolden, runGolden, type GoldenBlock } from './golden.js';
export { DiskLog, StoreCluster, type ClusterMember, type StoreClusterOptions } from './store-cluster.js';
export { driveTicks, fireTicks, settleTick } from './manual-ticks.js';
