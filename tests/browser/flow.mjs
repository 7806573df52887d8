// flow.mjs - drives headless Debian chromium through bianmin-gateway with
// playwright-core, as a building leader on a 390x844 phone and as the office
// clerk. Called by tests/integration/test_browser.py, which starts the
// broker, notifier, gateway and webhook receiver and checks the outcome.
// Usage: node flow.mjs BASE_URL OUT_DIR  (credentials in $BM_LEADER, $BM_OFFICE
// as user:password, the photo in $BM_PHOTO). Prints one JSON line of findings.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, out] = process.argv.slice(2);
const [leaderUser, leaderPw] = process.env.BM_LEADER.split(':');
const [officeUser, officePw] = process.env.BM_OFFICE.split(':');
fs.mkdirSync(out, { recursive: true });
const found = { consoleErrors: [], cspViolations: 0 };
const shot = (page, name) => page.screenshot({ path: path.join(out, name + '.png'), fullPage: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
                                           isMobile: true, hasTouch: true, locale: 'zh-CN' });
  const leader = await phone.newPage();
  leader.on('console', m => { if (m.type() === 'error') found.consoleErrors.push(m.text()); });
  // a wrong password first
  await leader.goto(base + '/login');
  await shot(leader, '01-login-390');
  await leader.fill('#user', leaderUser);
  await leader.fill('#password', 'not-the-password');
  await leader.click('button[type=submit]');
  found.wrongLogin = await leader.locator('.error').innerText();
  await shot(leader, '02-login-failed-390');
  await leader.fill('#user', leaderUser);
  await leader.fill('#password', leaderPw);
  await Promise.all([leader.waitForURL('**/submit'), leader.click('button[type=submit]')]);
  await shot(leader, '03-submit-form-390');
  found.formFitsPhone = await leader.evaluate(() => document.documentElement.scrollWidth <= 390);
  await leader.selectOption('#category', 'pipe');
  await leader.fill('#building', '市政小区 3栋');
  await leader.fill('#unit', '2-301');
  await leader.fill('#contact', '罗女士 13800000000');
  await leader.fill('#text', '厨房下水道堵了 <script>document.title="pwned"</script>');
  await leader.setInputFiles('#photos', process.env.BM_PHOTO);
  await Promise.all([leader.waitForURL(/\/my\/\d+\?new=1$/), leader.click('button[type=submit]')]);
  found.ticket = Number(leader.url().match(/\/my\/(\d+)/)[1]);
  found.leaderTitle = await leader.title();
  found.scriptShownAsText = (await leader.locator('.text').first().innerText()).includes('<script>');
  await shot(leader, '04-submitted-390');

  // oversize upload: refused with a page that says what to fix
  await leader.goto(base + '/submit');
  await leader.selectOption('#category', 'repair');
  await leader.fill('#building', '3栋');
  await leader.fill('#contact', '罗');
  await leader.fill('#text', '大照片');
  await leader.setInputFiles('#photos', { name: 'big.png', mimeType: 'image/png',
                                          buffer: Buffer.alloc(6 * 1024 * 1024, 1) });
  await leader.click('button[type=submit]');
  await leader.waitForLoadState();
  found.oversize = await leader.locator('.error').innerText();
  await shot(leader, '05-oversize-390');

  // the office: the queue refreshes itself when the new request arrives
  const desk = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
  const office = await desk.newPage();
  office.on('console', m => { if (m.type() === 'error') found.consoleErrors.push(m.text()); });
  await office.goto(base + '/login');
  await office.fill('#user', officeUser);
  await office.fill('#password', officePw);
  await Promise.all([office.waitForURL('**/office/'), office.click('button[type=submit]')]);
  found.queueHadTicketAtFirst = await office.locator(`a[href="/office/request/${found.ticket}"]`).count();
  found.queueFitsPhone = await office.evaluate(() => document.documentElement.scrollWidth <= 390);
  await shot(office, '06-queue-before-390');
  // the leader submits a second request while the office looks at the queue
  await leader.goto(base + '/submit');
  await leader.selectOption('#category', 'leak');
  await leader.fill('#building', '市政小区 5栋');
  await leader.fill('#contact', '李先生');
  await leader.fill('#text', '楼上漏水');
  await Promise.all([leader.waitForURL(/\/my\/\d+\?new=1$/), leader.click('button[type=submit]')]);
  found.second = Number(leader.url().match(/\/my\/(\d+)/)[1]);
  await office.waitForSelector(`a[href="/office/request/${found.second}"]`, { timeout: 20000 });
  found.queueRefreshed = true;
  await shot(office, '07-queue-refreshed-390');

  // escalate the first, then resolve it
  await office.goto(`${base}/office/request/${found.ticket}`);
  found.officeSeesScriptAsText = (await office.locator('.text').first().innerText()).includes('<script>');
  found.officeTitle = await office.title();
  await shot(office, '08-request-390');
  await office.selectOption('#escalate-dept', 'water_company');
  await office.fill('#escalate-text', '小区主管道破裂');
  await Promise.all([office.waitForURL(/\?ok=1$/), office.click('button[value=escalate]')]);
  await office.fill('#resolve-text', '自来水公司已修复');
  await Promise.all([office.waitForURL(/\?ok=1$/), office.click('button[value=resolve]')]);
  found.finalStatus = await office.locator('.card b').first().innerText();
  await shot(office, '09-resolved-390');

  // a form without its CSRF token is refused
  const forged = await office.evaluate(async (t) => {
    const r = await fetch(`/office/request/${t}/reopen`, { method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'reason=x' });
    return r.status;
  }, found.ticket);
  found.csrfMissingStatus = forged;
  await office.goto(`${base}/office/deliveries`);
  await shot(office, '10-deliveries-390');
  await office.goto(`${base}/office/report`);
  found.reportTitle = await office.locator('h1').first().innerText();
  await shot(office, '11-report-390');
} finally {
  await browser.close();
}
console.log(JSON.stringify(found));
