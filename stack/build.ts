// `npm run build`: compiles the services, the CLIs and the stack's scripts to dist/ (tsconfig.build.json,
// incremental), then copies beside them the files they read at run time: SQL, Lua, the migrations,
// the generated protobuf code and data files. Then bundles the browser SDK (esbuild, minified) to
// dist/sdk/: ads.mjs, an ES module, and ads.js, a script tag's (global AdsSdk). Run by `npm install`
// (prepare), `npm start` and the tests.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { dist, root } from '../common/root.js';

const sources = ['common', 'schemas', 'ingest', 'aggregator', 'rewards', 'payouts', 'stack', 'bench'];
const assets = /\.(sql|lua|txt)$|^schemas\/gen\/.*\.js$/;

execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
  { stdio: 'inherit' },
);
let copied = 0;
for (const dir of sources) {
  for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, file);
    if (!assets.test(path)) continue;
    mkdirSync(dirname(join(dist, path)), { recursive: true });
    copyFileSync(join(root, path), join(dist, path));
    copied++;
  }
}
const sizes: string[] = [];
for (const [format, file] of [
  ['esm', 'ads.mjs'],
  ['iife', 'ads.js'],
] as const) {
  const outfile = join(dist, 'sdk', file);
  await build({
    entryPoints: [join(root, 'ingest/sdk/browser.ts')],
    bundle: true,
    minify: true,
    format,
    globalName: 'AdsSdk',
    target: 'es2022',
    platform: 'browser',
    outfile,
    logLevel: 'warning',
  });
  const bytes = readFileSync(outfile);
  sizes.push(`${file} ${(bytes.length / 1024).toFixed(1)} KiB (${(gzipSync(bytes).length / 1024).toFixed(1)} gzipped)`);
}
// stderr: a CLI's output stays its own
console.error(`[build] dist/ compiled, ${copied} files copied beside it; SDK ${sizes.join(', ')}`);
