// The TiKV-compatible codec (FORMATS.md). Modules are added beside this file.
export {};
