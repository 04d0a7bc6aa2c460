/**
 * The project's one choice of command-line parser. `@std/cli` lives on JSR, which these build
 * machines cannot reach, so the tool uses Node's built-in `node:util` `parseArgs` (shipped
 * inside Deno). Every command parses through this module.
 *
 * @module
 */
export { parseArgs } from "node:util";
export type { ParseArgsConfig } from "node:util";
