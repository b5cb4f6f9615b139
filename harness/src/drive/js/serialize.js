// Run in the page by drive/browser.rs as `SERIALIZE` (see its doc comment there); arguments come from WebDriver.
const esc = s => s.replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;');
const attrs = el => [...el.attributes].map(a => ` ${a.name}="${a.value.replace(/"/g,'&quot;')}"`).join('');
const walk = n => {
  if (n.nodeType === 3) return esc(n.textContent);
  if (n.nodeType !== 1) return '';
  const tag = n.localName;
  let out = `<${tag}${attrs(n)}>`;
  if (n.shadowRoot) out += `<template shadowrootmode="open">${[...n.shadowRoot.childNodes].map(walk).join('')}</template>`;
  out += [...n.childNodes].map(walk).join('');
  return out + `</${tag}>`;
};
return '<!DOCTYPE html>\n' + walk(document.documentElement);
