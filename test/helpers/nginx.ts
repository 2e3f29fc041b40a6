// A real nginx with WebDAV PUT as a Bazel HTTP cache (`<url>/cas/…`, `<url>/ac/…`), on a free
// loopback port, in a temp folder; its access log says which requests a build made.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './cli.js';

export const NGINX = ['/usr/sbin/nginx', 'nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0);

export interface Request {
  method: string;
  uri: string;
  status: number;
  bytes: number;
}

export class Nginx {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private proc: ChildProcess | undefined,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/cache`;
  }

  static async start(): Promise<Nginx> {
    if (!NGINX) throw new Error('nginx is not installed');
    const dir = await tempDir('mlc-build-nginx-');
    await mkdir(join(dir, 'root', 'cache'), { recursive: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    const port = await freePort();
    const user = process.getuid?.() === 0 ? 'user root;' : '';
    await writeFile(
      join(dir, 'nginx.conf'),
      `${user}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  log_format cache '$request_method $uri $status $body_bytes_sent $request_length';
  access_log ${dir}/access.log cache;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/root;
    location /cache/ {
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
    }
  }
}
`,
    );
    const n = new Nginx(dir, port, undefined);
    await n.resume();
    return n;
  }

  /** Starts (again) on the same port and folder. */
  async resume(): Promise<void> {
    this.proc = spawn(NGINX as string, ['-p', this.dir, '-c', join(this.dir, 'nginx.conf')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await answers(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nginx did not start: ${await readFile(join(this.dir, 'error.log'), 'utf8').catch(() => '')}`);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }

  async requests(): Promise<Request[]> {
    const text = await readFile(join(this.dir, 'access.log'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [method, uri, status, bytes] = l.split(' ');
        return { method: method as string, uri: uri as string, status: Number(status), bytes: Number(bytes) };
      });
  }

  /** Forgets everything it holds, as an evicting server (bazel-remote's LRU) may. */
  async wipe(): Promise<void> {
    await rm(join(this.dir, 'root', 'cache'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'root', 'cache'), { recursive: true });
  }

  /** Forgets the requests logged so far. */
  async clearLog(): Promise<void> {
    await writeFile(join(this.dir, 'access.log'), '');
    // nginx keeps its file open and appends: truncating in place is enough.
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
