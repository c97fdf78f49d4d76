// The upload queue: XHR for real progress, three at once, files over the plan's limit refused before
// a byte is sent; a refused file stays with its reason and Retry.

import { csrfHeaders, readEnvelope } from './api.js';
import { copyAndAnnounce, formatLink } from './clipboard.js';
import { displayName, formatBytes, megabytes } from './format.js';
import { announce, el } from './ui.js';

const PARALLEL = 3;
let serial = 0;

export class UploadQueue {
  // hooks: list, limit(), refreshLimit(), uploaded(image), changed(summary, count), say(message).
  constructor(hooks) {
    this.hooks = hooks;
    this.items = [];
    this.running = 0;
    this.announcedStep = 0;
  }

  add(files, options) {
    const added = [...files].map((file) => this.render({ id: ++serial, file, options, state: 'queued', loaded: 0 }));
    this.items.push(...added);
    this.announcedStep = 0;
    this.hooks.say(`Uploading ${added.length === 1 ? added[0].file.name : `${added.length} files`}.`);
    this.changed();
    this.pump();
  }

  render(item) {
    const nameId = `upload-name-${item.id}`;
    item.status = el('span', { class: 'upload-status' }, 'Waiting');
    item.progress = el('progress', { max: '100', value: '0', 'aria-labelledby': nameId });
    item.message = el('p', { class: 'upload-message' });
    item.linkInput = el('input', { type: 'text', readonly: true, class: 'mono', 'aria-label': `Link to ${item.file.name}` });
    item.linkRow = el(
      'div',
      { class: 'upload-link', hidden: true },
      item.linkInput,
      el('button', { type: 'button', onclick: () => copyAndAnnounce(item.linkInput.value) }, 'Copy link'),
    );
    item.cancel = el('button', { type: 'button', class: 'ghost small', onclick: () => this.cancel(item) }, 'Cancel');
    item.retry = el('button', { type: 'button', class: 'small', hidden: true, onclick: () => this.retry(item) }, 'Retry');
    item.row = el(
      'li',
      { class: 'upload', 'data-state': 'queued' },
      el(
        'div',
        { class: 'upload-head' },
        el('span', { class: 'upload-name', id: nameId }, item.file.name),
        el('span', { class: 'upload-size' }, formatBytes(item.file.size)),
        item.status,
        el('span', { class: 'upload-actions' }, item.cancel, item.retry),
      ),
      item.progress,
      item.message,
      item.linkRow,
    );
    this.hooks.list.append(item.row);
    return item;
  }

  setState(item, state, status) {
    item.state = state;
    item.row.dataset.state = state;
    item.status.textContent = status;
    const live = state === 'queued' || state === 'uploading';
    item.cancel.hidden = !live;
    item.retry.hidden = live || state === 'done';
    this.changed();
  }

  pump() {
    while (this.running < PARALLEL) {
      const item = this.items.find((candidate) => candidate.state === 'queued');
      if (!item) break;
      this.start(item);
    }
  }

  start(item) {
    const limit = this.hooks.limit();
    if (limit && item.file.size > limit) {
      this.fail(
        item,
        `${formatBytes(item.file.size)} is over your plan's limit of ${megabytes(limit)} per file. Nothing was sent.`,
      );
      return;
    }
    this.running += 1;
    const form = new FormData();
    form.append('file', item.file, item.file.name);
    form.append('isPublic', item.options.isPublic ? 'true' : 'false');
    if (item.options.tags.length) form.append('tags', JSON.stringify(item.options.tags));
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open('POST', '/v1/images');
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      item.loaded = event.loaded / event.total;
      item.progress.value = Math.min(99, Math.floor(item.loaded * 100));
      item.status.textContent = `Uploading ${item.progress.value}%`;
      this.changed();
    });
    xhr.addEventListener('load', () => this.finished(item, xhr));
    xhr.addEventListener('error', () => this.ended(item, () => this.fail(item, 'The connection failed. Check it and retry.')));
    xhr.addEventListener('abort', () => this.ended(item, () => this.setState(item, 'cancelled', 'Cancelled')));
    this.setState(item, 'uploading', 'Uploading 0%');
    xhr.send(form);
  }

  ended(item, then) {
    item.xhr = null;
    this.running -= 1;
    then();
    this.pump();
  }

  finished(item, xhr) {
    this.ended(item, () => {
      let image;
      try {
        image = readEnvelope(xhr.status, xhr.responseText);
      } catch (error) {
        const message = error.status === 401 ? 'Your session ended: sign in again, then retry.' : error.message;
        this.fail(item, message);
        return;
      }
      item.image = image;
      item.progress.value = 100;
      item.message.textContent = '';
      item.linkInput.value = formatLink(image.url, displayName(image));
      item.linkRow.hidden = false;
      // Before the state changes: the last file's change announces the batch's summary, which must be heard last.
      this.hooks.say(`${item.file.name} uploaded.`);
      this.setState(item, 'done', 'Uploaded');
      this.hooks.uploaded(image);
    });
  }

  fail(item, message) {
    item.progress.value = 0;
    item.message.textContent = message;
    this.setState(item, 'failed', 'Not uploaded');
    announce(`${item.file.name} was not uploaded: ${message}`, { error: true });
  }

  cancel(item) {
    if (item.xhr) item.xhr.abort();
    else if (item.state === 'queued') this.setState(item, 'cancelled', 'Cancelled');
  }

  async retry(item) {
    item.message.textContent = '';
    item.progress.value = 0;
    this.setState(item, 'queued', 'Waiting');
    await this.hooks.refreshLimit();
    this.pump();
  }

  /** Re-write every finished link in the chosen format. */
  reformat() {
    for (const item of this.items) if (item.image) item.linkInput.value = formatLink(item.image.url, displayName(item.image));
  }

  links() {
    return this.items.filter((item) => item.image).map((item) => item.linkInput.value);
  }

  changed() {
    const counts = { queued: 0, uploading: 0, done: 0, failed: 0, cancelled: 0 };
    for (const item of this.items) counts[item.state] += 1;
    const active = this.items.filter((item) => item.state === 'uploading' || item.state === 'queued');
    const parts = [];
    if (active.length) {
      const percent = Math.floor((100 * active.reduce((sum, item) => sum + (item.xhr ? item.loaded : 0), 0)) / active.length);
      parts.push(`Uploading ${active.length}, ${percent}%`);
      const step = Math.floor(percent / 25);
      if (step > this.announcedStep && step < 4) {
        this.announcedStep = step;
        this.hooks.say(`Uploads ${step * 25}% done.`);
      }
      this.busy = true;
    } else if (this.busy) {
      this.busy = false;
      this.hooks.say(`Uploads finished: ${counts.done} uploaded${counts.failed ? `, ${counts.failed} failed` : ''}.`);
    }
    if (counts.done) parts.push(`${counts.done} uploaded`);
    if (counts.failed) parts.push(`${counts.failed} failed`);
    if (counts.cancelled) parts.push(`${counts.cancelled} cancelled`);
    this.hooks.changed(parts.join(' · '), this.items.length);
  }
}
