// Planned: see the open issue for @shardline/consumer. Nothing is exported yet.
export {};
