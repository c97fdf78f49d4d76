// Settings: hotlink protection rules and self-service API keys.

import { api } from './api.js';
import { copyAndAnnounce } from './clipboard.js';
import { formatDate } from './format.js';
import { $, announce, confirmDialog, el, pageFailed, showError, startPage } from './ui.js';

function showRules(rules) {
  $('hotlink-enabled').checked = rules.enabled;
  $('domains').value = rules.allowedDomains.join('\n');
  $('allow-empty').checked = rules.allowEmptyReferer;
}

async function loadRules() {
  try {
    showRules(await api('/v1/settings/hotlink'));
  } catch (error) {
    showError($('hotlink-error'), `Could not load the hotlink rules: ${error.message}`);
  }
}

async function saveRules(event) {
  event.preventDefault();
  showError($('hotlink-error'), '');
  const domains = $('domains');
  const rules = {
    enabled: $('hotlink-enabled').checked,
    allowedDomains: domains.value.split('\n').map((line) => line.trim()).filter(Boolean),
    allowEmptyReferer: $('allow-empty').checked,
  };
  try {
    showRules(await api('/v1/settings/hotlink', { method: 'PUT', json: rules }));
    domains.removeAttribute('aria-invalid');
    announce('Hotlink settings saved.');
  } catch (error) {
    domains.setAttribute('aria-invalid', 'true');
    showError($('hotlink-error'), `Not saved: ${error.message}`);
  }
}

function keyRow(key) {
  return el(
    'tr',
    {},
    el('th', { scope: 'row' }, key.name),
    el('td', {}, el('code', {}, key.prefix)),
    el('td', {}, formatDate(key.createdAt, false)),
    el('td', {}, key.lastUsedAt ? formatDate(key.lastUsedAt) : 'Never'),
    el('td', { class: 'actions' }, el('button', { type: 'button', class: 'danger small', onclick: () => revoke(key) }, 'Revoke')),
  );
}

async function loadKeys() {
  try {
    const { items } = await api('/v1/keys');
    $('keys').replaceChildren(...items.map(keyRow));
    $('keys-empty').hidden = items.length > 0;
  } catch (error) {
    showError($('keys-error'), `Could not load your keys: ${error.message}`);
  }
}

async function createKey(event) {
  event.preventDefault();
  showError($('keys-error'), '');
  const input = $('key-name');
  const name = input.value.trim();
  if (!name) {
    input.setAttribute('aria-invalid', 'true');
    showError($('keys-error'), 'Give the key a name, such as the machine or script that will use it.');
    input.focus();
    return;
  }
  try {
    const created = await api('/v1/keys', { method: 'POST', json: { name } });
    input.value = '';
    input.removeAttribute('aria-invalid');
    $('new-key-value').value = created.key;
    $('new-key').hidden = false;
    $('new-key-value').focus();
    $('new-key-value').select();
    announce(`Key ${created.name} created. Copy it now: it will not be shown again.`);
    await loadKeys();
  } catch (error) {
    showError($('keys-error'), `No key created: ${error.message}`);
  }
}

async function revoke(key) {
  const ok = await confirmDialog({
    title: `Revoke ${key.name}?`,
    body: `Anything using ${key.prefix} stops working at once, and sessions signed in with it end.`,
    confirm: 'Revoke key',
  });
  if (!ok) return;
  try {
    await api(`/v1/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
    announce(`Key ${key.name} revoked.`);
  } catch (error) {
    if (error.status !== 404) {
      showError($('keys-error'), `Not revoked: ${error.message}`);
      return;
    }
  }
  $('new-key').hidden = true;
  await loadKeys();
}

async function main() {
  await startPage();
  $('hotlink-form').addEventListener('submit', saveRules);
  $('key-form').addEventListener('submit', createKey);
  $('copy-key').addEventListener('click', () => copyAndAnnounce($('new-key-value').value, 'Key'));
  await Promise.all([loadRules(), loadKeys()]);
}

main().catch(pageFailed);
