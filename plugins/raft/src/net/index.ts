export { TcpTransport, tokenMatches, type BatchRaftReceiver, type ClientConnection, type NetAddress, type TcpTransportOptions, type TcpTransportStats } from './tcp-transport.js';
export * from './wire.js';
export * from './protocol.js';
export { RaftNode, type NodeStatus, type RaftNodeOptions } from './node.js';
export { RaftClient, RaftClientError, type RaftClientOptions } from './client.js';
export { ProcCluster, freePort, NODE_MAIN, type ProcClusterOptions } from './processes.js';
