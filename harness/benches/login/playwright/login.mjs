// The Playwright anchor of the login benchmark: the same login as a hand-written Playwright
// script, one browser, a new context per login (as Playwright's docs advise), the system's
// Chromium. Driven by harness/benches/login/playwright.rs: each line `login` on standard input
// is one login; the answer is `ok <ms>` or `error <message>` on standard output.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const [loginPage, email, username, password] = ['LOGIN_PAGE', 'EMAIL', 'USERNAME', 'PASSWORD'].map(env);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

async function login() {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(loginPage);
    await page.fill('[data-testid=email-input]', email);
    await page.click('[data-testid=continue-button]');
    // Playwright's CSS pierces open shadow roots: authentik's stages are reached directly.
    await page.fill('ak-stage-identification input[name=uidField]', username);
    await page.click('ak-stage-identification button[type=submit]');
    await page.fill('ak-stage-password input[name=password]', password);
    await page.click('ak-stage-password button[type=submit]');
    await page.waitForSelector('[data-testid=conversation]');
  } finally {
    await context.close();
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'login') continue;
  const started = performance.now();
  try {
    await login();
    console.log(`ok ${(performance.now() - started).toFixed(1)}`);
  } catch (e) {
    console.log(`error ${String(e.message || e).split('\n')[0]}`);
  }
}
await browser.close();
