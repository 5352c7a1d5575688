import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { KvError } from '@flashkv/core';
import { toServiceError } from '../src/errors.js';

test('transaction aborts (conflicts, locks, deadlocks) go out as ABORTED with the KvError code in the trailers', (t) => {
  for (const code of ['WRITE_CONFLICT', 'KEY_IS_LOCKED', 'DEADLOCK'] as const) {
    const s = toServiceError(new KvError(code, `a ${code}`));
    t.is(s.code, grpc.status.ABORTED, code);
    t.is(s.details, `${code}: a ${code}`);
    t.deepEqual(s.metadata!.get('flashkv-error-code'), [code]);
  }
  t.is(toServiceError(new Error('boom')).code, grpc.status.INTERNAL, 'anything else is INTERNAL');
});
