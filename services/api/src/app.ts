import { readFileSync } from 'node:fs';
import cookieParser from 'cookie-parser';
import express, { type Express, type Request, type RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import { Histogram, type Registry } from 'prom-client';
import { load as parseYaml } from 'js-yaml';
import type { ApiContext } from './context.js';
import './http/express-types.js';
import { enforceAccess } from './http/access.js';
import { ApiError } from './http/api-error.js';
import { authenticate } from './http/authenticate.js';
import { errorHandler } from './http/error-handler.js';
import { hostCheck } from './http/host-check.js';
import { onlyStringCookies, refuseNul } from './http/hostile-input.js';
import { requestContext } from './http/request-context.js';
import { resolveOperation } from './http/resolve-operation.js';
import { compileOperations, type SpecPaths } from './logic/operation-matcher.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { consoleRoutes } from './routes/console.js';
import { deviceRoutes } from './routes/devices.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { mappingCsvRoutes } from './routes/mappings-csv.js';
import { mappingRoutes } from './routes/mappings.js';
import { nodeRoutes } from './routes/nodes.js';
import { mappingBulkRoutes } from './routes/mappings-bulk.js';
import { opsRoutes } from './routes/ops.js';
import { proxyRoutes } from './routes/proxies.js';
import { settingsRoutes } from './routes/settings.js';
import { statusRoutes } from './routes/status.js';
import { usageRoutes } from './routes/usage.js';
import { userRoutes } from './routes/users.js';

export interface AppOptions {
  specPath: string;
  uiDir: string | null;
  /** express "trust proxy": false, or the reverse proxy's addresses/subnets (config.ts refuses true and hop counts). */
  trustProxy: false | string;
  /** The names clients reach the api by, besides IP addresses and localhost (PGW_API_HOSTNAMES). */
  hostNames: readonly string[];
  /** Tests: also validate every response against the spec (a mismatch becomes a 500). */
  validateResponses: boolean;
  registry: Registry;
}

/** No query string and no body: for a plain operation there is nothing for the validator to check but the route. */
const hasNoInput = (req: Request) => !req.url.includes('?') && req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';

/**
 * The OpenAPI validator (parameters, query, body, and responses in tests), except for calls of plain
 * operations without input: for those the resolved operation is all there is to know, and skipping
 * the validator's own route scan keeps the hot reads fast.
 */
const validateRequests = (validator: RequestHandler[]): RequestHandler[] =>
  validator.map((handler): RequestHandler => (req, res, next) => (req.operation?.plain && hasNoInput(req) ? next() : handler(req, res, next)));

export function createApp(ctx: ApiContext, options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.set('trust proxy', options.trustProxy);
  // http/send-json.ts: the response validator sees only what goes through res.json.
  app.locals.validatesResponses = options.validateResponses;
  const duration = new Histogram({
    name: 'pgw_api_http_request_duration_seconds',
    help: 'API request latency by method, OpenAPI route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [options.registry],
  });

  app.use(requestContext(ctx.logger, duration));
  // The console and Swagger UI need their own origin, inline styles (Vue's style bindings) and data:
  // images and fonts: helmet's defaults also let styles and fonts come from any https: origin (an
  // injected <link> could read the page out through CSS selectors), and no page may frame them.
  // No upgrade-insecure-requests: plain HTTP at an address is a way the console is reached (the LAN
  // address, docs/DEPLOYMENT.md), and there the browser fetched its scripts as https:// on the same
  // port and showed a blank page. Behind TLS every fetch is https already.
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          baseUri: ["'self'"],
          connectSrc: ["'self'"],
          fontSrc: ["'self'", 'data:'],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          imgSrc: ["'self'", 'data:'],
          objectSrc: ["'none'"],
          scriptSrc: ["'self'"],
          scriptSrcAttr: ["'none'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
        },
      },
      // The CSP's frame-ancestors says it to browsers that read it; X-Frame-Options to the rest.
      xFrameOptions: { action: 'deny' },
    }),
  );
  // Before anything reads the request: a DNS rebinding page names a host the api was not given.
  app.use(hostCheck(new Set(options.hostNames)));
  // Every request is resolved to one spec operation (or a public docs/console file) before anything
  // else looks at it; everything after this line runs only for operations of API_SPEC.yaml.
  // Parsed once, here, with js-yaml (40 ms where `yaml` takes 170 at start): the validator bundles
  // a copy (given the path, it would read and parse the file again).
  const spec = parseYaml(readFileSync(options.specPath, 'utf8')) as SpecPaths;
  const matcher = compileOperations(spec);
  const console = options.uiDir ? consoleRoutes(options.uiDir, matcher.prefixes) : null;
  app.use(resolveOperation(matcher, [docsRoutes(options.specPath), ...(console ? [console] : [])]));
  // An operation's answer (users, audit rows, exports, the CSRF token, a refusal) is stored by no
  // browser or proxy cache: it outlived the session on a shared workstation's disk, and a caching
  // reverse proxy could serve a cookie-authenticated answer to someone else. The console's files
  // (served above) keep their own caching.
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(cookieParser());
  app.use(onlyStringCookies);
  // Who asks, and whether they may, before any body is read: an anonymous request to an operation
  // that needs a session is refused without the api parsing and validating up to 2 MB for nobody
  // (and without telling it which bodies would be valid). Neither reads the body (CSRF: a header).
  app.use(authenticate(ctx));
  app.use(enforceAccess(ctx));
  app.use(express.json({ limit: '256kb' }));
  app.use(express.text({ type: 'text/csv', limit: '2mb' }));
  const validator = OpenApiValidator.middleware({
      apiSpec: structuredClone(spec) as never,
      // The spec's own validity against the OpenAPI schema (~150 ms of CPU at every start, at boot
      // beside the data plane) is checked by contract/api-spec.spec.ts, on the file this api ships with.
      validateApiSpec: false,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: options.validateResponses ? { onError: (error) => { throw error; } } : false,
      validateSecurity: false,
  }) as unknown as RequestHandler[];
  app.use(...validateRequests(validator));
  app.use(refuseNul);
  for (const router of [
    opsRoutes(ctx),
    authRoutes(ctx),
    userRoutes(ctx),
    proxyRoutes(ctx),
    mappingCsvRoutes(ctx),
    mappingRoutes(ctx),
    deviceRoutes(ctx),
    mappingBulkRoutes(ctx),
    usageRoutes(ctx),
    settingsRoutes(ctx),
    statusRoutes(ctx),
    nodeRoutes(ctx),
    auditRoutes(ctx),
    eventRoutes(ctx),
  ]) {
    app.use(router);
  }
  // An operation of the spec that no router implements.
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `nothing at ${req.method} ${req.path}`)));
  app.use(errorHandler(ctx.logger));
  return app;
}
