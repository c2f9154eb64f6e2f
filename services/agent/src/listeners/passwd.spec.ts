import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uidFromPasswd } from './passwd.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\npgw:x:998:998::/nonexistent:/usr/sbin/nologin\npgw-health:x:997:997::/:/usr/sbin/nologin\n';

describe('uidFromPasswd', () => {
  it('finds a user by exact name', () => {
    assert.equal(uidFromPasswd(PASSWD, 'pgw'), 998);
    assert.equal(uidFromPasswd(PASSWD, 'pgw-health'), 997);
    assert.equal(uidFromPasswd(PASSWD, 'root'), 0);
  });

  it('names a missing user', () => {
    assert.throws(() => uidFromPasswd(PASSWD, 'pg'), /user "pg" does not exist/);
  });
});
