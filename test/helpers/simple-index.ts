// A package index in PEP 503's "simple" form, served from a folder of wheels: /simple/<name>/
// lists the files of a project with their sha256, as PyPI and private mirrors do.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export class SimpleIndex {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** The paths asked for, in order. */
    readonly requests: string[],
  ) {}

  static async serve(dir: string): Promise<SimpleIndex> {
    const normalise = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '-');
    const requests: string[] = [];
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      requests.push(url);
      const files = readdirSync(dir).filter((f) => f.endsWith('.whl'));
      const project = /^\/simple\/([^/]+)\/?$/.exec(url)?.[1];
      if (project) {
        const mine = files.filter((f) => normalise(f.split('-')[0] ?? '') === normalise(project));
        if (mine.length === 0) return void res.writeHead(404).end();
        const links = mine.map(
          (f) =>
            `<a href="/files/${f}#sha256=${createHash('sha256')
              .update(readFileSync(join(dir, f)))
              .digest('hex')}">${f}</a>`,
        );
        return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><html><body>${links.join('\n')}</body></html>`);
      }
      const file = /^\/files\/([^/]+\.whl)$/.exec(url)?.[1];
      if (file && files.includes(file)) return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(join(dir, file)));
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return new SimpleIndex(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/simple`, requests);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
