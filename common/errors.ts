// The one error type for faults (as opposed to expected outcomes, see outcome.ts). `retriable`
// tells the caller whether the same operation may succeed later; `code` is stable for metrics.
export class PipelineError extends Error {
  override name = 'PipelineError';
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, opts: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.retriable = opts.retriable;
  }
}

/** Whether an unknown thrown value is worth retrying; unknown errors are treated as transient. */
export const isRetriable = (err: unknown): boolean => !(err instanceof PipelineError) || err.retriable;
