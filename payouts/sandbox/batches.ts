// The sandbox's v3 batch transfers (reference/wechatpay.md §4): validation and limits as WeChat
// documents them, idempotency by out_batch_no (same body: the first answer; other body: 400
// INVALID_REQUEST), states that move over time (ACCEPTED -> PROCESSING -> FINISHED, details
// SUCCESS | FAIL; by fault first WAIT_PAY, stuck ACCEPTED until a top-up, or CLOSED with its
// close_reason), one callback per batch, and queries that show details only once it ended.
// Batches are journaled; after a restart one not yet ended carries on, paying each detail once.
import { createHash } from 'node:crypto';
import { decryptSensitive } from '../wechat/v3-crypto.js';
import type { BatchDetail, CreateBatch } from '../wechat/v3-client.js';
import type { Notifier } from './callbacks.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';
import { HTTPS_NOTIFY } from './transfer-bills.js';
import { decryptionKey, v3Error, type SandboxKeys, type V3Reply, type V3Request } from './v3-auth.js';

const MAX_DETAILS = 1000;
const BUSINESS = '商家转账到零钱';
const NAME_REQUIRED_FEN = 200_000;
const NO = /^[A-Za-z0-9]{1,32}$/;

interface Detail {
  out_detail_no: string;
  detail_id: string;
  transfer_amount: number;
  transfer_remark: string;
  openid: string;
  user_name?: string;
  detail_status: string;
  fail_reason?: string;
  initiate_time: string;
  update_time: string;
}
/**
 * `lateFails`: details paid that an injected fault will fail later (journaled, so a restart still
 * does); `stuck`: stays ACCEPTED until a top-up; `closing`: closes with this reason.
 */
interface Batch {
  hash: string;
  reply: V3Reply;
  notifyUrl?: string;
  view: Record<string, unknown> & { batch_status: string; out_batch_no: string; batch_id: string };
  details: Detail[];
  lateFails?: string[];
  stuck?: boolean;
  closing?: string;
}
const ENDED = ['FINISHED', 'CLOSED'];
/** Steps a batch waits in WAIT_PAY for the merchant's approval (a stand-in for a person in the merchant platform). */
const WAIT_PAY_STEPS = 5;

/** Validates a create request; an error reply, or the details with their names decrypted. */
function validate(b: CreateBatch, appid: string, decrypt: (c: string) => string | undefined): V3Reply | BatchDetail[] {
  const bad = (message: string) => v3Error(400, 'PARAM_ERROR', message);
  if (b.appid !== appid) return bad('appid与商户号不匹配');
  if (typeof b.out_batch_no !== 'string' || !NO.test(b.out_batch_no)) return bad('out_batch_no格式不正确');
  if (!b.batch_name || b.batch_name.length > 32 || !b.batch_remark || b.batch_remark.length > 32)
    return bad('batch_name或batch_remark长度不正确');
  if (!Array.isArray(b.transfer_detail_list) || b.transfer_detail_list.length === 0)
    return bad('transfer_detail_list不能为空');
  if (b.transfer_detail_list.length > MAX_DETAILS) return bad(`转账明细最多${MAX_DETAILS}笔`);
  if (b.total_num !== b.transfer_detail_list.length) return bad('total_num与明细笔数不一致');
  if (b.total_amount !== b.transfer_detail_list.reduce((s, d) => s + d.transfer_amount, 0))
    return bad('total_amount与明细金额之和不一致');
  if (b.notify_url !== undefined && !HTTPS_NOTIFY.test(b.notify_url))
    return bad('notify_url格式不正确: 须为https且不带参数');
  const seen = new Set<string>();
  const details: BatchDetail[] = [];
  for (const d of b.transfer_detail_list) {
    if (typeof d.out_detail_no !== 'string' || !NO.test(d.out_detail_no) || seen.has(d.out_detail_no))
      return bad('out_detail_no格式不正确或重复');
    seen.add(d.out_detail_no);
    if (!Number.isSafeInteger(d.transfer_amount) || d.transfer_amount < 10) return bad('transfer_amount不正确');
    if (!d.openid || typeof d.transfer_remark !== 'string' || d.transfer_remark.length > 32)
      return bad('openid或transfer_remark不正确');
    if (d.transfer_amount >= NAME_REQUIRED_FEN && !d.user_name)
      return bad('转账批次参数不正确: 单笔金额≥2000元须传入收款用户姓名');
    const name = d.user_name === undefined ? undefined : decrypt(d.user_name);
    if (d.user_name !== undefined && name === undefined) return bad('请确认待处理的消息是否为加密后的密文');
    details.push({ ...d, user_name: name });
  }
  return details;
}

