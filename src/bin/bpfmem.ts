#!/usr/bin/env node
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useCompileCache } from './compile-cache.js';
import { cacheDir } from '../sys/file/cache-dir.js';
import { isCommandName } from '../cli/command-names.js';

// The code cache first (this file and its two imports are all a run compiles without one),
// then the CLI, whose files it compiles from the cache.
// A cache per command (its first word; `other` for options alone or a word that is no command:
// a typo makes no cache of its own).
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
useCompileCache(dirname(fileURLToPath(import.meta.url)), cacheDir(), command !== undefined && isCommandName(command) ? command : 'other');
void import('./cli.js');
