// Every WeChat Pay error code in one table (reference/wechatpay.md §2, §4, §5), never matched on
// message text. `retriable`: the same request, with the same numbers and parameters, may be sent
// again later. `final`: the transfer (or order, or refund) did not and will not happen, so the money
// can go back where it came from. Neither: a person must look (configuration, or a number reused with
// other parameters, where the first request may have paid), so the money stays held.
export interface WechatErrorInfo {
  retriable: boolean;
  final: boolean;
  meaning: string;
}

const retry = (meaning: string): WechatErrorInfo => ({ retriable: true, final: false, meaning });
const fail = (meaning: string): WechatErrorInfo => ({ retriable: false, final: true, meaning });
const attention = (meaning: string): WechatErrorInfo => ({ retriable: false, final: false, meaning });

export const wechatErrors: Readonly<Record<string, WechatErrorInfo>> = {
  // Outcome unknown or temporary: ask again with the same numbers.
  SYSTEMERROR: retry('system error, result unknown: query, then resend with the same number'),
  SYSTEM_ERROR: retry('system error, result unknown: query, then resend with the same number'),
  NOT_FOUND: retry('not found yet: may still be processing, never a failure'),
  RESOURCE_NOT_EXISTS: retry('not found yet: may still be processing, never a failure'),
  FREQ_LIMIT: retry('rate limited: slow down, same number'),
  FREQUENCY_LIMITED: retry('rate limited: slow down, same number'),
  NOTENOUGH: retry('merchant balance too low: top up, same number'),
  NOT_ENOUGH: retry('merchant balance too low: top up, same number'),
  // The transfer failed for good.
  SEND_FAILED: fail('payment failed; a new attempt needs a new number'),
  AMOUNT_LIMIT: fail('amount below the minimum or outside the per-transfer bounds'),
  OPENID_ERROR: fail('the openid does not belong to the appid'),
  NAME_MISMATCH: fail('the real name does not match the account'),
  V2_ACCOUNT_SIMPLE_BAN: fail('the user has not verified a real name'),
  MONEY_LIMIT: fail('daily amount limit reached'),
  SEND_MONEY_LIMIT: fail('merchant daily amount limit reached'),
  RECEIVED_MONEY_LIMIT: fail('user daily received-amount limit reached'),
  SENDNUM_LIMIT: fail('daily transfer count limit reached'),
  RECV_ACCOUNT_NOT_ALLOWED: fail('the payee may not receive transfers'),
  // Detail and bill fail reasons (v3).
  ACCOUNT_FROZEN: fail('the payee account is frozen'),
  REAL_NAME_CHECK_FAIL: fail('the payee has not verified a real name'),
  NAME_NOT_CORRECT: fail('the real name does not match the account'),
  OPENID_INVALID: fail('the openid does not belong to the appid'),
  TRANSFER_QUOTA_EXCEED: fail('the payee would exceed the per-transfer quota'),
  DAY_RECEIVED_QUOTA_EXCEED: fail('the payee would exceed the daily received amount'),
  MONTH_RECEIVED_QUOTA_EXCEED: fail('the payee would exceed the monthly received amount'),
  DAY_RECEIVED_COUNT_EXCEED: fail('the payee would exceed the daily received count'),
  PRODUCT_AUTH_CHECK_FAIL: fail('the merchant lacks the product permission'),
  OVERDUE_CLOSE: fail('closed because it was not paid in time'),
  ID_CARD_NOT_CORRECT: fail('the id card does not match the account'),
  ACCOUNT_NOT_EXIST: fail('the payee account does not exist'),
  TRANSFER_RISK: fail('refused by risk control'),
  REALNAME_ACCOUNT_RECEIVED_QUOTA_EXCEED: fail('the payee would exceed the real-name received quota'),
  RECEIVE_ACCOUNT_NOT_PERMMIT: fail('the payee may not receive transfers'),
  RECEIVE_ACCOUNT_NOT_CONFIGURE: fail('the payee is not configured to receive'),
  PAYEE_ACCOUNT_ABNORMAL: fail('the payee account is abnormal'),
  MERCHANT_REVOCATION: fail('cancelled by the merchant'),
  BLOCK_USER_CONFIRM: fail('the user did not confirm in time'),
  // Configuration or request errors, or a number reused with other parameters: a person must look.
  FATAL_ERROR: attention('same number, different parameters: the first request may have paid'),
  INVALID_REQUEST: attention('the request conflicts with an earlier one or with the merchant state'),
  PARAM_ERROR: attention('a parameter is wrong'),
  SIGN_ERROR: attention('the signature does not verify: check the keys'),
  XML_ERROR: attention('the request XML is malformed'),
  CA_ERROR: attention('the merchant certificate is missing or wrong'),
  NO_AUTH: attention('the merchant lacks the permission (or uses another transfer product)'),
  PAY_CHANNEL_NOT_ALLOWED: attention('the merchant may not use this channel'),
  PARAM_IS_NOT_UTF8: attention('the request is not UTF-8'),
  // Pay-in (orders, refunds; v3 and v2 spellings). What a code means to one call alone is in payInOverrides.
  ORDER_NOT_EXIST: retry('no such order: never created, or not yet; never a failure'),
  ORDERNOTEXIST: retry('no such order: never created, or not yet; never a failure'),
  REFUNDNOTEXIST: retry('no such refund yet: never a failure'),
  BANK_ERROR: retry('the bank is failing: send the same again later'),
  BIZERR_NEED_RETRY: retry('WeChat asks for the same refund again'),
  INVALID_REQ_TOO_MUCH: retry('too many invalid requests: slow down, same number'),
  ORDER_CLOSED: fail('the order is closed: nothing can be paid on it'),
  ORDERCLOSED: fail('the order is closed: nothing can be paid on it'),
  OPENID_MISMATCH: fail("the payer's openid does not belong to the appid"),
  TRADE_OVERDUE: fail('the order is past its refund period: nothing refunded'),
  USER_ACCOUNT_ABNORMAL: fail("the payer's account is closed or frozen: nothing refunded"),
  ORDERPAID: attention('the order is already paid: query it'),
  OUT_TRADE_NO_USED: attention('the order number was used with other parameters'),
  TRADE_ERROR: attention('WeChat refused the trade for a business reason'),
  RULE_LIMIT: attention('refused by a business rule of the merchant or the payer'),
  APPID_MCHID_NOT_MATCH: attention('the appid is not bound to the merchant'),
  MCH_NOT_EXISTS: attention('the merchant id is wrong'),
  MCHID_NOT_EXIST: attention('the merchant id is wrong'),
  APPID_NOT_EXIST: attention('the appid is wrong'),
  NOAUTH: attention('the merchant lacks the permission'),
  SIGNERROR: attention('the signature does not verify: check the keys'),
  LACK_PARAMS: attention('a parameter is missing'),
  XML_FORMAT_ERROR: attention('the request XML is malformed'),
  REQUIRE_POST_METHOD: attention('the request was not a POST'),
  POST_DATA_EMPTY: attention('the request body is empty'),
  NOT_UTF8: attention('the request is not UTF-8'),
  INVALID_TRANSACTIONID: attention('the transaction id is wrong'),
  ERROR: attention('a business error: read err_code_des'),
};

