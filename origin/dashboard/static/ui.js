// Shared by the pages: the session, announcements, a confirm dialog, elements (never innerHTML).

import { api, setCsrfToken, signInUrl } from './api.js';

/** ``el('a', {href, class: 'x'}, 'text', node)``; ``onclick``-style keys add listeners. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

let toastTimer = 0;

/** A visible toast that screen readers announce (role=status). */
export function announce(message, { error = false } = {}) {
  const toast = $('toast');
  toast.textContent = '';
  toast.classList.toggle('error', error);
  requestAnimationFrame(() => {
    toast.textContent = message;
    toast.classList.add('shown');
  });
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove('shown'), error ? 9000 : 4500);
}

/** Show (or clear) a message in a role=alert element. */
export function showError(node, message) {
  node.textContent = message || '';
  node.classList.toggle('shown', Boolean(message));
}

/** A message for the next page. */
export function flash(message) {
  sessionStorage.setItem('picora.flash', message);
}

/** Every signed-in page starts here: the session (or off to sign in) and sign-out. */
export async function startPage() {
  let session;
  try {
    session = await api('/v1/sessions/current', { redirectOn401: false });
  } catch (error) {
    if (error.status === 401) {
      location.replace(signInUrl());
      return new Promise(() => {});
    }
    throw error;
  }
  setCsrfToken(session.csrfToken);
  $('sign-out')?.addEventListener('click', signOut);
  const message = sessionStorage.getItem('picora.flash');
  sessionStorage.removeItem('picora.flash');
  if (message) announce(message);
  return session;
}

async function signOut() {
  try {
    await api('/v1/sessions/current', { method: 'DELETE', redirectOn401: false });
  } catch (error) {
    if (error.status !== 401) {
      announce(`Could not sign out: ${error.message}`, { error: true });
      return;
    }
  }
  sessionStorage.clear();
  location.assign('/dashboard/sign-in?signed-out=1');
}

/** A modal question; resolves true when confirmed. Focus returns where it was. */
export function confirmDialog({ title, body, confirm }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = `dialog-title-${Date.now()}`;
    const cancelButton = el('button', { type: 'button', class: 'ghost' }, 'Cancel');
    const confirmButton = el('button', { type: 'button', class: 'danger solid' }, confirm);
    const dialog = el(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': `${titleId}-body` },
      el('h2', { id: titleId }, title),
      el('p', { id: `${titleId}-body` }, body),
      el('div', { class: 'dialog-actions' }, cancelButton, confirmButton),
    );
    let answer = false;
    cancelButton.addEventListener('click', () => dialog.close());
    confirmButton.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}

export const pageFailed = (error) => announce(error.message || String(error), { error: true });
