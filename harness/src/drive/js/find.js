// Run in the page by drive/browser.rs as `FIND` (see its doc comment there); arguments come from WebDriver.
const [css, stage, nested, mark, fresh, budget, fill] = arguments;
const done = arguments[arguments.length - 1];
const until = Date.now() + budget;
const next = f => { let once = false; const go = () => { if (!once) { once = true; f(); } }; requestAnimationFrame(go); setTimeout(go, 50); };
const find = () => {
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
// With `fill`, the field found is filled at once, as Playwright's `fill` does: its value set, then
// `input` and `change` sent (crossing shadow roots), instead of one key event per character.
const filled = (field) => {
  field.focus();
  field.value = fill;
  field.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
  field.dispatchEvent(new Event('change', { bubbles: true, composed: true }));
};
const tick = () => {
  const found = find();
  if (found && mark) window.__akE2eOld = true;
  if (found && typeof fill === 'string') filled(found);
  if (found || Date.now() > until) done(found); else next(tick);
};
tick();
