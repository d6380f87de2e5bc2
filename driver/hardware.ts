/**
 * Finding and reading hardware descriptions (compiler/cost/hardware.ts checks them): a bare name
 * is a file of the repository's hardware/ folder (`a100-80gb` → hardware/a100-80gb.json); a
 * name ending in .json is a path.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hardwareFrom, HardwareError, type Hardware } from '../compiler/cost/hardware.js';

/** The hardware/ folder: found upwards from this module, so it works from the sources and from dist/. */
export function hardwareDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'hardware')) && existsSync(join(dir, 'package.json'))) return join(dir, 'hardware');
    dir = dirname(dir);
  }
  return resolve('hardware');
}

/** The names of the descriptions in hardware/. */
export function hardwareNames(): string[] {
  const dir = hardwareDir();
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort()
    : [];
}

/** Reads and checks a description; throws HardwareError naming the known ones when there is none. */
export function loadHardware(name: string): Hardware {
  const path = name.endsWith('.json') ? resolve(name) : join(hardwareDir(), `${name}.json`);
  if (!existsSync(path))
    throw new HardwareError(`no hardware description '${name}': choose one of ${hardwareNames().join(', ')}, or give a path to a .json file`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new HardwareError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return hardwareFrom(json, path);
}
