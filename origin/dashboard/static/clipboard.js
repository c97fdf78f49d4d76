// Copying: the Clipboard API in a secure context, else execCommand('copy') (plain http on a LAN).

import { announce, el } from './ui.js';

const LINK_FORMATS = [['url', 'URL'], ['markdown', 'Markdown'], ['html', 'HTML'], ['bbcode', 'BBCode']];

const STORE = 'picora.linkFormat';

function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]);
}

export function formatLink(url, name, format = currentFormat()) {
  const alt = (name || '').replace(/\.[a-z0-9]+$/i, '');
  switch (format) {
    case 'markdown':
      return `![${alt.replace(/[[\]]/g, '')}](${url})`;
    case 'html':
      return `<img src="${escapeHtml(url)}" alt="${escapeHtml(alt)}">`;
    case 'bbcode':
      return `[img]${url}[/img]`;
    default:
      return url;
  }
}

function currentFormat() {
  const stored = localStorage.getItem(STORE);
  return LINK_FORMATS.some(([value]) => value === stored) ? stored : 'url';
}

/** Fill a "Link format" select, remember the choice, and call ``onChange`` when it changes. */
export function linkFormatSelect(select, onChange = () => {}) {
  select.replaceChildren(...LINK_FORMATS.map(([value, label]) => el('option', { value }, label)));
  select.value = currentFormat();
  select.addEventListener('change', () => {
    localStorage.setItem(STORE, select.value);
    onChange(select.value);
  });
}

function fallbackCopy(text) {
  const opener = document.activeElement;
  const area = el('textarea', { class: 'clipboard-fallback', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
  area.value = text;
  document.body.append(area);
  area.select();
  area.setSelectionRange(0, text.length);
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    // Refused: say so below.
  }
  area.remove();
  opener?.focus?.();
  return copied;
}

/** Copy ``text`` and tell the person how, including when the fallback did the work. */
export async function copyAndAnnounce(text, what = 'Link') {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return announce(`${what} copied to the clipboard.`);
    } catch {
      // Denied or unfocused: the older way may still work.
    }
  }
  if (fallbackCopy(text)) {
    announce(`${what} copied. This page is not served over https, so the browser's older copy command was used.`);
  } else {
    announce('The browser did not allow copying; select the text and copy it by hand.', { error: true });
  }
}