export function createBatchesSandbox(
  config: { stepMs: number; lateFailMs: number },
  deps: { keys: SandboxKeys; merchant: Merchant; notifier: Notifier; journal: Journal; timers: Timers; now(): number },
) {
  const journaled = deps.journal.records<Batch>('batch');
  const batches = journaled.records;
  const save = (batch: Batch) => journaled.save(batch.view.out_batch_no, batch);
  const m = deps.merchant;

  const failLater = (batch: Batch, outDetailNo: string) =>
    deps.timers.later(config.lateFailMs, () => {
      const d = batch.details.find((x) => x.out_detail_no === outDetailNo)!;
      Object.assign(d, { detail_status: 'FAIL', fail_reason: 'ACCOUNT_FROZEN', update_time: chinaTime(deps.now()) });
      m.refund(d.transfer_amount, d.out_detail_no, BUSINESS, d.transfer_remark);
      batch.lateFails = batch.lateFails!.filter((no) => no !== outDetailNo);
      save(batch);
    });

  function finish(batch: Batch) {
    const time = chinaTime(deps.now());
    for (const d of batch.details) {
      const failure = m.pay(d.openid, d.transfer_amount, d.out_detail_no, BUSINESS, d.transfer_remark);
      Object.assign(
        d,
        failure
          ? { detail_status: 'FAIL', fail_reason: failure === 'NOT_ENOUGH' ? 'TRANSFER_RISK' : failure }
          : { detail_status: 'SUCCESS' },
        { update_time: time },
      );
      if (!failure && m.take('lateFail')) (batch.lateFails ??= []).push(d.out_detail_no);
    }
    const sum = (status: string) => batch.details.filter((d) => d.detail_status === status);
    const [ok, failed] = [sum('SUCCESS'), sum('FAIL')];
    Object.assign(batch.view, {
      batch_status: 'FINISHED',
      update_time: time,
      success_num: ok.length,
      fail_num: failed.length,
      success_amount: ok.reduce((s, d) => s + d.transfer_amount, 0),
      fail_amount: failed.reduce((s, d) => s + d.transfer_amount, 0),
    });
    save(batch);
    for (const no of batch.lateFails ?? []) failLater(batch, no);
    const {
      mchid,
      out_batch_no,
      batch_id,
      batch_status,
      total_amount,
      total_num,
      success_amount,
      success_num,
      fail_amount,
      fail_num,
      update_time,
    } = batch.view;
    deps.notifier.notify(batch.notifyUrl, 'MCHTRANSFER.BATCH.FINISHED', '商家转账批次完成', 'mch_payment', {
      mchid,
      out_batch_no,
      batch_id,
      batch_status,
      total_amount,
      total_num,
      success_amount,
      success_num,
      fail_amount,
      fail_num,
      update_time,
    });
  }

  /** CLOSED with `reason`: nothing is paid, every detail fails, and MCHTRANSFER.BATCH.CLOSED goes out. */
  function close(batch: Batch, reason: string) {
    const time = chinaTime(deps.now());
    for (const d of batch.details)
      Object.assign(d, {
        detail_status: 'FAIL',
        fail_reason: reason === 'OVERDUE_CLOSE' ? reason : 'MERCHANT_REJECT',
        update_time: time,
      });
    delete batch.closing;
    const fail_amount = batch.details.reduce((s, d) => s + d.transfer_amount, 0);
    Object.assign(batch.view, {
      batch_status: 'CLOSED',
      close_reason: reason,
      update_time: time,
      fail_num: batch.details.length,
      fail_amount,
    });
    save(batch);
    const {
      mchid,
      out_batch_no,
      batch_id,
      batch_status,
      close_reason,
      total_amount,
      total_num,
      success_amount,
      success_num,
      fail_num,
      update_time,
    } = batch.view;
    deps.notifier.notify(batch.notifyUrl, 'MCHTRANSFER.BATCH.CLOSED', '商家转账批次关闭', 'mch_payment', {
      mchid,
      out_batch_no,
      batch_id,
      batch_status,
      close_reason,
      total_amount,
      total_num,
      success_amount,
      success_num,
      fail_amount,
      fail_num,
      update_time,
    });
  }
  /** The next step from where the batch is: WAIT_PAY -> ACCEPTED (stuck there until a top-up, or closed) -> PROCESSING -> FINISHED. */
  function step(batch: Batch) {
    const status = batch.view.batch_status;
    const to = (s: string) => {
      batch.view.batch_status = s;
      for (const d of batch.details) d.detail_status = s === 'ACCEPTED' ? 'INIT' : s;
      save(batch);
    };
    if (batch.closing) return deps.timers.later(config.stepMs, () => close(batch, batch.closing!));
    if (status === 'WAIT_PAY')
      return deps.timers.later(config.stepMs * WAIT_PAY_STEPS, () => (to('ACCEPTED'), step(batch)));
    if (status === 'ACCEPTED' && !batch.stuck)
      return deps.timers.later(config.stepMs, () => (to('PROCESSING'), step(batch)));
    if (status === 'PROCESSING') deps.timers.later(config.stepMs, () => finish(batch));
  }
  m.onTopUp(() => {
    for (const batch of batches.values()) {
      if (!batch.stuck) continue;
      delete batch.stuck;
      save(batch);
      step(batch);
    }
  });

  for (const batch of batches.values()) {
    if (!ENDED.includes(batch.view.batch_status)) step(batch);
    else for (const no of batch.lateFails ?? []) failLater(batch, no);
  }

  return {
    /** POST /v3/transfer/batches */
    create(req: V3Request): V3Reply {
      if (!decryptionKey(deps.keys, req.headers['wechatpay-serial']))
        return v3Error(400, 'PARAM_ERROR', '平台证书序列号Wechatpay-Serial错误');
      let body: CreateBatch;
      try {
        body = JSON.parse(req.body) as CreateBatch;
      } catch {
        return v3Error(400, 'PARAM_ERROR', '请求体不是合法的JSON');
      }
      const key = decryptionKey(deps.keys, req.headers['wechatpay-serial'])!;
      const checked = validate(body, m.config.appid, (c) => {
        try {
          return decryptSensitive(key, c);
        } catch {
          return undefined;
        }
      });
      if (!Array.isArray(checked)) return checked;
      // Same number, same request: names compare decrypted, as each encryption differs.
      const hash = createHash('sha256')
        .update(JSON.stringify({ ...body, transfer_detail_list: checked }))
        .digest('hex');
      const previous = batches.get(body.out_batch_no);
      if (previous)
        return previous.hash === hash ? previous.reply : v3Error(400, 'INVALID_REQUEST', '单号已存在但信息不一致');
      const time = chinaTime(deps.now());
      const batchId = `1030000${m.newId()}`;
      const status = m.take('batchWaitPay') ? 'WAIT_PAY' : 'ACCEPTED';
      const view = {
        mchid: m.config.mchid,
        out_batch_no: body.out_batch_no,
        batch_id: batchId,
        appid: body.appid,
        batch_status: status,
        batch_type: 'API',
        batch_name: body.batch_name,
        batch_remark: body.batch_remark,
        total_amount: body.total_amount,
        total_num: body.total_num,
        create_time: time,
        update_time: time,
        success_amount: 0,
        success_num: 0,
        fail_amount: 0,
        fail_num: 0,
        ...(body.transfer_scene_id ? { transfer_scene_id: body.transfer_scene_id } : {}),
      };
      const details = checked.map((d, i): Detail => ({
        ...d,
        detail_id: `${batchId}${String(i).padStart(4, '0')}`,
        detail_status: status === 'WAIT_PAY' ? status : 'INIT',
        initiate_time: time,
        update_time: time,
      }));
      const reply = {
        status: 200,
        body: { out_batch_no: body.out_batch_no, batch_id: batchId, create_time: time, batch_status: status },
      };
      const batch: Batch = { hash, reply, notifyUrl: body.notify_url, view, details };
      if (m.take('batchClosed')) batch.closing = m.faults.batchCloseReason;
      else if (m.take('batchStuckAccepted')) batch.stuck = true;
      batches.set(body.out_batch_no, batch);
      save(batch);
      step(batch);
      return reply;
    },

    /** GET /v3/transfer/batches/out-batch-no/{no}: details (paged) only once FINISHED or CLOSED. */
    get(outBatchNo: string, q: URLSearchParams): V3Reply {
      const batch = batches.get(outBatchNo);
      if (!batch) return v3Error(404, 'NOT_FOUND', '记录不存在');
      const [offset, limit] = [Number(q.get('offset') ?? 0), Number(q.get('limit') ?? 20)];
      if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 20 || limit > 100)
        return v3Error(400, 'PARAM_ERROR', 'offset或limit不正确');
      const status = q.get('detail_status') ?? 'ALL';
      const listed =
        q.get('need_query_detail') === 'true' && ENDED.includes(batch.view.batch_status)
          ? batch.details
              .filter((d) => status === 'ALL' || d.detail_status === status)
              .slice(offset, offset + limit)
              .map(({ detail_id, out_detail_no, detail_status }) => ({ detail_id, out_detail_no, detail_status }))
          : undefined;
      return {
        status: 200,
        body: { transfer_batch: batch.view, ...(listed ? { transfer_detail_list: listed, offset, limit } : {}) },
      };
    },

    /** GET …/out-batch-no/{no}/details/out-detail-no/{dno} */
    detail(outBatchNo: string, outDetailNo: string): V3Reply {
      const batch = batches.get(outBatchNo);
      const d = batch?.details.find((x) => x.out_detail_no === outDetailNo);
      if (!batch || !d) return v3Error(404, 'NOT_FOUND', '记录不存在');
      if (!ENDED.includes(batch.view.batch_status))
        return v3Error(400, 'INVALID_REQUEST', '请等待批次处理完成后再查询明细单据');
      const { user_name: _name, ...shown } = d;
      return {
        status: 200,
        body: {
          mchid: m.config.mchid,
          out_batch_no: outBatchNo,
          batch_id: batch.view.batch_id,
          appid: batch.view.appid,
          ...shown,
        },
      };
    },
  };
}
