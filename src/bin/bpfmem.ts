#!/usr/bin/env node
import { runCli } from '../cli/main.js';
import { processIo } from '../cli/io.js';

// The only place that ends the process (DESIGN.md, "Only bin/ calls process.exit").
const status = await runCli(process.argv.slice(2), processIo());
process.exitCode = status;
