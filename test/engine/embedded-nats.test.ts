import t from 'tap';
import { connect } from 'nats';
import { startBroker } from '../helpers/nats.js';

t.test('nats - embedded server starts on a free port with JetStream and restarts on the same port', async (t) => {
  const b = await startBroker(t);
  t.match(b.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  let nc = await connect({ servers: b.url });
  const jsm = await nc.jetstreamManager();
  const info = await jsm.getAccountInfo();
  t.ok(info.limits, 'JetStream answers');
  await nc.close();
  await b.restart(100);
  nc = await connect({ servers: b.url });
  t.equal(nc.info?.port, b.port);
  await nc.close();
});
