// Run in the page by drive/browser.rs as `PASSKEY` (see its doc comment there); the one argument
// is {watch} or {budget}, from WebDriver.
const [{ watch, budget }] = arguments;
const done = arguments[arguments.length - 1];
if (watch) {
  // A page over plain http, elsewhere than localhost, has no WebAuthn at all.
  if (!window.isSecureContext || !navigator.credentials) return done({ ok: false, insecure: true });
  // Records the outcome of the page's next `navigator.credentials.get`, leaving what the page
  // gets and sees as it was.
  if (!window.__akE2eGet) {
    const get = navigator.credentials.get.bind(navigator.credentials);
    window.__akE2eGet = get;
    navigator.credentials.get = (options) => {
      const seen = { state: 'pending', rpId: (options && options.publicKey && options.publicKey.rpId) || null };
      window.__akE2ePasskey = seen;
      return get(options).then(
        (credential) => { seen.state = 'signed'; return credential; },
        (e) => { seen.state = 'refused'; seen.error = `${e && e.name}: ${e && e.message}`; throw e; });
    };
  }
  window.__akE2ePasskey = null;
  return done({ ok: true });
}
const until = Date.now() + budget;
const tick = () => {
  const seen = window.__akE2ePasskey;
  if ((seen && seen.state !== 'pending') || Date.now() > until) return done(seen || { state: 'not asked' });
  setTimeout(tick, 10);
};
tick();
