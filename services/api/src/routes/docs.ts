import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RequestHandler, Response } from 'express';

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
// validatorUrl none: Swagger UI would load a badge from validator.swagger.io (naming the spec's URL)
// on every host but localhost, which the CSP refuses.
const INIT = `window.ui = SwaggerUIBundle({ url: '/api/docs/openapi.yaml', dom_id: '#swagger-ui', withCredentials: true, validatorUrl: 'none',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });
`;

/**
 * The contract at /api/docs/openapi.yaml and an interactive viewer (swagger-ui-dist) at /api/docs/:
 * a fixed table of exact paths (GET and HEAD), public like the console. Only the files the page
 * loads are served, not the rest of the package (its petstore index, package.json, ...).
 */
export function docsRoutes(specPath: string): RequestHandler {
  const file = (path: string, type?: string) => (res: Response) => void (type ? res.type(type) : res).sendFile(path);
  const page = (type: string, body: string) => (res: Response) => void res.type(type).send(body);
  const pages = new Map<string, (res: Response) => void>([
    // The page uses absolute URLs, so it works at both spellings people type.
    ['/api/docs', page('html', INDEX)],
    ['/api/docs/', page('html', INDEX)],
    ['/api/docs/pgw-init.js', page('js', INIT)],
    ['/api/docs/openapi.yaml', file(specPath, 'application/yaml')],
    ...['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js'].map((name) => [`/api/docs/${name}`, file(join(SWAGGER_DIR, name))] as const),
  ]);
  return (req, res, next) => {
    const query = req.url.indexOf('?');
    const serve = req.method === 'GET' || req.method === 'HEAD' ? pages.get(query === -1 ? req.url : req.url.slice(0, query)) : undefined;
    if (serve) serve(res);
    else next();
  };
}
