'use strict';
// A shop's sync job, written for Node: it loads customers, pages through them, loses a race on
// an etag and recovers, reads the change feed, and is told precisely what was wrong with a bad
// record.

const test = require('node:test');
const assert = require('node:assert/strict');
const { connect, errorDetails, grpc } = require('..');
const { startServer } = require('./server');

const NAMES = ['Ayşe Yılmaz', 'Mehmet Demir', 'Elif Kaya', 'Can Öztürk', 'Zeynep Arslan'];

const person = (fullName, email) => {
  const [given_name, family_name] = fullName.split(' ');
  return { person: { given_name, family_name }, emails: [{ address: email }], tags: ['node'], address: { country: 'tr' } };
};

async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    return errorDetails(err);
  }
  assert.fail('the call was expected to fail');
}

test('a sync job written for Node talks to crm', async (t) => {
  const server = await startServer();
  const crm = connect(server.addr, { origin: 'node-tests' });
  t.after(async () => {
    crm.close();
    assert.equal(await server.stop(), 0, 'the server stops cleanly');
  });

  const created = [];
  await t.test('it creates customers, normalized', async () => {
    for (const [n, name] of NAMES.entries()) {
      const c = await crm.customers.createCustomer({ customer: person(name, `Person${n}@Example.com`), request_id: `node-story-${n}` });
      assert.equal(c.emails[0].address, `person${n}@example.com`);
      assert.equal(c.address.country, 'TR');
      created.push(c);
    }
  });

  await t.test('it pages through them, each once, in order', async () => {
    const seen = [];
    let token = '';
    let pages = 0;
    do {
      const page = await crm.customers.listCustomers({ filter: 'tags:"node"', order_by: 'display_name', page_size: 2, page_token: token });
      seen.push(...page.customers.map((c) => c.display_name));
      token = page.next_page_token;
      pages += 1;
    } while (token);
    assert.deepEqual(seen, [...NAMES].sort());
    assert.equal(pages, 3);
  });

  await t.test('a stale etag is ABORTED with ETAG_MISMATCH, and a re-read wins', async () => {
    const ayse = created[0];
    const mask = { paths: ['owner'] };
    const first = await crm.customers.updateCustomer({ customer: { id: ayse.id, owner: 'zeynep' }, update_mask: mask, etag: ayse.etag });
    assert.equal(first.owner, 'zeynep');
    const stale = await refusal(crm.customers.updateCustomer({ customer: { id: ayse.id, owner: 'mehmet' }, update_mask: mask, etag: ayse.etag }));
    assert.equal(stale.code, grpc.status.ABORTED);
    assert.equal(stale.reason, 'ETAG_MISMATCH');
    const current = await crm.customers.getCustomer({ id: ayse.id });
    const second = await crm.customers.updateCustomer({ customer: { id: ayse.id, owner: 'mehmet' }, update_mask: mask, etag: current.etag });
    assert.equal(second.owner, 'mehmet');
  });

  await t.test('the change feed has every change, in commit order, with this origin', async () => {
    const stream = crm.feed.watchChanges({ after: '0' }, { deadline: Date.now() + 10000 });
    const events = [];
    await new Promise((resolve, reject) => {
      stream.on('data', (message) => {
        if (message.event) events.push(message.event);
        if (events.length === NAMES.length + 2) { stream.cancel(); resolve(); }
      });
      stream.on('error', (err) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
    });
    assert.deepEqual(events.map((e) => e.operation), [...NAMES.map(() => 'CREATED'), 'UPDATED', 'UPDATED']);
    assert.deepEqual(events.slice(0, NAMES.length).map((e) => e.entity.id), created.map((c) => c.id));
    assert.ok(events.every((e) => e.origin === 'node-tests'));
    const cursors = events.map((e) => BigInt(e.cursor));
    assert.deepEqual(cursors, [...cursors].sort((a, b) => (a < b ? -1 : 1)));
  });

  await t.test('a bad record is refused with the field named, and nothing is written', async () => {
    const bad = await refusal(crm.customers.createCustomer({ customer: person('Bad Record', 'not-an-email') }));
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    assert.ok('customer.emails[0].address' in bad.fieldViolations, JSON.stringify(bad));
    const found = await crm.customers.searchCustomers({ query: 'bad record' });
    assert.equal(found.results.length, 0);
    const missing = await refusal(crm.customers.getCustomer({ id: '00000000000000ff' }));
    assert.equal(missing.code, grpc.status.NOT_FOUND);
    assert.equal(missing.reason, 'CUSTOMER_NOT_FOUND');
  });
});
