// Palisade captcha: solves the page's proof-of-work challenge in a Web Worker and fills the
// hidden `captcha` field. No inline script or style, no eval: it runs under a strict CSP.
//
// The page provides the challenge JSON in a `data-captcha-challenge` attribute, or in
// `<script type="application/json" id="captcha-challenge">`. Optional: `data-captcha-worker`
// (on that element or on this script's tag) gives the worker's URL; an element with
// `data-captcha-status` receives the progress text and a `data-captcha-state` of
// `working`, `verified` or `failed` for styling.
(function () {
  'use strict';

  const thisScript = document.currentScript;

  function findChallenge() {
    const holder = document.querySelector('[data-captcha-challenge]');
    if (holder) {
      return { element: holder, json: holder.getAttribute('data-captcha-challenge') };
    }
    const script = document.getElementById('captcha-challenge');
    if (script && script.getAttribute('type') === 'application/json') {
      return { element: script, json: script.textContent };
    }
    return null;
  }

  function workerUrl(element) {
    const fromPage = element.getAttribute('data-captcha-worker')
      || (thisScript && thisScript.getAttribute('data-captcha-worker'));
    if (fromPage) {
      return fromPage;
    }
    const base = (thisScript && thisScript.src) || document.baseURI;
    return new URL('captcha-worker.js', base).href;
  }

  function submitButtons(form) {
    if (!form) {
      return [];
    }
    return Array.from(form.querySelectorAll('button, input[type="submit"]')).filter(
      (b) => b.tagName === 'INPUT' || (b.getAttribute('type') || 'submit') === 'submit'
    );
  }

  function solveInPage(challenge) {
    // For browsers without workers: the same search, on the main thread.
    const encoder = new TextEncoder();
    async function search() {
      for (let n = 0; n <= challenge.maxnumber; n++) {
        const digest = await crypto.subtle.digest('SHA-256', encoder.encode(challenge.salt + n));
        const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
        if (hex === challenge.challenge) {
          return n;
        }
      }
      return null;
    }
    return search().then((number) => ({ number }));
  }

  function solveInWorkers(challenge, url) {
    // Several workers share the search: worker i tries i, i + n, i + 2n, ...
    const count = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
    return new Promise((resolve, reject) => {
      const workers = [];
      let pending = count;
      function stopAll() {
        workers.forEach((w) => w.terminate());
      }
      function fail(err) {
        stopAll();
        reject(err);
      }
      for (let i = 0; i < count; i++) {
        const worker = new Worker(url);
        workers.push(worker);
        worker.addEventListener('message', (event) => {
          const data = event.data || {};
          if (data.error) {
            fail(new Error(data.error));
          } else if (data.number !== null && data.number !== undefined) {
            stopAll();
            resolve(data);
          } else {
            pending -= 1;
            if (pending === 0) {
              fail(new Error('no solution'));
            }
          }
        });
        worker.addEventListener('error', (event) => {
          fail(new Error(event.message || 'worker failed'));
        });
        worker.postMessage({
          algorithm: challenge.algorithm,
          challenge: challenge.challenge,
          salt: challenge.salt,
          maxnumber: challenge.maxnumber,
          start: i,
          step: count,
        });
      }
    });
  }

  function start() {
    const found = findChallenge();
    if (!found) {
      return;
    }
    let challenge;
    try {
      challenge = JSON.parse(found.json);
    } catch (err) {
      return;
    }

    const form = found.element.closest('form')
      || (document.querySelector('input[name="captcha"]') || {}).form
      || null;
    const scope = form || document;
    const input = scope.querySelector('input[name="captcha"]');
    const status = scope.querySelector('[data-captcha-status]');
    const buttons = submitButtons(form);
    let solved = false;

    function show(state, text) {
      if (status) {
        status.setAttribute('data-captcha-state', state);
        status.textContent = text;
      }
    }

    buttons.forEach((b) => { b.disabled = true; });
    show('working', 'Checking that you are not a robot\u2026');
    if (form) {
      form.addEventListener('submit', (event) => {
        if (!solved) {
          event.preventDefault();
          show('working', 'Still checking\u2026 the form can be sent in a moment.');
        }
      });
    }

    const solving = typeof Worker === 'function'
      ? solveInWorkers(challenge, workerUrl(found.element)).catch(() => solveInPage(challenge))
      : solveInPage(challenge);

    solving.then((result) => {
      if (!result || result.number === null || result.number === undefined) {
        throw new Error('no solution');
      }
      const payload = {
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number: result.number,
        salt: challenge.salt,
        signature: challenge.signature,
        took: result.took,
      };
      if (input) {
        input.value = btoa(JSON.stringify(payload));
      }
      solved = true;
      buttons.forEach((b) => { b.disabled = false; });
      show('verified', 'Verified');
    }).catch(() => {
      show('failed', 'The automatic check failed. Reload the page to try again.');
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
