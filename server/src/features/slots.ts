// A FIFO counting semaphore: at most `size` holders at once, the rest wait in arrival order. The server refreshes
// configs through it so that a workspace of 200 configs opened at once does not run 200 parses, hashes and
// publications back to back on the main thread while a hover or code action waits (bench/load.ts measures it).

export class Slots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  /** Resolves with the release function once a slot is free; call it exactly once. */
  async acquire(): Promise<() => void> {
    if (this.held < this.size) this.held++;
    else await new Promise<void>((r) => this.waiting.push(r)); // the releaser hands its slot over
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    };
  }

  get pending(): number {
    return this.waiting.length;
  }
}
