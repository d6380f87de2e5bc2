import { spawn } from 'node:child_process';
import { main } from './main.js';

// A reader that stops early (`mdc plan x.model | head`) closes the pipe: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

/**
 * Dawn's Vulkan backend prints limit adjustments to the process's stderr from native
 * code as a device is created ("Warning: maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced …"), which Node cannot intercept. They mean nothing to a user,
 * so the commands that open a device run in a child process whose stderr passes
 * through this filter.
 */
const DAWN_NOISE = /^Warning: max\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?\n/gm;
const DEVICE_COMMANDS = new Set(['run', 'train']);

const argv = process.argv.slice(2);
if (DEVICE_COMMANDS.has(argv[0] ?? '') && !process.env['MDC_STDERR_FILTERED'] && !argv.includes('--help') && !argv.includes('-h')) {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    // The IPC channel only tells the child when this process is gone (below).
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, MDC_STDERR_FILTERED: '1', ...(process.stderr.isTTY ? { MDC_STDERR_TTY: '1' } : {}) },
  });
  let pending = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const text = (pending + chunk).replace(DAWN_NOISE, '');
    // Hold back a last line that may still become one of Dawn's warnings; pass anything else (progress lines end in \r).
    const cut = text.lastIndexOf('\n') + 1;
    const tail = text.slice(cut);
    pending = 'Warning: max'.startsWith(tail.slice(0, 12)) && tail.length > 0 && !tail.includes('\r') ? tail : '';
    process.stderr.write(pending ? text.slice(0, cut) : text);
  });
  child.stderr!.on('end', () => {
    if (pending) process.stderr.write(pending);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
} else {
  // Under the filter: a parent killed by SIGKILL cannot pass it on, but its end of the IPC
  // channel closes. Die the same way instead of training on, unseen, into the same folder.
  if (process.env['MDC_STDERR_FILTERED'] && process.channel) {
    process.channel.unref();
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  main(argv).then((code) => {
    process.exitCode = code;
  });
}
