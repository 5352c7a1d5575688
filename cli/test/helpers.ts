import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
export const TOKEN = 'cli-test-token';

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `flashkv <args>` to completion (killed after 20 s so a hang fails the test, not the run). */
export function mustRun(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Served {
  readonly child: ChildProcess;
  readonly endpoint: string;
  output(): string;
  /** Sends `signal` and resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `flashkv serve ... --listen 127.0.0.1:0` and waits for its banner (address, token, how to stop). */
export function mustServe(extra: readonly string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0', '--token', TOKEN, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r((exitCode = c))));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start in 20 s; output:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /serving on (127\.0\.0\.1:\d+)[\s\S]*Ctrl-C stops it\n/.exec(out);
      if (m !== null) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (more: Buffer) => (out += more.toString()));
        clearTimeout(timer);
        resolve({
          child,
          endpoint: m[1]!,
          output: () => out,
          stop: async (signal = 'SIGINT') => {
            if (exitCode === undefined) child.kill(signal);
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (c) => {
      clearTimeout(timer);
      if (!/serving on/.test(out)) reject(new Error(`serve exited with ${c} before serving:\n${out}`));
    });
  });
}


/** Free loopback ports (bound once to port 0 and released). */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise<number>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
          const port = (srv.address() as { port: number }).port;
          srv.close(() => resolve(port));
        });
      }),
    );
  }
  return out;
}
