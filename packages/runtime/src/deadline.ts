/**
 * `work`, or a rejection with `message` once `ms` have passed: for a peer that may go silent (a
 * network that drops packets answers nothing, and a TCP read waits ~15 min for retransmission to
 * give up). `work` goes on; its late result or error is dropped.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(message)), ms);
  });
  work.catch(() => undefined); // an error after the deadline is nobody's
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** withDeadline's rejection when the work did not settle in time (the work itself may still be running). */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}
