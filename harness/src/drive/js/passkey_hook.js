// Records how the page's requests for a passkey end, in `window.__akE2ePasskey` (its state
// `pending`, `signed` or `refused`, the RP ID asked for, the error), leaving what the page gets
// and sees as it was. Installed once per document: by drive/browser.rs before `PASSKEY` runs, and
// on every new document while a sign-in with a passkey first reloads the page (its request for a
// passkey starts as the page shows).
(() => {
  if (!window.isSecureContext || !navigator.credentials || window.__akE2eGet) return;
  const get = navigator.credentials.get.bind(navigator.credentials);
  window.__akE2eGet = get;
  navigator.credentials.get = (options) => {
    const seen = { state: 'pending', rpId: (options && options.publicKey && options.publicKey.rpId) || null };
    window.__akE2ePasskey = seen;
    return get(options).then(
      (credential) => { seen.state = 'signed'; return credential; },
      (e) => { seen.state = 'refused'; seen.error = `${e && e.name}: ${e && e.message}`; throw e; });
  };
})();
