// Generates static protobuf code (schemas/gen/messages.{js,d.ts}) from the .proto files, so the hot
// path encodes and decodes without reflection. Runs on `npm ci` (prepare) and after a .proto edit.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const bin = (name: string) => join(dir, '..', 'node_modules', '.bin', name);
const out = join(dir, 'gen', 'messages.js');
mkdirSync(join(dir, 'gen'), { recursive: true });

// int64 fields decode to JS numbers: unix ms and micros stay far below 2^53.
execFileSync(bin('pbjs'), [
  '-t', 'static-module', '-w', 'es6', '--force-number', '--no-verify', '--no-convert',
  '--no-delimited', '--no-service', '--no-typeurl', '-p', dir, '-o', out,
  join(dir, 'beacon.proto'), join(dir, 'pipeline.proto'),
], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['--no-comments', '-o', out.replace(/\.js$/, '.d.ts'), out], { stdio: 'inherit' });
