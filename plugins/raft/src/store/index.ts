export * from './codec.js';
export { PeerStorage, confStateOf } from './peer-storage.js';
export { Store, RegionPeer, bootstrapStore, RAFT_INIT_INDEX, RAFT_INIT_TERM, type StoreOptions, type StoreRaftOptions } from './store.js';
export { InProcessTransport, type InProcessTransportOptions, type RaftEnvelope, type RaftReceiver, type Transport, type TransportRng } from './transport.js';
export { RaftConsensus, type RaftConsensusOptions, type RaftReadOptions } from './raft-consensus.js';
export { ManualTickSource, StoreTicker, intervalTickSource, type TickSource, type Tickable } from './ticker.js';
export { ClusterConsensus, RaftCluster, SeededRng, type RaftClusterOptions } from './cluster.js';
export { dumpStore } from './dump.js';
export { applyPeerChange, checkPeerChange, decodeChangePeer, encodeChangePeer, toConfChange, type ChangePeerCommand, type ChangePeerResult, type PeerChange } from './membership.js';
