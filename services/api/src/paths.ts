import { fileURLToPath } from 'node:url';

// This file sits in services/api/src (or dist): the repository root is three levels up.
export const API_SPEC_PATH = fileURLToPath(new URL('../../../API_SPEC.yaml', import.meta.url));
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../ui/dist', import.meta.url));