/**
 * The codes that are neither retriable nor final but say nothing of one transfer: the merchant's
 * configuration (keys, certificate, permissions, appid) is wrong, so every call would be refused alike.
 * The per-transfer products stop their round on these. Every other such code (PARAM_ERROR,
 * INVALID_REQUEST, FATAL_ERROR, an unknown code ...) may belong to the one transfer it answered.
 */
export const merchantWideCodes: ReadonlySet<string> = new Set([
  'SIGN_ERROR',
  'NO_AUTH',
  'CA_ERROR',
  'XML_ERROR',
  'PARAM_IS_NOT_UTF8',
  'PAY_CHANNEL_NOT_ALLOWED',
  'APPID_MCHID_NOT_MATCH',
  'MCH_NOT_EXISTS',
  // Their v2 pay-in spellings, for the same reason.
  'SIGNERROR',
  'NOAUTH',
  'MCHID_NOT_EXIST',
  'APPID_NOT_EXIST',
  'XML_FORMAT_ERROR',
  'NOT_UTF8',
  'REQUIRE_POST_METHOD',
  'POST_DATA_EMPTY',
]);

/**
 * The codes a person must look at that may concern an earlier request with the same number (which may
 * have paid): before such a transfer is rejected, WeChat must be asked about it.
 */
export const numberConflictCodes: ReadonlySet<string> = new Set(['FATAL_ERROR', 'INVALID_REQUEST']);

/** An unknown code is never a failure: the request may have been carried out, so query first. */
export const wechatError = (code: string): WechatErrorInfo =>
  wechatErrors[code] ?? attention(`unknown code ${code}: query before anything else`);

/**
 * The pay-in call a code answers. A few codes mean something else there: NOT_ENOUGH makes a transfer
 * wait for a top-up, but fails a refund (its money goes back to the budget); ORDERPAID refuses a close
 * for good (the query shows SUCCESS) but says of a create that the order needs a query.
 */
export type PayInCall = 'order' | 'query' | 'close' | 'refund' | 'refund_query';

const refundRefused = (why: string) => fail(`${why}: the refund is refused, nothing refunded`);
const payInOverrides: Readonly<Record<PayInCall, Readonly<Record<string, WechatErrorInfo>>>> = {
  order: {},
  query: {},
  close: { ORDERPAID: fail('the order is paid: nothing to close (its query shows SUCCESS)') },
  refund: {
    INVALID_REQUEST: refundRefused('more than the order has left to refund, or another total'),
    ERROR: refundRefused('a business rule (v2; e.g. more than is refundable)'),
    NOT_ENOUGH: refundRefused("the merchant's balance is short"),
    NOTENOUGH: refundRefused("the merchant's balance is short"),
    RESOURCE_NOT_EXISTS: refundRefused('the order is unknown to WeChat or unpaid'),
    ORDERNOTEXIST: refundRefused('the order is unknown to WeChat or unpaid'),
  },
  refund_query: {},
};

/** What `code` means as the answer to pay-in call `call`. */
export const payInError = (call: PayInCall, code: string): WechatErrorInfo =>
  payInOverrides[call][code] ?? wechatError(code);
