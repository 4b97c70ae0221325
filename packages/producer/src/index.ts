// Planned: see the open issue for @shardline/producer. Nothing is exported yet.
export {};
