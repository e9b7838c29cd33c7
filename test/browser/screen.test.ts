/**
 * The trader screen end to end in a real browser (Debian's chromium driven by playwright-core):
 * a real broker, an engine with live ticks serving the built screen, a scripted Tier-1 client over
 * `ws`. The desk works the client's RFQ from the keyboard; the client receives the firm quote
 * and accepts; the screen shows the booking. Each panel is saved to docs/screenshots/<panel>.png.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { mintToken } from '../../engine/auth/token.js';
import { buildScreen, repoRoot } from '../../engine/screen/build.js';
import { TestClient } from '../helpers/client.js';
import { accept, rfq, startRfqRig, type RfqRig } from '../helpers/rfq.js';

const CHROMIUM = process.env.QE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(repoRoot(), 'docs', 'screenshots');
const EURUSD_TICK = 1e-5;

if (!existsSync(CHROMIUM)) {
  t.plan(0, `no browser at ${CHROMIUM} (CI installs Debian's chromium package; set QE_CHROMIUM to use another)`);
} else {
  t.test('trader screen - quote board, keyboard RFQ workflow, coded rejections, roles, screenshots', { timeout: 180_000 }, async (t) => {
    // the engine serves dist/screen (engine.ts); `npm run build` makes it, with the type check.
    // Rebuilt here (bundle only) when missing or older than the app's sources.
    const built = await ensureScreenBuilt();
    t.comment(built ? 'screen bundle rebuilt' : 'screen bundle up to date');
    const rig = await startRfqRig(t);
    const base = `http://127.0.0.1:${rig.te.engine.port}`;
    mkdirSync(SHOTS, { recursive: true });

    const { chromium } = await import('playwright-core');
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    t.teardown(() => browser.close());
    const pageErrors: string[] = [];
    const open = async (client: string, role: 'client' | 'trader' | 'rm' | 'admin'): Promise<Page> => {
      const page = await browser.newPage({ viewport: { width: 1680, height: 1050 } });
      page.on('pageerror', (e) => pageErrors.push(`${role}: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`${role} console: ${m.text()}`);
      });
      const token = mintToken(rig.te.secret, { sub: client, role }, 600, Math.floor(Date.now() / 1000));
      // /screen redirects to /screen/ keeping the query
      await page.goto(`${base}/screen?token=${token}`);
      await page.waitForSelector('[data-conn=open]', { timeout: 10_000 });
      return page;
    };

    // ── trader: the board shows firm quotes ─────────────────────────────────────────────────
    const page = await open('desk', 'trader');
    t.notMatch(page.url(), /token=/, 'the token is removed from the address bar');
    t.match(page.url(), /\/screen\/$/);
    await page.waitForSelector('[data-panel=board] tr[data-instrument=EURUSD][data-tier="1"][data-state=firm]', { timeout: 10_000 });
    for (const i of rig.te.config.instruments.map((x) => x.id)) {
      await page.waitForSelector(`[data-panel=board] tr[data-instrument="${i}"][data-state=firm]`, { timeout: 10_000 });
    }
    t.ok((await page.locator('[data-panel=board] tr[data-state=firm]').count()) >= rig.te.config.instruments.length, 'every instrument of the universe shows a firm ladder');
    const eurRow = await page.locator('[data-panel=board] tr[data-instrument=EURUSD][data-tier="1"]').innerText();
    t.match(eurRow, /firm/, 'state shown');
    t.match(eurRow, /1M\s+1\.0\d{4}\d? \/ 1\.0\d{4}\d?/, 'ladder band: size bid / ask at the instrument\'s decimals');
    t.match(eurRow, /\d+(\.\d+)? · -?\d+(\.\d+)? · -?\d+(\.\d+)? · -?\d+(\.\d+)? · -?\d+(\.\d+)?/, 'breakdown: base · vol · hedge · skew · signal');
    t.equal(await page.locator('[data-panel=board] header [data-age=fresh]').count(), 1, 'the board says its data is fresh');
    await page.locator('[data-panel=board] tr[data-instrument=EURUSD]').first().click();
    // the chart samples at ≤ 10/s: wait for a few points
    await page.waitForTimeout(1500);
    t.equal(await page.locator('[data-panel=chart] canvas').count(), 1, 'the chart is drawn');

    // ── a Tier-1 client's RFQ appears on the screen ─────────────────────────────────────────
    const client = await rig.client('northwind');
    const q1 = await rfq(client, 'EURUSD', 'buy', 2e6);
    // tier1, or stressed when the regime detector calls the test's synthetic market stressed
    t.match(q1, { t: 'rfq', state: 'queued', reason: /^(tier1|stressed)$/ }, 'a tier-1 RFQ waits for a trader');
    const row = page.locator(`[data-panel=rfq] tr[data-rfq="${q1.rfqId}"]`);
    await row.waitFor({ timeout: 5_000 });
    t.match(await row.innerText(), /northwind[\s\S]*buy[\s\S]*2M[\s\S]*EURUSD[\s\S]*queued (tier1|stressed)/, 'client, side, size, instrument, state and reason');
    t.match(await row.locator('[data-countdown]').innerText(), /^\d+(\.\d)? s$/, 'a countdown to expiry');
    await page.waitForSelector(`[data-ticket="${q1.rfqId}"]`);
    t.ok(await hasCopilotOrSaysNoData(page), 'the co-pilot box shows figures or says there are none yet (never blank)');
    if (rig.te.engine.services.copilot !== undefined) {
      // the co-pilot computes on a worker within its budget; its figures replace "no data yet"
      await page.waitForSelector(`[data-ticket="${q1.rfqId}"] [data-copilot=rec]`, { timeout: 10_000 });
      const cp = await page.locator(`[data-ticket="${q1.rfqId}"] [data-copilot=rec]`).innerText();
      t.match(cp, /recommended 1\.0\d{4}\d? for \d/, 'the co-pilot\'s recommended price and size');
      for (const label of ['confidence', 'hedge impact', 'hedge', 'axe', 'P&L', 'win probability', 'scenarios', 'client']) t.match(cp, label, `co-pilot figure: ${label}`);
      t.match(cp, /[+-]3σ/, 'scenario rows');
      t.equal(await page.locator(`[data-ticket="${q1.rfqId}"] input[name=price]`).inputValue(), await page.locator(`[data-ticket="${q1.rfqId}"] [data-rec-price]`).innerText(), 'the ticket is prefilled with the recommendation');
    } else {
      t.comment('no co-pilot in this engine: the ticket is prefilled from the streamed ladder');
    }

    // ── the trader adjusts (one tick up, half the size) and sends, from the keyboard ────────
    await page.locator('body').click({ position: { x: 5, y: 5 } }); // focus the page, not a field
    await page.keyboard.press('a');
    const price = page.locator('[data-panel=rfq] input[name=price]');
    t.ok(await price.evaluate((el) => el === (globalThis as any).document.activeElement), '"a" focuses the price field');
    const prefilled = Number(await price.inputValue());
    t.ok(prefilled > 1 && prefilled < 1.2, `prefilled price ${prefilled}`);
    await page.keyboard.press('ArrowUp');
    const adjusted = Math.round((prefilled + EURUSD_TICK) / EURUSD_TICK) * EURUSD_TICK;
    t.equal(Number(await price.inputValue()), Number(adjusted.toFixed(5)), '↑ moves the price one tick (inferred from the ladders)');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('1000000');
    await page.keyboard.press('Enter');
    const firm = await client.waitFor((f) => f.t === 'quote_firm' && f.rfqId === q1.rfqId, 5_000, 'the trader\'s firm quote');
    t.match(firm, { by: 'trader', size: 1e6, side: 'buy' }, 'the client gets the trader\'s quote with the adjusted size');
    t.equal(firm.price, Number(adjusted.toFixed(5)), 'at the adjusted price');

    // ── the client accepts; the screen shows the booking ─────────────────────────────────────
    const pnlBefore = (await page.locator('[data-panel=positions] [data-pnl]').count()) > 0 ? await page.locator('[data-panel=positions] [data-pnl]').innerText() : '';
    const done = await accept(client, firm.quoteId, 'screen-acc-1');
    t.equal(done.t, 'trade_confirm', 'booked');
    t.ok(await settled(page.waitForSelector(`[data-panel=positions] [data-blotter] tr[data-rfq="${q1.rfqId}"] [data-desk-qty="-1000000"]`, { timeout: 5_000 })), 'the positions panel shows the trade: desk short 1M EURUSD');
    t.equal(await page.locator(`[data-panel=rfq] tr[data-rfq="${q1.rfqId}"]`).count(), 1, 'the RFQ moved to the recent list');
    if ((await page.locator('[data-panel=positions] [data-empty=positions], [data-panel=positions] [data-empty=pnl]').count()) === 0) {
      // the P&L module pushes pnl/positions: the panel must move after the trade
      t.ok(await settled(page.waitForFunction((before) => (globalThis as any).document.querySelector('[data-panel=positions] [data-pnl]')?.innerText !== before, pnlBefore, { timeout: 10_000 })), 'the P&L split moved after the trade (pushed by the P&L module)');
      // positions are answered on request: the screen asks again every 5 s
      t.ok(await settled(page.waitForSelector('[data-panel=positions] [data-positions] tr[data-instrument=EURUSD][data-position="-1000000"]', { timeout: 12_000 })), 'the risk ledger shows the desk short 1M EURUSD');
    } else {
      t.comment('pnl / positions not offered by this engine: the panel says so (checked below)');
    }

    if (rig.te.engine.services.hedgeRouter !== undefined) {
      // one hedge decision per booked trade, pushed to desk sockets
      t.ok(await settled(page.waitForSelector('[data-panel=hedges] [data-decision=EURUSD]', { timeout: 10_000 })), 'the working-hedges panel shows the router\'s decision for the trade');
    }

    // ── bad input gets a coded rejection shown to the trader and changes nothing ────────────
    const q2 = await rfq(client, 'EURUSD', 'sell', 1e6);
    t.match(q2, { state: 'queued' });
    await page.locator(`[data-panel=rfq] tr[data-rfq="${q2.rfqId}"]`).click();
    await page.waitForSelector(`[data-ticket="${q2.rfqId}"]`);
    await page.locator('[data-panel=rfq] input[name=size]').fill('-1000000');
    await page.locator('[data-panel=rfq] input[name=size]').press('Enter');
    t.ok(await settled(page.waitForSelector('[data-panel=rfq] [data-log] li.error[data-code=QE_RFQ_BAD_SIZE]', { timeout: 5_000 })), 'a negative size is refused with QE_RFQ_BAD_SIZE, shown under the ticket');
    t.equal(client.frames.filter((f) => f.t === 'quote_firm' && f.rfqId === q2.rfqId).length, 0, 'no quote reached the client');
    await shot(page, 'rfq');

    // ── reject with a reason (keyboard) ─────────────────────────────────────────────────────
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Shift+R'); // letters work in either case (README writes R)
    await page.keyboard.type('axed the other way');
    await page.keyboard.press('Enter');
    const rej = await client.waitFor((f) => f.t === 'rejected' && f.rfqId === q2.rfqId, 5_000, 'the trader\'s rejection');
    t.match(rej, { code: 'QE_RFQ_TRADER_REJECTED', message: 'axed the other way' }, 'the client gets the trader\'s reason');

    // ── Enter sends the recommendation (or the streamed price) as is ────────────────────────
    const q3 = await rfq(client, 'UST-10Y', 'sell', 5e6);
    t.match(q3, { state: 'queued' });
    await page.waitForSelector(`[data-ticket="${q3.rfqId}"]`, { timeout: 5_000 });
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    if (rig.te.engine.services.copilot !== undefined) {
      await page.keyboard.press('t');
      t.ok(await settled(page.waitForSelector(`[data-panel=rfq] tr[data-rfq="${q3.rfqId}"] >> text=held by desk`, { timeout: 5_000 })), '"t" takes the RFQ over: the queue shows who holds it');
    }
    const shown = Number(await page.locator('[data-panel=rfq] input[name=price]').inputValue());
    await page.keyboard.press('Enter');
    const firm3 = await client.waitFor((f) => f.t === 'quote_firm' && f.rfqId === q3.rfqId, 5_000, 'quote sent as is');
    t.equal(firm3.price, shown, 'Enter sent the price the ticket showed');
    t.equal(firm3.size, 5e6, 'for the requested size');

    // ── screenshots of each panel ───────────────────────────────────────────────────────────
    for (const p of ['board', 'chart', 'positions', 'axes', 'hedges', 'clients']) await shot(page, p);
    for (const p of ['positions', 'axes', 'hedges', 'clients']) {
      const body = (await panelText(page, p)).trim();
      t.ok(body.length > 0, `${p}: never blank ("${body.slice(0, 60).replace(/\s+/g, ' ')}…")`);
    }
    await page.screenshot({ path: join(SHOTS, 'screen.png'), fullPage: true });

    // ── roles ────────────────────────────────────────────────────────────────────────────────
    const admin = await open('desk', 'admin');
    await admin.waitForSelector('[data-panel=controls]');
    await admin.waitForSelector('[data-panel=board] tr[data-state=firm]');
    await shot(admin, 'controls');
    const rm = await open('desk', 'rm');
    t.equal(await rm.locator('[data-panel=rfq]').count(), 0, 'rm: no RFQ queue');
    t.equal(await rm.locator('[data-panel=controls]').count(), 0, 'rm: no controls');
    t.equal(await rm.locator('[data-panel=clients]').count(), 1, 'rm: the clients panel');
    t.equal(await rm.locator('[data-panel=clients] [data-override]').count(), 1, 'rm: the tier override form (crm_override)');
    t.equal(await page.locator('[data-panel=clients] [data-override]').count(), 0, 'trader: no override form');
    t.equal(await page.locator('[data-panel=controls]').count(), 0, 'trader: no controls');
    const asClient = await open('atlas', 'client');
    await asClient.waitForSelector('[data-refused]');
    t.equal(await asClient.locator('[data-panel]').count(), 0, 'a client token gets no panel');

    await killStep(t, rig, admin, client);
    await burstStep(t, rig, page);
    t.same(pageErrors, [], 'no script errors in any page');
  });
}


/** Whether a wait (selector, function, frame) succeeded in time: a timeout is a failed assertion, not an exception. */
const settled = (p: Promise<unknown>): Promise<boolean> => p.then(() => true, () => false);
/** The kill switch pressed on the screen pulls that client's stream. */
async function killStep(t: Test, rig: RfqRig, admin: Page, client: TestClient): Promise<void> {
  client.send({ t: 'sub', i: ['EURUSD'], id: 'k-sub' });
  await client.waitFor((f) => f.t === 'q' && f.i === 'EURUSD' && f.st === 'firm', 5_000, 'a firm EURUSD frame at the client');
  await admin.locator('select[name=level]').selectOption('client');
  await admin.locator('input[name=target]').fill('northwind');
  await admin.locator('input[name=kill-reason]').fill('screen test');
  const from = client.frames.length;
  const after = (pred: (f: { t: string; [k: string]: any }) => boolean) => (f: { t: string; [k: string]: any }) => client.frames.indexOf(f) >= from && pred(f);
  await admin.locator('[data-action=kill]').click();
  const answer = await admin.waitForSelector('[data-panel=controls] [data-log] li', { timeout: 5_000 });
  if ((await answer.getAttribute('data-code')) === 'QE_WS_BAD_MESSAGE') {
    // the engine answered "unknown kind": no risk module in this build
    await t.test('trader screen - the kill switch pressed on the screen pulls the client\'s stream', { skip: 'the engine does not offer the `kill` request kind yet (risk module)' }, async () => undefined);
    return;
  }
  const pulled = await client.waitFor(after((f) => f.t === 'q' && f.i === 'EURUSD' && f.st === 'pulled'), 5_000, 'a pulled frame after the kill');
  t.equal(pulled.rs, 'killed', 'the client\'s stream is pulled with reason killed');
  t.ok(await settled(admin.waitForFunction(() => /northwind/.test((globalThis as any).document.querySelector('[data-panel=controls] [data-kind=risk_state][data-has=yes]')?.innerText ?? ''), undefined, { timeout: 5_000 })), 'the controls panel lists the engaged switch');
  await shot(admin, 'controls');
  const mark = client.frames.length;
  await admin.locator('[data-action=release]').click();
  t.ok(await settled(client.waitFor((f) => client.frames.indexOf(f) >= mark && f.t === 'q' && f.i === 'EURUSD' && f.st === 'firm', 5_000, 'firm again after release')), 'released from the screen: firm again');
  void rig;
}

