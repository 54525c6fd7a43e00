// The one error type for faults (expected outcomes are values, not exceptions: STYLE.md). `retriable`
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
