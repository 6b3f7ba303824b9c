import { spawn } from 'node:child_process';
import path from 'node:path';

export const ZAPFLOW_BIN = path.resolve(__dirname, '../../bin/zapflow.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `zapflow` command as a user would, in a child process. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 200_000, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ZAPFLOW_BIN, ...args], {
      env: { ...process.env, LOG_LEVEL: 'error', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`zapflow ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
