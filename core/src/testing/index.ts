// Conformance suites and test helpers shipped beside the contracts (STYLE.md habit 3).
export { Rng, testSeed } from './rng.js';
export { bytes, bytesEqual, latin1, showKey, showValue, u32be } from './bytes.js';
export { ReferenceEngine, type ReferenceEngineOptions } from './reference-engine.js';
export { wrapEngine, type EngineHooks, type WrappedEngine } from './wrap-engine.js';
export { mustFill, mustGet, mustGetNone, mustKeys, mustPut, mustScan, mustWalk, type Move } from './must.js';
export { runEngineConformance, type EngineConformanceOptions } from './engine-conformance.js';
export {
  EngineMismatchError,
  compareEngines,
  compareRead,
  writeBatchOf,
  describeOp,
  describeStep,
  generateSteps,
  runDifferential,
  runEngineDifferential,
  type DiffGenOptions,
  type DiffStep,
  type DifferentialOptions,
  type DifferentialResult,
  type EngineDifferentialOptions,
  type IterMove,
  type ReaderRef,
} from './engine-differential.js';
export { SimulatedTimers } from './sim-timers.js';
export { assertBankRun, runBankWorkload, type BankOptions, type BankResult, type BankStats } from './bank.js';
