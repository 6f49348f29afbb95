import t from 'tap';
import { fallbackAddress, listenOn } from '../src/listen.ts';
import { logSink } from './admission/harness.ts';

const failure = (code: string) => Object.assign(new Error(`listen ${code} :::8443`), { code });

t.test('only the default address falls back to IPv4, and only when the host has no IPv6', async (t) => {
  const cases: { explicit: string | undefined; error: unknown; fallback: string | undefined }[] = [
    { explicit: undefined, error: failure('EAFNOSUPPORT'), fallback: '0.0.0.0' },
    { explicit: undefined, error: failure('EADDRNOTAVAIL'), fallback: '0.0.0.0' },
    { explicit: undefined, error: failure('EADDRINUSE'), fallback: undefined },
    { explicit: undefined, error: failure('EACCES'), fallback: undefined },
    { explicit: undefined, error: new Error('no code'), fallback: undefined },
    { explicit: undefined, error: { code: 97 }, fallback: undefined },
    { explicit: undefined, error: undefined, fallback: undefined },
    { explicit: undefined, error: null, fallback: undefined },
    { explicit: '::', error: failure('EAFNOSUPPORT'), fallback: undefined },
    { explicit: '0.0.0.0', error: failure('EADDRNOTAVAIL'), fallback: undefined },
  ];
  for (const c of cases) t.equal(fallbackAddress(c.explicit, c.error), c.fallback, `${c.explicit ?? 'default'} after ${(c.error as { code?: unknown } | null | undefined)?.code ?? String(c.error)}`);
});

/** A listen that fails on the hosts given, recording every host it was asked for. */
function listener(failures: Record<string, string>) {
  const tried: string[] = [];
  const listen = async (host: string) => {
    tried.push(host);
    const code = failures[host];
    if (code !== undefined) throw failure(code);
  };
  return { tried, listen };
}

t.test('by default serve listens on :: and says nothing', async (t) => {
  const { tried, listen } = listener({});
  const sink = logSink();
  t.equal(await listenOn(listen, undefined, sink.log), '::');
  t.same(tried, ['::']);
  t.same(sink.lines, []);
});

t.test('on a host without IPv6 the default falls back to 0.0.0.0, with one warning naming why', async (t) => {
  const { tried, listen } = listener({ '::': 'EAFNOSUPPORT' });
  const sink = logSink();
  t.equal(await listenOn(listen, undefined, sink.log), '0.0.0.0');
  t.same(tried, ['::', '0.0.0.0']);
  t.match(sink.lines, [{ level: 40, msg: 'this host has no IPv6: listening on IPv4 only', address: '0.0.0.0', tried: '::', code: 'EAFNOSUPPORT' }]);
  t.equal(sink.lines.length, 1);
});

t.test('an explicit address is used as given: its failure stands, with no fallback', async (t) => {
  const { tried, listen } = listener({ '::': 'EAFNOSUPPORT' });
  const sink = logSink();
  await t.rejects(listenOn(listen, '::', sink.log), { code: 'EAFNOSUPPORT' });
  t.same(tried, ['::']);
  t.equal(await listenOn(listener({}).listen, '127.0.0.1', sink.log), '127.0.0.1');
  t.same(sink.lines, []);
});

t.test('a failure that is not about IPv6 stands, and so does one of the fallback itself', async (t) => {
  const sink = logSink();
  await t.rejects(listenOn(listener({ '::': 'EADDRINUSE' }).listen, undefined, sink.log), { code: 'EADDRINUSE' });
  await t.rejects(listenOn(listener({ '::': 'EAFNOSUPPORT', '0.0.0.0': 'EADDRINUSE' }).listen, undefined, sink.log), { code: 'EADDRINUSE' });
});
