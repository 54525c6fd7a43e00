// Secrets at rest (WeChat openids and OAuth tokens): AES-256-GCM with a random 96-bit nonce, and an
// HMAC for equality lookups without decrypting. Both keys are derived (HKDF) from the one configured
// key. Layout: version byte 1 | nonce (12) | tag (16) | ciphertext.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;

export function createSecretBox(key: Buffer) {
  if (key.length !== 32) throw new RangeError('the encryption key must be 32 bytes');
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
  const encKey = derive('rewards/secretbox/aes-256-gcm');
  const macKey = derive('rewards/secretbox/hmac');
  return {
    seal(plaintext: string): Buffer {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encKey, nonce);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body]);
    },
    /** Throws when the box was altered or sealed under another key. */
    open(box: Buffer): string {
      if (box[0] !== VERSION || box.length < 29) throw new Error('not a sealed secret of a known version');
      const decipher = createDecipheriv('aes-256-gcm', encKey, box.subarray(1, 13));
      decipher.setAuthTag(box.subarray(13, 29));
      return Buffer.concat([decipher.update(box.subarray(29)), decipher.final()]).toString('utf8');
    },
    mac: (value: string): Buffer => createHmac('sha256', macKey).update(value).digest(),
  };
}
export type SecretBox = ReturnType<typeof createSecretBox>;
