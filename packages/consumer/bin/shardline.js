#!/usr/bin/env node
// The `shardline` command. A committed launcher, so package managers can link the bin before the package is
// built (the CLI itself is compiled to dist/).
import '../dist/cli.js';
