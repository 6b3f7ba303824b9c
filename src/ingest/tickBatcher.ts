/**
 * Items queued in the same tick go out as one batch; one batch runs at a time, and items
 * queued while it runs form the next. For work that costs a round trip per call (loading
 * announced messages, marking them dispatched, announcing them with NOTIFY): under load the
 * batches grow, so the round trips do not.
 */
export class TickBatcher<T> {
  private queued: T[] = [];
  private running?: Promise<void>;

  /**
   * `run` gets at most `maxBatch` items at a time; its errors go to `onError` (the items are
   * not retried here: every user has a scan or a re-announcement behind it).
   */
  constructor(
    private readonly run: (items: T[]) => Promise<void>,
    private readonly onError: (err: unknown, items: T[]) => void,
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {}

  add(items: Iterable<T>): void {
    const before = this.queued.length;
    this.queued.push(...items);
    if (this.queued.length > before) this.schedule();
  }

  /** Resolves once everything queued so far has run. */
  async flush(): Promise<void> {
    while (this.running || this.queued.length > 0) {
      if (this.running) await this.running;
      else await this.drain();
    }
  }

  private schedule(): void {
    this.running ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => {
        this.running = undefined;
        if (this.queued.length > 0) this.schedule();
      });
  }

  private async drain(): Promise<void> {
    while (this.queued.length > 0) {
      const items = this.queued.splice(0, this.maxBatch);
      try {
        await this.run(items);
      } catch (err) {
        this.onError(err, items);
      }
    }
  }
}
