/** The business side shared by both handler styles: what the producers send, and how it is parsed. */

/** What this example's producers send: one order per user record. */
export interface Order {
  orderId: string;
  amount: number;
}

/** The business logic, one order at a time. Must be idempotent: see the README. */
export type OrderHandler = (
  order: Order,
  meta: { partitionKey: string; sequenceNumber: string },
) => Promise<void>;

/** A record that will never parse: retrying it cannot help. */
export class PoisonRecordError extends Error {
  readonly code = 'POISON_RECORD';
  readonly retriable = false;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parses one user record's data as an order. @throws PoisonRecordError */
export function parseOrder(data: Uint8Array): Order {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new PoisonRecordError('record is not a JSON order', { cause });
  }
  const order = value as Partial<Order> | null;
  if (!order || typeof order.orderId !== 'string' || typeof order.amount !== 'number') {
    throw new PoisonRecordError('record is not a JSON order');
  }
  return order as Order;
}

/** The deployed business logic of both entry points: replace it with your own. */
export async function saveOrder(order: Order): Promise<void> {
  if (order.amount < 0) throw new Error(`order ${order.orderId} has a negative amount`);
}
