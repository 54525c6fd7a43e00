// Every WeChat Pay error code in one table (reference/wechatpay.md §2, §4, §5), never matched on
// message text. `retriable`: the same request, with the same numbers and parameters, may be sent
// again later. `final`: the transfer did not and will not happen, so the money can go back to the
// user. Neither: a person must look (configuration, or a number reused with other parameters, where
// the first request may have paid), so the money stays held.
export interface WechatErrorInfo { retriable: boolean; final: boolean; meaning: string }

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
};

/** An unknown code is never a failure: the request may have been carried out, so query first. */
export const wechatError = (code: string): WechatErrorInfo =>
  wechatErrors[code] ?? attention(`unknown code ${code}: query before anything else`);
