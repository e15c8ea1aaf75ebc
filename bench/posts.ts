/**
 * The benchmark's records: JSONPlaceholder-shaped posts, made from their id alone, so the upstream can stream a
 * million of them without holding any, a second run sees exactly the same data, and the raw writers store
 * exactly what the service stores. One record is about 250 bytes of JSON, so 1,000,000 make about 250 MB.
 */
export interface BenchPost {
  readonly userId: number;
  readonly id: number;
  readonly title: string;
  readonly body: string;
}

const WORDS = ['sunt', 'aut', 'facere', 'repellat', 'provident', 'occaecati', 'excepturi', 'optio', 'reprehenderit', 'quia', 'et', 'suscipit'];

/**
 * Words picked by the id, so neighbouring records differ as real ones do, padded to a fixed length. The words
 * depend only on (id * 7 + salt) mod the word count, so each text is built once and then looked up: making the
 * records must cost the upstream and the raw writers next to nothing, or the benchmark would measure it.
 */
const texts = new Map<string, string>();
function text(id: number, salt: number, length: number): string {
  const key = `${(id * 7 + salt) % WORDS.length}:${length}`;
  let out = texts.get(key);
  if (out === undefined) {
    out = '';
    for (let i = 0; out.length < length; i++) out += `${WORDS[(id * 7 + salt + i * 5) % WORDS.length] as string} `;
    out = out.slice(0, length);
    texts.set(key, out);
  }
  return out;
}

export function benchPost(id: number): BenchPost {
  return {
    userId: 1 + (id % 10),
    id,
    title: `${id} ${text(id, 1, 60)}`,
    // The newline is there because JSONPlaceholder's bodies have them: the escaping is part of the work.
    body: `${text(id, 3, 70)}\n${text(id, 5, 70)}`,
  };
}

/** Posts `first` to `first + count - 1`. */
export function* benchPosts(count: number, first = 1): Generator<BenchPost> {
  for (let id = first; id < first + count; id++) yield benchPost(id);
}
