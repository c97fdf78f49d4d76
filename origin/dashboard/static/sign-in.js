// Sign in with an API key (the API sets the cookie), then back where the person was going.

import { api } from './api.js';
import { $, announce, showError } from './ui.js';

function destination() {
  const next = new URLSearchParams(location.search).get('next') || '';
  // Only a path of this dashboard: never another site, never a protocol-relative URL.
  return /^\/dashboard(\/|$)/.test(next) && !next.startsWith('//') ? next : '/dashboard/';
}

async function signIn(event) {
  event.preventDefault();
  const input = $('api-key');
  const button = event.submitter || document.querySelector('#signin-form button');
  const apiKey = input.value.trim();
  showError($('signin-error'), '');
  if (!apiKey) {
    input.setAttribute('aria-invalid', 'true');
    showError($('signin-error'), 'Enter an API key (it starts with sk_live_).');
    input.focus();
    return;
  }
  button.disabled = true;
  try {
    await api('/v1/sessions', { method: 'POST', json: { apiKey }, redirectOn401: false });
  } catch (error) {
    input.setAttribute('aria-invalid', 'true');
    let message = error.message;
    if (error.status === 401) message = 'That API key was not accepted: it is mistyped, revoked or unknown.';
    if (error.status === 429) {
      const wait = Math.ceil(error.details.retryAfterSeconds || 60);
      message = `Too many attempts. Wait ${wait} seconds, then try again.`;
    }
    showError($('signin-error'), message);
    button.disabled = false;
    input.focus();
    input.select();
    return;
  }
  sessionStorage.clear();
  location.assign(destination());
}

$('signin-form').addEventListener('submit', signIn);
if (new URLSearchParams(location.search).has('signed-out')) announce('You are signed out.');
