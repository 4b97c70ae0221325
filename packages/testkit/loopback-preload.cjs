// Preloaded (node -r) into the kinesis-local child process. kinesis-local hard-codes 0.0.0.0 as its
// listen address; tests and the demo must only ever expose loopback, so every server this process
// opens on a wildcard or unspecified address is moved to 127.0.0.1.
'use strict';
const net = require('node:net');

const WILDCARDS = new Set([undefined, null, '', '0.0.0.0', '::', '0:0:0:0:0:0:0:0']);
const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && WILDCARDS.has(first.host)) {
      args[0] = { ...first, host: '127.0.0.1' };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string' || WILDCARDS.has(args[1])) {
      // listen(port[, host][, backlog][, cb]): insert or replace the host argument.
      if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
        args[1] = '127.0.0.1';
      } else {
        args.splice(1, 0, '127.0.0.1');
      }
    }
  }
  return originalListen.apply(this, args);
};
