// Maps over items with at most `limit` promises in flight (p-limit), keeping order.
import pLimit from 'p-limit';

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const gate = pLimit(limit);
  return Promise.all(items.map((item) => gate(() => fn(item))));
}
