import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JsonArrayError, NotUtf8Element, OversizedElement, jsonArrayElements } from '../../src/upstream/json-array-elements.js';

/** The text as chunks cut at the given byte offsets, as a network would deliver it. */
async function* chunked(text: string | Buffer, cuts: readonly number[] = []): AsyncGenerator<Buffer> {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let from = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)) {
    yield bytes.subarray(from, cut);
    from = cut;
  }
  yield bytes.subarray(from);
}

async function elements(text: string | Buffer, cuts: readonly number[] = [], maxElementBytes?: number): Promise<unknown[]> {
  const found: unknown[] = [];
  for await (const group of jsonArrayElements(chunked(text, cuts), maxElementBytes)) found.push(...group);
  return found;
}

async function failure(text: string | Buffer): Promise<string> {
  try {
    await elements(text);
  } catch (error) {
    assert.ok(error instanceof JsonArrayError, String(error));
    return error.message;
  }
  return assert.fail(`expected ${JSON.stringify(text)} to be refused`);
}

describe('jsonArrayElements', () => {
  it('when the array holds objects, arrays, strings and bare values, then each comes out parsed, in order', async () => {
    const text = ' [ {"a":[1,{"b":"]}"}]}, [], "x\\"]," , 12.5e3 ,true,false,null,-0, {"q":"\\\\"}] \n';
    assert.deepEqual(await elements(text), JSON.parse(text));
  });

  it('when the array is empty, then nothing comes out', async () => {
    assert.deepEqual(await elements('[]'), []);
    assert.deepEqual(await elements(' [ \n ] '), []);
  });

  it('when chunks cut an element anywhere, multi-byte characters included, then the elements are the same', async () => {
    const text = JSON.stringify([{ title: 'Zoë 😀 漢字', body: 'a\nb "q" \\ ]}' }, 'é', 42, [1, [2, [3]]]]);
    const bytes = Buffer.byteLength(text);
    for (let cut = 1; cut < bytes; cut++) assert.deepEqual(await elements(text, [cut]), JSON.parse(text), `cut at ${cut}`);
    assert.deepEqual(await elements(text, Array.from({ length: bytes }, (_, i) => i)), JSON.parse(text), 'one byte a chunk');
  });

  it('when elements are longer than the bound, within a chunk or across many, then each comes out as an OversizedElement in its place', async () => {
    const big = { title: 'x'.repeat(300), body: 'é'.repeat(100) };
    const text = JSON.stringify([1, big, { a: 2 }, big, 'end']);
    const bigBytes = Buffer.byteLength(JSON.stringify(big));
    const expected = [1, new OversizedElement(bigBytes, 100), { a: 2 }, new OversizedElement(bigBytes, 100), 'end'];
    assert.deepEqual(await elements(text, [], 100), expected, 'one chunk');
    const everyTenBytes = Array.from({ length: Buffer.byteLength(text) / 10 }, (_, i) => i * 10);
    assert.deepEqual(await elements(text, everyTenBytes, 100), expected, 'chunks of ten bytes');
    assert.deepEqual(await elements(text, everyTenBytes, bigBytes), JSON.parse(text), 'an element exactly at the bound is kept');
  });

  it('when any JSON array is cut into any chunks under any bound, then the elements over it are OversizedElements and the rest as JSON.parse gives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue()), fc.array(fc.nat({ max: 2000 })), fc.nat({ max: 200 }), async (array, cuts, bound) => {
        const text = JSON.stringify(array);
        const expected = (JSON.parse(text) as unknown[]).map((element) => {
          const bytes = Buffer.byteLength(JSON.stringify(element));
          return bytes > bound ? new OversizedElement(bytes, bound) : element;
        });
        assert.deepEqual(await elements(text, cuts, bound), expected);
      }),
      { numRuns: 300 },
    );
  });

  it('when any JSON array is cut into any chunks, then the elements equal what JSON.parse gives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue()), fc.array(fc.nat({ max: 2000 })), fc.boolean(), async (array, cuts, pretty) => {
        const text = pretty ? JSON.stringify(array, null, 2) : JSON.stringify(array);
        assert.deepEqual(await elements(text, cuts), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('when a JSON array has one byte replaced by any other, then it is parsed exactly when JSON.parse parses it', async () => {
    const corruptions = fc.record({ at: fc.nat(), byte: fc.constantFrom(...'[]{},:"\\ -0.e1tfn'.split('')) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue(), { minLength: 1 }), corruptions, fc.array(fc.nat({ max: 2000 })), async (array, { at, byte }, cuts) => {
        const valid = JSON.stringify(array);
        const position = at % valid.length;
        const text = valid.slice(0, position) + byte + valid.slice(position + 1);
        let expected: unknown;
        try {
          expected = JSON.parse(text);
        } catch {
          expected = undefined;
        }
        if (Array.isArray(expected)) assert.deepEqual(await elements(text, cuts), expected);
        else await assert.rejects(elements(text, cuts), JsonArrayError);
      }),
      { numRuns: 1000 },
    );
  });

  it('when the body is not one JSON array, then it is refused with where and why', async () => {
    assert.match(await failure('{"posts":[]}'), /expected a JSON array at byte 0/);
    assert.match(await failure(''), /ended before the array closed/);
    assert.match(await failure('[{"id":1},{"id":2'), /ended before the array closed/);
    assert.match(await failure('[1,2'), /ended before the array closed/);
    assert.match(await failure('[1,,2]'), /expected a value at byte 3/);
    assert.match(await failure('[,1]'), /expected a value/);
    assert.match(await failure('[1,]'), /expected a value/);
    assert.match(await failure('[{"a":1} {"b":2}]'), /expected ',' or '\]'/);
    assert.match(await failure('[1 2]'), /expected ',' or '\]'/);
    assert.match(await failure('[1}'), /expected ',' or '\]'/);
    assert.match(await failure('[1] x'), /unexpected data after the array/);
    assert.match(await failure('[1][2]'), /unexpected data after the array/);
  });

  it('when elements hold bytes that are not UTF-8 (Latin-1, a stray byte), then each comes out as a NotUtf8Element in its place, cut anywhere', async () => {
    const body = Buffer.concat([Buffer.from('[{"t":"a"},{"t":"caf'), Buffer.from([0xe9]), Buffer.from('"},{"t":"é"},{"t":"x'), Buffer.from([0xff, 0xc3]), Buffer.from('"}]')]);
    for (let cut = 0; cut <= body.length; cut++) {
      for (const bound of [undefined, 14]) {
        const found = await elements(body, [cut, cut + 3], bound);
        assert.deepEqual(found.slice(0, 1), [{ t: 'a' }], `cut at ${cut}`);
        assert.ok(found[1] instanceof NotUtf8Element, `cut at ${cut}`);
        assert.deepEqual(found[2], { t: 'é' }, `cut at ${cut}`);
        assert.ok(found[3] instanceof NotUtf8Element, `cut at ${cut}`);
        assert.equal(found.length, 4);
      }
    }
  });

  it('when bytes that are not UTF-8 stand outside any string, then the body is refused as not JSON, as any stray byte is', async () => {
    assert.equal(await failure(Buffer.concat([Buffer.from('[{"t":"a"},'), Buffer.from([0xa0]), Buffer.from('{"t":"b"}]')])), 'element 1 is not valid JSON');
    assert.equal(await failure(Buffer.concat([Buffer.from('[{"t":"a"},{"t":"b"'), Buffer.from([0xa0]), Buffer.from('}]')])), 'element 1 is not valid JSON');
  });

  it('when the body opens with UTF-8\'s byte order mark, then it is read past, cut anywhere; anything else before the array is refused', async () => {
    for (let cut = 0; cut <= 6; cut++) assert.deepEqual(await elements('\uFEFF[1, 2]', [cut, cut + 1]), [1, 2]);
    assert.deepEqual(await elements('\uFEFF \n[1]'), [1]);
    assert.match(await failure(Buffer.from([0xef, 0xbb, 0x5b, 0x31, 0x5d])), /a byte order mark cut short at byte 2/);
    assert.match(await failure(' \uFEFF[1]'), /expected a JSON array at byte 1/);
    assert.match(await failure('\uFEFF\uFEFF[1]'), /expected a JSON array at byte 3/);
    assert.match(await failure(Buffer.from([0xff, 0xfe, 0x5b, 0x00, 0x5d, 0x00])), /a UTF-16 byte order mark \(JSON between systems is UTF-8\) at byte 0/);
  });

  it('when an element is malformed, then it is refused naming the element, not its text', async () => {
    assert.equal(await failure('[{"id":1},{oops}]'), 'element 1 is not valid JSON');
    assert.equal(await failure('[tru]'), 'element 0 is not valid JSON');
    assert.equal(await failure('[{"a":1]]'), 'element 0 is not valid JSON');
  });
});
