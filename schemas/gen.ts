// Generates static protobuf code (schemas/gen/messages.{js,d.ts}) from the .proto files, so the hot
// path encodes and decodes without reflection. Runs on `npm install` (prepare) and after a .proto edit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const bin = (name: string) => join(dir, '..', 'node_modules', '.bin', name);
const out = join(dir, 'gen', 'messages.js');
mkdirSync(join(dir, 'gen'), { recursive: true });

// int64 fields are JS numbers (unix ms and micros stay far below 2^53): --force-number types them so,
// and the line added after the import makes protobufjs decode them so, without Long objects.
execFileSync(
  bin('pbjs'),
  [
    '-t',
    'static-module',
    '-w',
    'es6',
    '--force-number',
    '--no-verify',
    '--no-convert',
    '--no-delimited',
    '--no-service',
    '--no-typeurl',
    '-p',
    dir,
    '-o',
    out,
    join(dir, 'beacon.proto'),
    join(dir, 'pipeline.proto'),
  ],
  { stdio: 'inherit' },
);
const head = 'import $protobuf from "protobufjs/minimal.js";';
const js = readFileSync(out, 'utf8');
if (!js.includes(head)) throw new Error(`pbjs output changed: "${head}" not found`);
writeFileSync(out, js.replace(head, `${head}\n$protobuf.util.Long = undefined;\n$protobuf.configure();`));
execFileSync(bin('pbts'), ['--no-comments', '-o', out.replace(/\.js$/, '.d.ts'), out], { stdio: 'inherit' });
