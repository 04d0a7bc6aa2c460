/**
 * A bounded queue joining two async loops of the pipeline; its bound keeps memory bounded
 * however long the input is.
 *
 * @module
 */

/** A bounded first-in first-out queue between two async loops. */
export class Channel<T> {
  #items: T[] = [];
  #capacity: number;
  #closed = false;
  #recvWaiters: (() => void)[] = [];
  #sendWaiters: (() => void)[] = [];

  /**
   * An empty, open channel.
   *
   * @param capacity how many items may wait (at least 1)
   */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  static #wake(list: (() => void)[]): void {
    for (const w of list.splice(0)) w();
  }

  /** Add an item, waiting while the queue is full; false when the channel was closed. */
  async send(item: T): Promise<boolean> {
    while (!this.#closed && this.#items.length >= this.#capacity) {
      await new Promise<void>((r) => this.#sendWaiters.push(r));
    }
    if (this.#closed) return false;
    this.#items.push(item);
    Channel.#wake(this.#recvWaiters);
    return true;
  }

  /** The next item, waiting while the queue is empty; undefined once closed and drained. */
  async recv(): Promise<T | undefined> {
    while (this.#items.length === 0 && !this.#closed) {
      await new Promise<void>((r) => this.#recvWaiters.push(r));
    }
    const item = this.#items.shift();
    Channel.#wake(this.#sendWaiters);
    return item;
  }

  /** No more items will be sent; waiting senders get false, receivers drain what is left. */
  close(): void {
    this.#closed = true;
    Channel.#wake(this.#recvWaiters);
    Channel.#wake(this.#sendWaiters);
  }
}
