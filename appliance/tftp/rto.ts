// Retransmission timer policy. The client's RFC 2349 timeout is the ceiling, not the floor:
// on a LAN the round trip is well under a millisecond, and waiting a whole second for every
// lost packet turns 0.5% loss into minutes for a 32 MiB transfer. Karn's rule: only windows
// sent once give RTT samples; each timeout doubles the wait.

export interface RtoPolicy {
  /** Never retransmit sooner than this (ms): a slow client is not a lost packet. */
  minMs: number;
  /** Ceiling before backoff (ms) when the client named no timeout. */
  defaultMaxMs: number;
  /** Ceiling after backoff (ms). */
  backoffCapMs: number;
  /** Timeouts in a row before the transfer is abandoned. */
  maxRetries: number;
}

export const DEFAULT_RTO: RtoPolicy = { minMs: 40, defaultMaxMs: 1000, backoffCapMs: 8000, maxRetries: 7 };

export class Rto {
  private srtt: number | null = null;
  private rttvar = 0;
  private backoff = 1;
  private readonly ceiling: number;

  constructor(
    private readonly policy: RtoPolicy,
    clientTimeoutS: number | null,
  ) {
    this.ceiling = clientTimeoutS !== null ? clientTimeoutS * 1000 : policy.defaultMaxMs;
  }

  /** The current wait, in ms. */
  get value(): number {
    const base = this.srtt === null ? this.ceiling : Math.min(this.ceiling, this.srtt + 4 * this.rttvar);
    return Math.ceil(Math.min(Math.max(this.policy.minMs, base) * this.backoff, Math.max(this.ceiling, this.policy.backoffCapMs)));
  }

  sample(ms: number): void {
    if (this.srtt === null) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  /** Progress was made: the next loss starts from the unbacked-off wait. */
  reset(): void {
    this.backoff = 1;
  }

  timedOut(): void {
    this.backoff *= 2;
  }
}
