// pnpm hooks. Only beforePacking, which shapes the manifests `pnpm pack` and `pnpm publish` write: a published
// package keeps what installing and resolving it needs, and leaves out what points into this workspace (the
// devDependencies, some of them private, and the `@shardline/source` condition naming src/, which does not
// ship). pnpm records a checksum of this file in pnpm-lock.yaml: edit both together (`pnpm install`).
const SOURCE_CONDITION = '@shardline/source';

function withoutSourceCondition(exports) {
  if (exports === null || typeof exports !== 'object' || Array.isArray(exports)) return exports;
  const kept = {};
  for (const [key, value] of Object.entries(exports)) {
    if (key !== SOURCE_CONDITION) kept[key] = withoutSourceCondition(value);
  }
  return kept;
}

module.exports = {
  hooks: {
    beforePacking(pkg) {
      delete pkg.devDependencies;
      if (pkg.exports) pkg.exports = withoutSourceCondition(pkg.exports);
      return pkg;
    },
  },
};
