// A Buffer written from the front that grows by doubling, allocated at the first write: the RowBinary
// bodies (rowbinary.ts) and the changelog entries (store/changelog.ts) are built in one.
const EMPTY = Buffer.alloc(0);

export class ByteWriter {
  buf = EMPTY;
  pos = 0;
  /** Makes room for `bytes` more. */
  room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes, 16 * 1024));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
