// The faults a test or the demo asks the sandbox for (POST /sandbox/faults), mostly by count (the
// next n calls) so tests are deterministic; and `take`, which spends one.

export interface Faults {
  latencyMs: number;
  /** Answer 500 SYSTEM_ERROR (v2: SYSTEMERROR) without doing anything. */
  systemError: number;
  /** Do the work, then answer 500 SYSTEM_ERROR: the caller cannot know it succeeded. */
  systemErrorAfterWork: number;
  /** Do the work, then never answer (the caller times out). */
  timeoutAfterWork: number;
  notEnough: number;
  frequencyLimited: number;
  /** Openids whose transfers fail, with the reason. */
  failOpenids: Record<string, string>;
  /**
   * Openids whose transfer creates (bills, v2) WeChat refuses, with the code (PARAM_ERROR, INVALID_REQUEST ...):
   * one malformed transfer among good ones. Nothing is created and no money moves; `{}` clears it.
   */
  refuseOpenids: Record<string, string>;
  /** The next n successful payments fail 25 steps later (the money comes back; the bill shows it). */
  lateFail: number;
  duplicateCallbacks: boolean;
  reorderCallbacks: boolean;
  /** The next n callbacks carry a bad signature first (then the real one follows on retry). */
  badCallbackSignature: number;
  /** Send a WECHATPAY/SIGNTEST probe before each callback. */
  signtestProbe: boolean;
  /** Serve bills for any day at once (instead of after 10:00 the next day). */
  billsAtOnce: boolean;
  /** The next n transfer bills answer ACCEPTED, then move to PROCESSING and WAIT_USER_CONFIRM a step apart. */
  billAccepted: number;
  /** When not empty, the 备注 (remark) of every fund flow from then on, e.g. with `,` and `"` in it. */
  billRemark: string;
  /** The next n v2 transfers answer SYSTEMERROR after doing the work, and their queries PROCESSING `v2ProcessingQueries` times. */
  v2Processing: number;
  v2ProcessingQueries: number;
  /** The next n v3 batches wait in WAIT_PAY (the merchant's approval) for 5 steps before ACCEPTED. */
  batchWaitPay: number;
  /** The next n v3 batches stay ACCEPTED until the merchant tops up (POST /sandbox/topup). */
  batchStuckAccepted: number;
  /** The next n v3 batches close (CLOSED with `batchCloseReason`) a step after they are created; nothing is paid. */
  batchClosed: number;
  batchCloseReason: 'OVERDUE_CLOSE' | 'MERCHANT_REVOCATION';
  /** The next n refunds (pay-in) end CLOSED: nothing leaves the basic account. */
  refundClosed: number;
  /** The next n refunds end ABNORMAL: the money left the basic account but never reached the payer. */
  refundAbnormal: number;
  /** The next n refund creates answer NOT_ENOUGH (v2 NOTENOUGH), whatever the basic account holds. */
  refundNotEnough: number;
}

export const noFaults = (): Faults => ({
  latencyMs: 0,
  systemError: 0,
  systemErrorAfterWork: 0,
  timeoutAfterWork: 0,
  notEnough: 0,
  frequencyLimited: 0,
  failOpenids: {},
  refuseOpenids: {},
  lateFail: 0,
  duplicateCallbacks: false,
  reorderCallbacks: false,
  badCallbackSignature: 0,
  signtestProbe: false,
  billsAtOnce: false,
  billAccepted: 0,
  billRemark: '',
  v2Processing: 0,
  v2ProcessingQueries: 2,
  batchWaitPay: 0,
  batchStuckAccepted: 0,
  batchClosed: 0,
  batchCloseReason: 'OVERDUE_CLOSE',
  refundClosed: 0,
  refundAbnormal: 0,
  refundNotEnough: 0,
});

type Counted = { [K in keyof Faults]: Faults[K] extends number ? K : never }[keyof Faults];

/** Spends one of a counted fault: true when one was left. */
export const takeFault = (faults: Faults, name: Exclude<Counted, 'latencyMs' | 'v2ProcessingQueries'>) =>
  faults[name] > 0 ? (faults[name]--, true) : false;
