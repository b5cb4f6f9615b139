// Run in the page by drive/browser.rs as `WAIT` (see its doc comment there); arguments come from WebDriver.
const [stages, flowPrefix, acceptChallenge, budget] = arguments;
const done = arguments[arguments.length - 1];
const until = Date.now() + budget;
const next = f => { let once = false; const go = () => { if (!once) { once = true; f(); } }; requestAnimationFrame(go); setTimeout(go, 50); };
const look = () => {
  const out = {ready: document.readyState, url: location.href, old: window.__akE2eOld === true, stage: null, settled: false};
  const ex = document.querySelector('ak-flow-executor');
  const stage = ex && ex.shadowRoot ? ex.shadowRoot.querySelector(stages) : null;
  let key = null;
  if (stage && stage.shadowRoot && stage.shadowRoot.firstElementChild) {
    key = stage.challenge && typeof stage.challenge === 'object' ? stage.challenge : stage;
    // The stage's own shadow root and those of the components in it (authentik 2026.2 puts the
    // TOTP code form in one).
    const roots = [stage.shadowRoot, ...[...stage.shadowRoot.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)];
    const errors = roots.flatMap(r => [...r.querySelectorAll('.pf-m-error, .ak-access-denied-message, .ak-flow-error')])
      .map(e => e.textContent.trim()).filter(Boolean);
    out.stage = {component: stage.localName, errors, fresh: key.__akE2eSeen !== true};
  }
  if (out.ready === 'complete' && out.url !== 'about:blank') {
    out.settled = location.href.startsWith(flowPrefix)
      ? out.stage !== null && (!out.old || (acceptChallenge && out.stage.fresh))
      : !out.old;
  }
  if (out.settled && key) key.__akE2eSeen = true;
  return out;
};
const tick = () => {
  const out = look();
  if (out.settled || Date.now() > until) done(out); else next(tick);
};
tick();
