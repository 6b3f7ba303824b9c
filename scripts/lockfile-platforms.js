#!/usr/bin/env node
/**
 * The npm registry reachable here does not serve other platforms' native packages
 * (@swc/core-darwin-arm64, …), so `npm install` leaves them out of package-lock.json and
 * `npm ci` then refuses the lock file as out of sync. This adds the missing optional
 * platform entries (version, os, cpu from the package name) so `npm ci` works here and on
 * other platforms alike. Run after any `npm install` that changes dependencies.
 */
const fs = require('node:fs');
const path = require('node:path');

const lockPath = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd', 'wasm32'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el', 'wasm32'];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p)) ?? (parts.includes('eabi') || parts.includes('gnueabihf') ? 'arm' : undefined);
  return { os, cpu };
}

let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${dep}`;
    if (lock.packages[nested] || lock.packages[`node_modules/${dep}`]) continue;
    const { os, cpu } = platformOf(dep);
    if (!os) continue; // not a platform package: leave it to npm
    lock.packages[`node_modules/${dep}`] = {
      version: String(version).replace(/^[\^~]/, ''),
      cpu: cpu ? [cpu] : undefined,
      os: [os === 'wasm32' ? 'wasm32' : os],
      optional: true,
    };
    added++;
  }
}
fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-platforms: added ${added} optional platform entries`);
