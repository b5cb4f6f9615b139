// Run in the page by drive/browser.rs as `ACT` (see its doc comment there); the one argument is
// the action ({field, fill, button, stage, nested, fresh, pick, budget}), from WebDriver.
const [{ field, fill, button, stage, nested, fresh, pick, budget }] = arguments;
const done = arguments[arguments.length - 1];
const until = Date.now() + budget;
const next = f => { let once = false; const go = () => { if (!once) { once = true; f(); } }; requestAnimationFrame(go); setTimeout(go, 50); };
const find = (css) => {
  if (fresh && (window.__akE2eOld === true || location.href === 'about:blank')) return null;
  if (!stage) return document.querySelector(css);
  const ex = document.querySelector('ak-flow-executor');
  const root = ex && ex.shadowRoot && ex.shadowRoot.querySelector(stage);
  if (!root || !root.shadowRoot) return null;
  const direct = root.shadowRoot.querySelector(css);
  if (direct) return direct;
  const inner = root.shadowRoot.querySelector(nested);
  return inner && inner.shadowRoot ? inner.shadowRoot.querySelector(css) : null;
};
// As Playwright's `fill`: the value set, then `input` and `change` sent (crossing shadow roots).
const filled = (el) => {
  el.focus();
  el.value = fill;
  el.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
  el.dispatchEvent(new Event('change', { bubbles: true, composed: true }));
};
// Whether `node` is `el` or inside it, across shadow roots.
const within = (node, el) => { for (let n = node; n; n = n.parentNode || n.host) if (n === el) return true; return false; };
// What keeps `el` from being clicked as a person would: the checks WebDriver's click makes
// (displayed, in view, enabled, not covered by another element at its centre), or null.
const hindrance = (el) => {
  if (el.disabled) return 'disabled';
  let r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'not displayed';
  if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) {
    el.scrollIntoView({ block: 'center', inline: 'center' });
    r = el.getBoundingClientRect();
  }
  const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
  let hit = document.elementFromPoint(x, y);
  while (hit && hit.shadowRoot) {
    const inner = hit.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === hit) break;
    hit = inner;
  }
  if (within(hit, el)) return null;
  if (!hit) return 'outside the page';
  const classes = typeof hit.className === 'string' && hit.className ? ` class="${hit.className}"` : '';
  return `covered by <${hit.localName}${classes}>`;
};
let filledField = false;
let why = 'not there';
// authentik's device picker (several devices, none chosen): the button of device class `pick`,
// found by the class's place in the stage's challenge; `absent` when the challenge has none.
// When the stage shows another device (authentik chooses the last used one by itself), its
// "Select another authentication method" button leads back to the picker.
let picked = !pick;
const stageRoot = () => {
  const ex = document.querySelector('ak-flow-executor');
  const root = ex && ex.shadowRoot && ex.shadowRoot.querySelector(stage);
  return root && root.shadowRoot ? root : null;
};
const pickerButton = () => {
  const root = stageRoot();
  if (!root) return null;
  if (!root.shadowRoot.querySelector('[name=device-challenges]')) {
    const inner = root.shadowRoot.querySelector('ak-stage-authenticator-validate-code, ak-stage-authenticator-validate-webauthn');
    if (!inner) return null;
    const shown = inner.deviceChallenge;
    const back = inner.shadowRoot && inner.shadowRoot.querySelector('button.pf-m-secondary');
    // The device wanted, or one that cannot be told or left: go on with what is shown.
    if (!shown || (shown.deviceClass || shown.device_class) === pick || !back) { picked = true; return null; }
    return back;
  }
  const c = root.challenge || {};
  const devices = c.deviceChallenges || c.device_challenges || [];
  const i = devices.findIndex((d) => (d.deviceClass || d.device_class) === pick);
  return i < 0 ? 'absent' : root.shadowRoot.querySelector(`#device-challenge-${i}`);
};
// Why the page would not send the value filled, as a person's click would find out: the field's
// own constraints (its pattern, say), in the browser's words; never the value (it may be a code).
const refusal = (el) => {
  if (typeof fill !== 'string' || !el || typeof el.checkValidity !== 'function' || el.checkValidity()) return null;
  const pattern = el.getAttribute('pattern');
  return `the page refuses the value before sending it: ${el.validationMessage}${pattern ? ` (the field's pattern is \`${pattern}\`)` : ''}`;
};
const tick = () => {
  if (!picked) {
    const el = pickerButton();
    if (el === 'absent') return done({ ok: false, final: true, wanted: `a \`${pick}\` device`, why: "authentik's device picker offers none" });
    if (el) {
      why = hindrance(el);
      // A picker button chooses; the back button leads to the picker, looked at next frame.
      if (why === null) { el.click(); picked = el.id.startsWith('device-challenge-'); }
    }
    if (!picked) {
      if (Date.now() > until) return done({ ok: false, wanted: `a \`${pick}\` device`, why });
      return next(tick);
    }
  }
  if (field && !filledField) {
    const el = find(field);
    if (el && typeof fill === 'string') filled(el);
    filledField = el !== null;
  }
  if (filledField || !field) {
    if (!button) return done({ ok: true });
    const refused = field ? refusal(find(field)) : null;
    if (refused) return done({ ok: false, wanted: field, why: refused, refused: true });
    const el = find(button);
    why = el ? hindrance(el) : 'not there';
    if (why === null) {
      // Marked before the click: the wait that follows must not take this document for the next.
      window.__akE2eOld = true;
      el.click();
      return done({ ok: true });
    }
  }
  if (Date.now() > until) return done({ ok: false, wanted: filledField || !field ? button : field, why });
  next(tick);
};
tick();
