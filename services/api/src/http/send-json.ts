import type { Request, Response } from 'express';

/**
 * JSON body and ETag per answer object: a cached answer (services/read-cache.ts) is serialised once,
 * not per request. Kept as bytes: express turns a string body of 1000 characters or more into a new
 * Buffer on every send (to count it), a copy of the whole page and as much garbage per request.
 */
const serialised = new WeakMap<object, { body: Buffer; etag: string | undefined }>();

/**
 * res.json for answers that are served many times as the same object. A 30 KB mappings page
 * stringified and hashed for its ETag on every request was about a third of the api's CPU at
 * 500 requests/s and most of its garbage (docs/benchmarks.md, bench:api). The answer must not be
 * changed after it is sent (read-cache answers never are).
 */
export function sendJson(req: Request, res: Response, answer: object): void {
  if (req.app.locals.validatesResponses) return void res.json(answer);
  let entry = serialised.get(answer);
  if (!entry) {
    const body = JSON.stringify(answer);
    const etagOf = req.app.get('etag fn') as ((body: string, encoding: BufferEncoding) => string) | undefined;
    entry = { body: Buffer.from(body, 'utf8'), etag: etagOf?.(body, 'utf8') };
    serialised.set(answer, entry);
  }
  // express computes no ETag of its own when one is set, and still answers a matching If-None-Match with 304.
  if (entry.etag) res.setHeader('ETag', entry.etag);
  res.type('json').send(entry.body);
}
