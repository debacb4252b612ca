import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; output:\n${seen}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  });
}

describe('the undersign command', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let schema: string | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'undersign-cli-'));
    env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    if (process.env.DATABASE_URL) {
      schema = `cli_${randomBytes(5).toString('hex')}`;
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`create schema ${schema}`);
      await client.end();
      const url = new URL(process.env.DATABASE_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      env.DATABASE_URL = url.toString();
    }
  });

  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (schema && process.env.DATABASE_URL) {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    }
  });

  it('serves, prints the first-owner link, and shuts down gracefully finishing an in-flight request', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [cli, 'serve'], {
      env: { ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const link = await waitForOutput(child, /(http:\/\/localhost:\d+\/admin\/invite\/[\w-]+)/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const invite = await fetch(`http://127.0.0.1:${port}${new URL(link[1]!).pathname}`);
      expect(invite.status).toBe(200);
      expect(await invite.text()).toContain('You are invited as <strong>owner</strong>');

      // Start a request whose body is still arriving, then ask the server to stop.
      const body = 'email=a%40example.org&password=secret-password';
      const inFlight = new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/admin/login',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 10));
        setTimeout(() => {
          child.kill('SIGTERM');
          setTimeout(() => req.end(body.slice(10)), 300);
        }, 200);
      });
      expect(await inFlight).toBe(403); // answered (the form had no sign-in token), not cut off
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('adds a user with a password from the command line', () => {
    const result = spawnSync(
      process.execPath,
      [
        cli,
        'user',
        'add',
        '--email',
        'Cli@Example.org',
        '--role',
        'admin',
        '--password',
        'a long cli password',
      ],
      {
        env,
        encoding: 'utf8',
      },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Created admin cli@example.org');
    expect(result.status).toBe(0);
    const again = spawnSync(
      process.execPath,
      [cli, 'user', 'add', '--email', 'cli@example.org', '--password', 'a long cli password'],
      {
        env,
        encoding: 'utf8',
      },
    );
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already exists');
  });

  it('explains unknown commands and bad options', () => {
    const unknown = spawnSync(process.execPath, [cli, 'frobnicate'], { env, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "frobnicate"');
    const badRole = spawnSync(
      process.execPath,
      [cli, 'user', 'add', '--email', 'x@example.org', '--role', 'king'],
      { env, encoding: 'utf8' },
    );
    expect(badRole.status).toBe(1);
    expect(badRole.stderr).toContain('--role must be one of owner, admin, organiser, viewer');
  });
});
