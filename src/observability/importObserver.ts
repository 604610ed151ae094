import type { ImportSummary } from '../import/importCsv.js';

/**
 * Where a finished import is reported. The metrics plugin puts its observer into each operation's context under
 * this key; a symbol, so it cannot collide with a field of GatewayContext, and absent when metrics are off.
 * This module stays free of prom-client: the schema (and with it every command that runs resolvers) imports it.
 */
export const IMPORT_OBSERVER = Symbol('sx.importObserver');

export type ImportObserver = (summary: ImportSummary) => void;

export function observeImport(context: object, summary: ImportSummary): void {
  (context as { [IMPORT_OBSERVER]?: ImportObserver })[IMPORT_OBSERVER]?.(summary);
}
