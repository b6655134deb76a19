// Free addresses of one dynamic range as a two-level bitmap: one bit per address plus one
// summary bit per 32-address word that still has a free bit. Finding the next free address
// skips 1,024 addresses per summary word, so a full /16 is searched in at most 64 word reads
// (the npm `dhcp` package scanned every address per offer and fell to 150 offers/s).
// Allocation is next-fit from a rotating cursor so a just-released address is the last to be
// handed to somebody else (its previous owner likely comes back for it).

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export class FreeBitmap {
  private readonly words: Uint32Array;
  private readonly summary: Uint32Array;
  private cursor = 0;
  free = 0;

  constructor(readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.summary = new Uint32Array(Math.ceil(this.words.length / 32));
  }

  has(i: number): boolean {
    return i >= 0 && i < this.size && (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  add(i: number): void {
    if (i < 0 || i >= this.size || this.has(i)) return;
    const w = i >>> 5;
    this.words[w] = this.words[w]! | (1 << (i & 31));
    this.summary[w >>> 5] = this.summary[w >>> 5]! | (1 << (w & 31));
    this.free++;
  }

  delete(i: number): void {
    if (!this.has(i)) return;
    const w = i >>> 5;
    this.words[w] = this.words[w]! & ~(1 << (i & 31));
    if (this.words[w] === 0) this.summary[w >>> 5] = this.summary[w >>> 5]! & ~(1 << (w & 31));
    this.free--;
  }

  /** First free index at or after `from`, or -1. */
  private findFrom(from: number): number {
    if (from >= this.size) return -1;
    let w = from >>> 5;
    const m = this.words[w]! & (~0 << (from & 31));
    if (m !== 0) return (w << 5) + ctz(m);
    w++;
    let s = w >>> 5;
    if (s >= this.summary.length) return -1;
    let sm = (w & 31) === 0 ? this.summary[s]! : this.summary[s]! & (~0 << (w & 31));
    for (;;) {
      if (sm !== 0) {
        const word = (s << 5) + ctz(sm);
        return (word << 5) + ctz(this.words[word]!);
      }
      s++;
      if (s >= this.summary.length) return -1;
      sm = this.summary[s]!;
    }
  }

  /** Take the next free index after the cursor (wrapping), or -1 when full. */
  take(): number {
    if (this.free === 0) return -1;
    let i = this.findFrom(this.cursor);
    if (i === -1) i = this.findFrom(0);
    if (i === -1) return -1;
    this.delete(i);
    this.cursor = i + 1 >= this.size ? 0 : i + 1;
    return i;
  }
}
