// Pure rules of a processor run: when to stop, how a run is judged, what a request asks for.
import { z } from "zod";
import { dataTypePattern, symbolPattern } from "./identifiers.ts";

export type RunStats = {
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  bytes: number;
  calls: number;
};

export const emptyStats = (): RunStats => ({
  claimed: 0,
  succeeded: 0,
  failed: 0,
  retried: 0,
  bytes: 0,
  calls: 0,
});

export type RunStatus = "succeeded" | "failed" | "partial";

/**
 * succeeded: nothing failed for good; failed: jobs were claimed and none succeeded (this feeds the
 * circuit breaker); partial otherwise. A run stopped because the provider paused (rate limit,
 * bandwidth) is partial, not failed: the pause already stops claims, the circuit need not open.
 */
export function runStatus(stats: RunStats, crashed: boolean, pausedBy?: string | null): RunStatus {
  if (crashed) return "failed";
  if (stats.failed === 0 && (stats.retried === 0 || stats.succeeded > 0)) return "succeeded";
  if (pausedBy === "rate_limited" || pausedBy === "bandwidth") return "partial";
  if (stats.succeeded === 0 && stats.claimed > 0) return "failed";
  return "partial";
}

export type Budget = { deadline: number; maxJobs: number };

/** Whether another batch may be claimed: time left for a batch and the job cap not reached. */
export function mayClaimMore(budget: Budget, now: number, jobsSoFar: number, batchMs: number) {
  return jobsSoFar < budget.maxJobs && now + batchMs < budget.deadline;
}

/** How many jobs the next claim may ask for without passing the per-invocation cap. */
export function nextBatchSize(batchSize: number, maxJobs: number, jobsSoFar: number): number {
  return Math.max(0, Math.min(batchSize, maxJobs - jobsSoFar));
}

/** Error classes after which the whole run stops: the provider is paused for everyone. */
export function stopsRun(errorClass: string): boolean {
  return errorClass === "rate_limited" || errorClass === "bandwidth" ||
    errorClass === "invalid_key";
}

/** The body of a processor request: cron/wake ticks, or a manual (optionally selective) sync. */
export const processorRequestSchema = z.strictObject({
  trigger: z.enum(["cron", "manual", "wake"]).default("cron"),
  dataTypes: z.array(z.string().regex(dataTypePattern, "unknown data type format")).min(1).max(
    20,
  ).optional(),
  symbols: z.array(
    z.string().trim().toUpperCase().regex(symbolPattern, "invalid symbol"),
  ).min(1).max(50).optional(),
  lingerSeconds: z.number().int().min(0).max(110).optional(),
}).refine((body) => body.trigger === "manual" || (!body.dataTypes && !body.symbols), {
  message: 'dataTypes and symbols are only accepted with trigger "manual"',
});

export type ProcessorRequest = z.infer<typeof processorRequestSchema>;
