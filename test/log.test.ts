import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, flatFields, isoTime } from '../src/log.ts';

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
      request: { headers: { Authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE' } },
      auths: { host: { auth: 'QVdTOnB3', password: 'pw' } },
    },
    'with credentials',
  );
  const line = text();
  for (const secret of ['p0', 'eyJhdXRocyI6e319', 'AKIA-SECRET', 'SESSION', 'QVdTOnB3', 'Bearer abc', '"pw"', 'AKIDEXAMPLE']) t.notMatch(line, secret, `${secret} is not logged`);
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

t.test('dates are logged as ISO-8601 strings at any depth, whether or not the line holds a redacted key', async (t) => {
  const expiresAt = new Date(Date.UTC(2026, 10, 23, 12, 0, 0));
  const iso = '2026-11-23T12:00:00.000Z';
  const lines: { name: string; fields: Record<string, unknown> }[] = [
    { name: 'without credentials', fields: { expiresAt, nested: { at: expiresAt, list: [expiresAt] } } },
    { name: 'beside a redacted key', fields: { expiresAt, nested: { at: expiresAt, list: [expiresAt] }, password: 'PW' } },
  ];
  for (const { name, fields } of lines) {
    const { destination, text } = capture();
    createLogger({ destination }).info(fields, name);
    t.match(JSON.parse(text()), { expiresAt: iso, nested: { at: iso, list: [iso] } }, name);
    t.notMatch(text(), 'PW');
  }
  const { destination, text } = capture();
  createLogger({ destination }).info({ token: 'T', claimed: new Date(Number.NaN) }, 'invalid');
  t.match(JSON.parse(text()), { token: '[redacted]', claimed: null }, 'an invalid date is null, as JSON.stringify makes it');
});

t.test('what names a credential stays readable beside the secrets that are redacted', async (t) => {
  const { destination, text } = capture();
  const credential = { tenant: 'payments', role: 'arn:aws:iam::111111111111:role/payments-pull', registry: { account: '111111111111', region: 'eu-west-1' }, expiresAt: new Date(Date.UTC(2026, 10, 23)) };
  createLogger({ destination }).info({ ...credential, secret: { password: 'PW', auth: 'QVdTOlBX' }, sessionToken: 'ST' }, 'credential');
  t.match(JSON.parse(text()), { tenant: 'payments', role: 'arn:aws:iam::111111111111:role/payments-pull', registry: { account: '111111111111', region: 'eu-west-1' }, expiresAt: '2026-11-23T00:00:00.000Z', secret: { password: '[redacted]', auth: '[redacted]' }, sessionToken: '[redacted]' });
  for (const secret of ['"PW"', 'QVdTOlBX', '"ST"']) t.notMatch(text(), secret);
});

t.test('flat fields are written as they are, without the brand, and only they skip the walk', async (t) => {
  const { destination, text } = capture();
  const log = createLogger({ destination });
  log.info(flatFields({ uid: 'u1', reasons: ['a', 'b'], rewrites: 2, tenant: undefined }), 'flat');
  log.info({ uid: 'u2', nested: { token: 'SECRET-TOKEN' } }, 'not flat');
  const [flat, nested] = text().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(flat, { uid: 'u1', reasons: ['a', 'b'], rewrites: 2, msg: 'flat' });
  t.notOk('tenant' in flat!, 'an undefined field is left out, as for any line');
  t.same(Object.getOwnPropertySymbols(flat!), []);
  t.same(nested?.nested, { token: '[redacted]' }, 'any other object is still walked');
});

t.test('the time is ISO 8601, the same within a millisecond and new after it', async (t) => {
  const first = isoTime();
  t.match(first, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  const again = isoTime();
  t.ok(again === first || again > first, 'never earlier');
  await new Promise((resolve) => setTimeout(resolve, 3));
  t.ok(isoTime() > first, 'a later millisecond, a later time');
  t.equal(JSON.parse(`{${isoTime().slice(1)}}`).time.length, 24);
});
