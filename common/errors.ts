// The one error type for faults (expected outcomes are values, not exceptions: STYLE.md). `retriable`
// tells the caller whether the same operation may succeed later; `code` is stable for metrics.
export class PipelineError extends Error {
  override name = 'PipelineError';
  readonly code: string;
  readonly retriable: boolean;
  /** Whose code `code` is, when it maps an external one (e.g. 'kafka': a broker's error code). */
  readonly source: string | undefined;

  constructor(code: string, message: string, opts: { retriable: boolean; cause?: unknown; source?: string }) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.retriable = opts.retriable;
    this.source = opts.source;
  }
}
