// peer-import.mjs — the peers (Polars, DuckDB) are installed once for the tests (tests/package.json,
// tests/node_modules); the benchmark scripts load them from there.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const requireFromTests = createRequire(join(REPO, 'tests', 'package.json'));
export async function importPeer(name) {
  return import(pathToFileURL(requireFromTests.resolve(name)).href);
}
