// Run in the page by drive/browser.rs as `FILL`: sets a field's value as typing leaves it, and
// tells the page so (`input`, then `change`, both crossing shadow roots), as Playwright's `fill`.
const [field, value] = arguments;
field.focus();
field.value = value;
field.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
field.dispatchEvent(new Event('change', { bubbles: true, composed: true }));
