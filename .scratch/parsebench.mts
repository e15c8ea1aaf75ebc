import { Readable, pipeline } from 'node:stream';
import StreamJsonParser from 'stream-json';
import StreamArray from 'stream-json/streamers/StreamArray.js';
const N = 200_000;
const rec = (i: number) => JSON.stringify({ userId: 1 + (i % 10), id: i, title: `sunt aut facere repellat provident occaecati excepturi optio reprehenderit ${i}`, body: `quia et suscipit\nsuscipit recusandae consequuntur expedita et cum\nreprehenderit molestiae ut ut quas totam\nnostrum rerum est autem sunt rem eveniet architecto ${i}` });
function* chunks() { yield '['; for (let i = 1; i <= N; i++) yield (i > 1 ? ',' : '') + rec(i); yield ']'; }
const text = [...chunks()].join('');
const buf = Buffer.from(text);
const parts: Buffer[] = []; for (let o = 0; o < buf.length; o += 65536) parts.push(buf.subarray(o, o + 65536));
let t = performance.now(); let n = 0;
const els = pipeline(Readable.from(parts), StreamJsonParser.parser(), StreamArray.streamArray(), () => {});
for await (const e of els) n++;
console.log('stream-json', n, Math.round(N / ((performance.now() - t) / 1000)), 'rec/s', (buf.length / N) | 0, 'B/rec');
t = performance.now(); JSON.parse(text); console.log('JSON.parse', Math.round(N / ((performance.now() - t) / 1000)), 'rec/s');
import { jsonArrayElements } from '../src/upstream/json-array-elements.js';
t = performance.now(); n = 0;
async function* src() { for (const p of parts) yield p; }
for await (const e of jsonArrayElements(src())) n++;
console.log('splitter', n, Math.round(N / ((performance.now() - t) / 1000)), 'rec/s');
