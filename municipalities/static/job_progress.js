/* A job's progress bar (an import's page, a mailing's letters): follow it, then show the result.
 *
 * Every second the page asks the progress URL in #job-progress's data-url (the page's own
 * session, JSON {label, count, done, total, finished}) and moves the bar: the phase in words,
 * done of how many. Without a total (a workbook still being read) the bar has no value, which
 * browsers draw as "busy". Once the job has finished the page reloads and the server renders
 * the result: an import's row report or refusal, a mailing's letters to download. A 401 means the
 * session ended: the page says so and stops asking. Without JavaScript the page's own
 * "새로 고침" link does the same by hand.
 */
(function () {
  "use strict";

  var holder = document.getElementById("job-progress");
  if (!holder || !window.fetch) {
    return;
  }
  var EVERY_MS = 1000;
  var AFTER_ERROR_MS = 5000;
  var bar = document.getElementById("job-bar");
  var label = document.getElementById("job-label");
  var count = document.getElementById("job-count");

  function show(state) {
    label.textContent = state.label;
    count.textContent = state.count;
    if (state.total) {
      bar.max = state.total;
      bar.value = state.done;
    } else {
      bar.removeAttribute("value");
    }
  }

  function signedOut() {
    var notice = document.createElement("p");
    notice.className = "error";
    notice.setAttribute("role", "alert");
    notice.textContent =
      "로그아웃되었습니다. 다시 로그인하면 결과를 볼 수 있습니다. " +
      "(You have been signed out; sign in again to see the result.)";
    holder.appendChild(notice);
  }

  function poll() {
    fetch(holder.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          signedOut();
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        if (state === null) {
          return;
        }
        if (state.finished) {
          window.location.reload();
          return;
        }
        show(state);
        window.setTimeout(poll, EVERY_MS);
      })
      .catch(function () { window.setTimeout(poll, AFTER_ERROR_MS); });
  }

  window.setTimeout(poll, EVERY_MS);
})();
