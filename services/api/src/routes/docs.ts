import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { Router } from 'express';

const SWAGGER_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const INDEX = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pgw API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/swagger-ui-standalone-preset.js"></script>
<script src="/api/docs/pgw-init.js"></script></body></html>
`;

// Own initializer: the packaged one points at the petstore demo, and an inline script would need a CSP hole.
const INIT = `window.ui = SwaggerUIBundle({ url: '/api/docs/openapi.yaml', dom_id: '#swagger-ui', withCredentials: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });
`;

/** The contract at /api/docs/openapi.yaml and an interactive viewer (swagger-ui-dist) at /api/docs/. */
export function docsRoutes(specPath: string): Router {
  const router = Router();
  // Non-strict routing: this serves both /api/docs and /api/docs/ (the page uses absolute URLs).
  router.get('/api/docs', (_req, res) => void res.type('html').send(INDEX));
  router.get('/api/docs/pgw-init.js', (_req, res) => void res.type('js').send(INIT));
  router.get('/api/docs/openapi.yaml', (_req, res) => res.type('application/yaml').sendFile(specPath));
  router.use('/api/docs', express.static(SWAGGER_DIR, { index: false }));
  return router;
}
