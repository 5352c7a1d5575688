// Conformance suites and test helpers shipped beside the contracts (STYLE.md habit 3).
export {};
