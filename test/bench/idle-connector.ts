/**
 * The warm pool's refill opens its connections on the addon's idle connector thread (SCHED_IDLE):
 * how long does the loop thread wait for it? Under a busy CPU the idle thread loses the CPU to any
 * other at once; if it held the mutex the loop thread takes in Deliver and Submit, the loop waited
 * until it ran again. This bench runs idle dials to a local listener with this process and a busy
 * sibling pinned to one CPU, and prints the loop's delay (monitorEventLoopDelay) and the dials'
 * times. Ends with one JSON line. Loopback only; bounded in count and time; the sibling is killed.
 *   npm run bench:idle-connector [-- --dials 400]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { closeFd, dialNative } from '@pgw/original-dst';

const { values } = parseArgs({ options: { dials: { type: 'string', default: '400' }, child: { type: 'boolean', default: false } } });
const DIALS = Number(values.dials);
const CPU = '0';
const DEADLINE_MS = 120_000;

/** A listener that accepts and closes, in its own process (this loop must do nothing but the dials). */
async function startListener(): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['-e', "const s=require('node:net').createServer((c)=>c.destroy()).listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(proc.stdout!, 'data')) as [Buffer];
  return { port: Number(line.toString().trim()), proc };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(): Promise<void> {
  const listener = await startListener();
  // The busy sibling, on the same CPU as this process (taskset by the parent run).
  const busy = spawn('taskset', ['-c', CPU, process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' });
  const stop = setTimeout(() => {
    console.error('idle-connector bench: out of time');
    process.exit(1);
  }, DEADLINE_MS);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const times: number[] = [];
    for (let i = 0; i < DIALS; i++) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        dialNative('127.0.0.1', listener.port, [], 5_000, (failure, fd) => {
          if (failure) return reject(new Error(`dial ${i}: ${failure.what} (errno ${failure.errno})`));
          closeFd(fd);
          resolve();
        }, { idle: true });
      });
      times.push(performance.now() - started);
    }
    delay.disable();
    times.sort((a, b) => a - b);
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const result = {
      bench: 'idle-connector',
      at: new Date().toISOString(),
      dials: DIALS,
      cpus: availableParallelism(),
      dialMs: { p50: +quantile(times, 0.5).toFixed(3), p99: +quantile(times, 0.99).toFixed(3), max: +times.at(-1)!.toFixed(3) },
      loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
    };
    console.log(`idle dials through a busy CPU (this process and a busy loop on CPU ${CPU}), ${DIALS} dials`);
    console.log(`  dial time ms  p50 ${result.dialMs.p50}  p99 ${result.dialMs.p99}  max ${result.dialMs.max}`);
    console.log(`  loop delay ms p50 ${result.loopDelayMs.p50}  p99 ${result.loopDelayMs.p99}  max ${result.loopDelayMs.max}`);
    console.log(JSON.stringify(result));
  } finally {
    clearTimeout(stop);
    busy.kill('SIGKILL');
    listener.proc.kill('SIGKILL');
  }
}

if (values.child) {
  await measure();
} else {
  // Pinned from the start: the idle connector thread inherits the affinity.
  const run = spawn('taskset', ['-c', CPU, process.execPath, ...process.execArgv, process.argv[1]!, '--child', '--dials', String(DIALS)], { stdio: 'inherit' });
  const [code] = (await once(run, 'exit')) as [number | null];
  process.exit(code ?? 1);
}
