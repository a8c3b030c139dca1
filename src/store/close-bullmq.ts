/**
 * Closes a BullMQ Queue, QueueEvents or Worker without failing or hanging while Redis is away.
 * BullMQ 6.7 sends QUIT on close, which fails while disconnected (Queue.close rejects, and the
 * client keeps reconnecting with no error listener left), and it waits for an 'end' event that
 * ioredis never emits for a client that is waiting to reconnect (QueueEvents.close hangs). Here
 * the close gets `timeoutMs`; if it fails or runs out, the connection is dropped, which stops
 * any reconnecting, and the close resolves either way.
 */
export async function closeBullmq(
  target: { close(): Promise<void>; disconnect(): Promise<void> },
  timeoutMs = 2_000,
): Promise<void> {
  const closed = await within(target.close(), timeoutMs);
  if (!closed) await within(target.disconnect(), timeoutMs);
}

/** True when `promise` resolves within `ms`; false when it rejects or takes longer. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
