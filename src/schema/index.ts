import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './health.js';
import './source.js';
import './item.js';
import './itemMeta.js';
import './itemNote.js';
import './itemMedia.js';
import './itemRaw.js';
import './stats.js';
import './author.js';
import './import.js';
import './adminTasks.js';
import './userData.js';

export const schema = lexicographicSortSchema(builder.toSchema());
