import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { API_SPEC_FILE, API_TYPES_FILE, renderApiTypes } from './api-types.js';

await writeFile(API_TYPES_FILE, await renderApiTypes(API_SPEC_FILE));
console.log(`${fileURLToPath(API_TYPES_FILE)} generated from ${fileURLToPath(API_SPEC_FILE)}`);
