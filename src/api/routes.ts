import type { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../log';

export interface RouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
  log: Logger;
}

/** Every router of the public API, in mount order. */
export function buildRouters(_deps: RouteDeps): Router[] {
  return [];
}
