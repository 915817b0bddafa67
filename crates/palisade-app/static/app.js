// Drop's own script: progressive enhancements only; every page works without it.

// Signed-in pages are sent with Cache-Control: no-store, yet Chromium may keep them in its
// back/forward cache and show one again after the user signed out. Such a page is reloaded
// instead, so the server decides what Back shows (the sign-in page, once signed out).
window.addEventListener('pageshow', (event) => {
  if (event.persisted && document.body.hasAttribute('data-private')) {
    window.location.reload();
  }
});
