/** Several runs of one measurement, summarised as the table shows it: the median, with min and max. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Every run, in the order measured, so the JSON keeps what the median came from. */
  readonly samples: readonly number[];
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('nothing measured');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  // An even count takes the mean of the two middle runs, the usual definition of the median.
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, samples: [...samples] };
}
