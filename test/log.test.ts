import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../src/log.ts';

function capture() {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { destination, text: () => text };
}

t.test('credentials are redacted wherever they sit, up to four levels deep', async (t) => {
  const { destination, text } = capture();
  const log = createLogger({ destination });
  log.info(
    {
      password: 'p0',
      secret: { data: { '.dockerconfigjson': 'eyJhdXRocyI6e319' } },
      aws: { credentials: { SecretAccessKey: 'AKIA-SECRET', SessionToken: 'SESSION' }, token: { authorizationToken: 'QVdTOnB3' } },
      headers: { authorization: 'Bearer abc' },
      auths: { host: { auth: 'QVdTOnB3', password: 'pw' } },
    },
    'with credentials',
  );
  const line = text();
  for (const secret of ['p0', 'eyJhdXRocyI6e319', 'AKIA-SECRET', 'SESSION', 'QVdTOnB3', 'Bearer abc', '"pw"']) t.notMatch(line, secret, `${secret} is not logged`);
  t.match(JSON.parse(line), { level: 30, name: 'ecr-tenant-webhook', msg: 'with credentials', password: '[redacted]' });
});

t.test('the default level is info', async (t) => {
  t.equal(createLogger().level, 'info');
  t.equal(createLogger({ level: 'warn' }).level, 'warn');
});

t.test('credentials are redacted at any depth, inside lists and error objects, which keep their message', async (t) => {
  const { destination, text } = capture();
  const log = createLogger({ destination });
  const error = Object.assign(new Error('mint failed'), { token: 'ERR-TOKEN' });
  log.warn({ a: { b: { c: { d: { e: { f: { password: 'DEEP' } } } } } }, list: [{ auth: 'IN-LIST' }, 'plain'], err: error }, 'nested');
  const line = text();
  for (const secret of ['DEEP', 'IN-LIST', 'ERR-TOKEN']) t.notMatch(line, secret, `${secret} is not logged`);
  t.match(JSON.parse(line), { msg: 'nested', list: [{ auth: '[redacted]' }, 'plain'], err: { message: 'mint failed', token: '[redacted]' } });
});

t.test('a line without credentials is logged as given', async (t) => {
  const { destination, text } = capture();
  createLogger({ destination }).info({ uid: 'u', reasons: ['a', 'b'], nested: { tenant: 'payments' } }, 'clean');
  t.match(JSON.parse(text()), { uid: 'u', reasons: ['a', 'b'], nested: { tenant: 'payments' }, msg: 'clean' });
});

t.test('an object nested past the depth limit is censored rather than walked', async (t) => {
  const { destination, text } = capture();
  let deep: Record<string, unknown> = { secret: 'TOO-DEEP' };
  for (let i = 0; i < 20; i++) deep = { next: deep };
  createLogger({ destination }).info({ deep }, 'deep');
  t.notMatch(text(), 'TOO-DEEP');
  t.match(text(), '[redacted]');
});
