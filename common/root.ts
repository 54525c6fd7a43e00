// The repository's root, whether the code runs from its sources (tsx: tests, benchmarks) or compiled
// in dist/ (`npm run build`: the services, `npm start`, the CLIs).
import { basename, dirname, join } from 'node:path';

const common = import.meta.dirname; // <root>/common or <root>/dist/common
export const root = basename(dirname(common)) === 'dist' ? join(common, '..', '..') : join(common, '..');
export const dist = join(root, 'dist');