/**
 * Conflation: under a burst of ticks the screen takes every frame but refreshes the view on its
 * own clock (≤ one refresh per 100 ms), so the work per tick is a Map.set. Counted, not timed:
 * refreshes ≤ elapsed / 100 ms + slack, and far fewer refreshes than frames.
 */
async function burstStep(t: Test, rig: RfqRig, page: Page): Promise<void> {
  const probe = () => page.evaluate(() => {
    const q = (globalThis as any).qeScreen;
    return { renders: q.renders() as number, frames: q.frames() as number, at: Date.now() };
  });
  rig.stopTicking();
  const before = await probe();
  const ids = rig.te.config.instruments.map((i) => i.id);
  const end = Date.now() + 2_000;
  let n = 0;
  while (Date.now() < end) {
    // tiny moves (±0.1 bp) so every tick re-prices without tripping the stress detector
    for (let k = 0; k < 50; k++) for (const i of ids) rig.te.tickAll(i, rig.mid[i] * (1 + ((n++ % 3) - 1) * 1e-5));
    await rig.te.pub.flush();
  }
  await page.waitForTimeout(300);
  const after = await probe();
  const frames = after.frames - before.frames;
  const renders = after.renders - before.renders;
  const bound = Math.ceil((after.at - before.at) / 100) + 3;
  t.comment(`burst: ${n * 3} books published, ${frames} quote frames reached the page, ${renders} view refreshes in ${after.at - before.at} ms`);
  t.ok(frames > 200, 'the page received the burst');
  t.ok(renders <= bound, `view refreshes (${renders}) bounded by the refresh clock (${bound}), not by the tick rate`);
  t.ok(renders * 5 < frames, 'many frames per refresh: conflated');
  // the burst is over and the feed has stopped: one more round of books, or the market goes stale
  // (staleAfterMs 300 in the test config) before the board is looked at on a slow machine
  await rig.tick();
  t.ok(await settled(page.waitForSelector('[data-panel=board] tr[data-state=firm]', { timeout: 5_000 })), 'the board still shows firm ladders');
}

/** Builds dist/screen when its app.js is missing or older than a file of engine/screen/app; true when it built. */
async function ensureScreenBuilt(): Promise<boolean> {
  const root = repoRoot();
  const out = join(root, 'dist', 'screen', 'app.js');
  const src = join(root, 'engine', 'screen', 'app');
  const newest = Math.max(...readdirSync(src, { recursive: true }).map((f) => statSync(join(src, String(f))).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return false;
  await buildScreen({ typecheck: false });
  return true;
}

async function hasCopilotOrSaysNoData(page: Page): Promise<boolean> {
  const box = page.locator('[data-panel=rfq] [data-panel-part=copilot]');
  const text = await box.innerText();
  return /no data yet/.test(text) || /recommended/.test(text);
}

async function panelText(page: Page, panel: string): Promise<string> {
  return page.locator(`[data-panel=${panel}] .body`).innerText();
}

async function shot(page: Page, panel: string): Promise<void> {
  await page.locator(`[data-panel=${panel}]`).screenshot({ path: join(SHOTS, `${panel}.png`) });
}
