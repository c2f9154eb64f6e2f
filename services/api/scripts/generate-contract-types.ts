import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { API_SPEC_FILE, CONTRACT_SCHEMA_FILE, renderContractTypes } from './contract-types.js';

await writeFile(CONTRACT_SCHEMA_FILE, await renderContractTypes(API_SPEC_FILE));
console.log(`${fileURLToPath(CONTRACT_SCHEMA_FILE)} generated from ${fileURLToPath(API_SPEC_FILE)}`);
