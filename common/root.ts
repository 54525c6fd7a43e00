// The repository's root, whether the code runs from its sources (tsx: tests, benchmarks) or compiled
// in dist/ (`npm run build`: the services, `npm start`, the CLIs).
import { join } from 'node:path';

const compiled = import.meta.url.endsWith('.js'); // <root>/dist/common/root.js, else <root>/common/root.ts
export const root = join(import.meta.dirname, compiled ? '../..' : '..');
export const dist = join(root, 'dist');
