import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { afterAll, describe, expect, it } from 'vitest';
import config from '../codegen.js';

const root = path.resolve(import.meta.dirname, '..');
const checkedIn = path.join(root, 'client', 'generated');
const fix = 'client/generated/ is stale: run `npm run codegen` and commit the result';

describe('client/generated/', () => {
  let outDir: string | undefined;
  afterAll(() => (outDir ? rm(outDir, { recursive: true, force: true }) : undefined));

  // schema.graphql itself is checked against the code by schemaFile.test.ts; together the two cover what
  // `npm run codegen` (schema, then documents) would change.
  it('is what codegen.ts generates from schema.graphql and examples/*.graphql', async () => {
    outDir = await mkdtemp(path.join(tmpdir(), 'sx-codegen-'));
    // codegen.ts itself, with only its one output folder moved: a new option in codegen.ts is tested too.
    const outputs = Object.values(config.generates);
    expect(outputs).toHaveLength(1);
    await generate({ ...config, cwd: root, silent: true, generates: { [`${outDir}/`]: outputs[0] } }, true);

    const generated = (await readdir(outDir, { recursive: true })).sort();
    const committed = (await readdir(checkedIn, { recursive: true })).sort();
    expect(committed, fix).toEqual(generated);
    for (const file of generated) {
      const want = await readFile(path.join(outDir, file));
      const have = await readFile(path.join(checkedIn, file));
      expect(have.equals(want), `${file} differs. ${fix}`).toBe(true);
    }
  });
});
