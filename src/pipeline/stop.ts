/**
 * A stop request shared by the concurrent loops of a pipeline run (SIGINT, EPIPE, an error).
 *
 * @module
 */

/** A stop request shared by the loops of `scoreStream` (score_stream.ts). */
export class StopSignal {
  /** Why the run stops (e.g. "interrupt", "epipe"), or null while it runs. */
  reason: string | null = null;
  /** Ask the run to stop; the first reason given is kept. */
  request(reason: string): void {
    this.reason ??= reason;
  }
  /** Whether a stop was requested. */
  get stopped(): boolean {
    return this.reason !== null;
  }
}
