// Run in the page by drive/browser.rs as `PASSKEY`, after js/passkey_hook.js (see its doc comment
// there); the one argument is {offered}, {watch}, {mark} or {budget}, from WebDriver.
const [{ offered, watch, mark, budget }] = arguments;
const done = arguments[arguments.length - 1];
if (offered) {
  // Whether the identification stage's field offers passkeys (authentik renders
  // `autocomplete="username webauthn"` when its challenge carries a passkey challenge), found
  // through the open shadow roots.
  const find = (root) => {
    const hit = root.querySelector('input[name=uidField]');
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      const inner = el.shadowRoot && find(el.shadowRoot);
      if (inner) return inner;
    }
    return null;
  };
  const field = find(document);
  const secure = window.isSecureContext && !!navigator.credentials;
  return done({ offered: !!field && (field.getAttribute('autocomplete') || '').split(/\s+/).includes('webauthn'), insecure: !secure });
}
if (watch) {
  // A page over plain http, elsewhere than localhost, has no WebAuthn at all.
  if (!window.isSecureContext || !navigator.credentials) return done({ ok: false, insecure: true });
  // The hook (js/passkey_hook.js, run before this script) records the next request's outcome.
  window.__akE2ePasskey = null;
  return done({ ok: true });
}
const until = Date.now() + budget;
// Once the browser has given the page a passkey, the page and the stage shown now are where the
// driver was (drive/js/wait.js): what follows is a new document or challenge. Marked here, in the
// same document, as it may leave at any moment.
const passed = () => {
  window.__akE2eOld = true;
  const ex = document.querySelector('ak-flow-executor');
  for (const el of ex && ex.shadowRoot ? ex.shadowRoot.querySelectorAll('*') : []) {
    el.__akE2eSeen = true;
    if (el.challenge && typeof el.challenge === 'object') el.challenge.__akE2eSeen = true;
  }
};
// Without the hook on new documents: the page shown is where the driver was, if it is still a
// flow page (its request for a passkey is answered by then, or never).
if (mark) {
  if (document.querySelector('ak-flow-executor')) passed();
  return done({ ok: true });
}
const tick = () => {
  const seen = window.__akE2ePasskey;
  // The script runs in the next page when the flow went on before it started: signed.
  if (!document.querySelector('ak-flow-executor')) return done({ state: 'left' });
  if (seen && seen.state === 'signed') passed();
  if ((seen && seen.state !== 'pending') || Date.now() > until) return done(seen || { state: 'not asked' });
  setTimeout(tick, 10);
};
tick();
