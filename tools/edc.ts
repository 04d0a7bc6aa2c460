/**
 * Development entry point of the `edc` command (the main command wires the same function as
 * `deno run -A mod.ts edc ...`): `deno run -A tools/edc.ts --help`.
 *
 * @module
 */
import { runEdc } from "../src/cli/edc.ts";

if (import.meta.main) Deno.exit(await runEdc(Deno.args));
