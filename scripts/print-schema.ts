// Prints the public API as SDL to schema.graphql; the file is checked in so a review shows every API change.
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';

writeFileSync(new URL('../schema.graphql', import.meta.url), `${printSchema(schema)}\n`);
process.stdout.write('wrote schema.graphql\n');
