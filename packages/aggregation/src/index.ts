// Filled in by the aggregation work; nothing is exported yet.
export {};
