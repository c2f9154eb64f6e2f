// Preloaded with NODE_OPTIONS=--require (where --cpu-prof is not allowed): samples the whole
// process life with the V8 profiler and writes a .cpuprofile to PGW_BENCH_CPU_PROFILE at exit.
// The in-thread inspector session answers synchronously, so this works in an 'exit' handler.
'use strict';
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');

const file = process.env.PGW_BENCH_CPU_PROFILE;
if (!file) throw new Error('cpu-profile-preload: PGW_BENCH_CPU_PROFILE (output file) is not set');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (error, result) => {
    if (error) process.stderr.write(`cpu-profile-preload: ${error.message}\n`);
    else writeFileSync(file, JSON.stringify(result.profile));
  });
});
