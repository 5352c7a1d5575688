export { META_COMMAND_FORMAT, decodeMetaCommand, decodeMetaValue, encodeMetaCommand, encodeMetaValue, type MetaCommand, type PauseKind } from './meta-codec.js';
export { MetaState, stageInitialPlacement, type MetaRegionChange, type MetaResult } from './meta-state.js';
export { META_REGION_ID, META_TSO_WINDOW_MS, MetaPeer, MetaStorage, bootstrapMeta, hasMetaGroup, type MetaOutcome, type MetaPeerOptions } from './meta-peer.js';
export { InProcessMetaRouter, MetaDemux, startMetaGroup, type MetaGroup, type MetaPlacementOptions } from './meta-group.js';
export { RaftPlacement, type MetaRouter } from './raft-placement.js';
export { NodeMetaRouter, decodeMetaOutcome, getTsFromCluster, proposeToCluster, serveMetaRequest } from './meta-node.js';
