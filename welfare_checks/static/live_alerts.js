/* Live alerts on every page of the welfare team (welfare_checks/_live_alerts.html).
 *
 * Short polling, not Server-Sent Events: gunicorn's gthread workers have two threads each, and
 * an open event stream would hold one per idle page. Every few seconds the page asks
 * /welfare/alerts/live with the ETag it holds; while nothing changed the answer is a bodyless
 * 304. A change updates the count in the navigation, brings the inbox's banner and list in
 * without a reload, and for alerts this person receives (new ones for the on-duty social
 * workers, escalations for the municipal admins) plays a short sound and raises a browser
 * notification that says only how many reports of which severity: no name, address or answer.
 * Clicking it opens the report and acknowledges the alert (the same service as the banner's
 * button). A 401 means the session ended: the page says so and stops asking.
 */
(function () {
  "use strict";

  var root = document.getElementById("live-alerts");
  if (!root || !window.fetch || !window.JSON) {
    return;
  }
  var EVERY_MS = 3000;
  var AFTER_ERROR_MS = 10000;
  var NAV = "welfare_pages.inbox";
  var seenKey = "welfare-post.alerts.seen." + root.dataset.account;
  var choiceKey = "welfare-post.notifications";
  var count = document.querySelector('[data-nav-count="' + NAV + '"]');
  var pageEtag = count ? count.dataset.version : null; /* the state the page was made from */
  var etag = null;
  var title = document.title;

  function remembered(key) {
    try {
      return JSON.parse(window.localStorage.getItem(key));
    } catch (error) {
      return null;
    }
  }

  function remember(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      /* private mode or full: this tab still works, others may repeat a notification */
    }
  }

  function setFigure(selector, count) {
    document.querySelectorAll(selector).forEach(function (badge) {
      var value = badge.querySelector("[data-value]");
      if (value) {
        value.textContent = String(count);
      }
      badge.hidden = count === 0;
    });
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  /* Korean first, English beside it; counts and severities only. */
  function words(fresh, escalations) {
    var emergencies = fresh.filter(function (alert) { return alert.severity === "emergency"; });
    var urgent = fresh.length - emergencies.length;
    var parts = [];
    if (escalations) {
      parts.push("에스컬레이션된 위기 보고 " + fresh.length + "건 (" +
        plural(fresh.length, "escalated report") + ")");
    } else {
      if (emergencies.length) {
        parts.push("긴급 위기 보고 " + emergencies.length + "건 (" +
          plural(emergencies.length, "emergency report") + ")");
      }
      if (urgent) {
        parts.push("시급 위기 보고 " + urgent + "건 (" + plural(urgent, "urgent report") + ")");
      }
    }
    return parts.join(" · ");
  }

  function openAlert(alert) {
    if (!alert.open_url) {
      window.location.assign(alert.report_url);
      return;
    }
    /* A POST with the page's CSRF token: acknowledged through the service, then the report. */
    var form = document.createElement("form");
    form.method = "post";
    form.action = alert.open_url;
    form.hidden = true;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = root.dataset.csrf;
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }

  function sound() {
    try {
      var played = new Audio(root.dataset.sound).play();
      if (played && played.catch) {
        played.catch(function () { /* no user gesture on this page yet: silent */ });
      }
    } catch (error) {
      /* no audio support */
    }
  }

  function notify(fresh, escalations) {
    sound();
    if (!("Notification" in window) || window.Notification.permission !== "granted") {
      return;
    }
    var first = fresh[0];
    var emergency = fresh.some(function (alert) { return alert.severity === "emergency"; });
    var notice = new window.Notification(words(fresh, escalations), {
      body: first.open_url
        ? "눌러서 보고를 열고 확인하세요. (Click to open the report and acknowledge it.)"
        : "눌러서 보고를 여세요. (Click to open the report.)",
      tag: "welfare-post-alert-" + first.id,
      requireInteraction: emergency
    });
    notice.onclick = function () {
      window.focus();
      notice.close();
      openAlert(first);
    };
  }

  /* Which alerts this person has been told about, shared by their tabs and pages. The first
   * answer in a browser that has no mark yet only sets it: what is open is on the page. */
  function announce(state) {
    var open = state.alerts;
    var newest = open.reduce(function (top, alert) { return Math.max(top, alert.id); }, 0);
    var escalated = open.filter(function (alert) { return alert.escalated; })
      .map(function (alert) { return alert.id; });
    var seen = remembered(seenKey);
    if (!seen || typeof seen.newest !== "number" || !Array.isArray(seen.escalated)) {
      remember(seenKey, { newest: newest, escalated: escalated });
      return;
    }
    var fresh = [];
    var escalations = false;
    if (state.notify.indexOf("new") >= 0) {
      fresh = open.filter(function (alert) { return alert.id > seen.newest; });
    }
    if (state.notify.indexOf("escalated") >= 0) {
      fresh = open.filter(function (alert) {
        return alert.escalated && seen.escalated.indexOf(alert.id) < 0;
      });
      escalations = true;
    }
    var marked = seen.escalated.concat(escalated.filter(function (id) {
      return seen.escalated.indexOf(id) < 0;
    }));
    remember(seenKey, { newest: Math.max(seen.newest, newest), escalated: marked.slice(-200) });
    if (fresh.length) {
      /* Emergencies first, then the oldest: the notification opens that one. */
      fresh.sort(function (a, b) {
        return (a.severity === "emergency" ? 0 : 1) - (b.severity === "emergency" ? 0 : 1) ||
          a.id - b.id;
      });
      notify(fresh, escalations);
    }
  }

  function sameControl(part, old) {
    var link = old.getAttribute("href") || old.getAttribute("formaction") ||
      (old.form && old.form.getAttribute("action"));
    if (!link) {
      return null;
    }
    var found = null;
    part.querySelectorAll(old.tagName).forEach(function (candidate) {
      var other = candidate.getAttribute("href") ||
        (candidate.form && candidate.form.getAttribute("action"));
      if (!found && other === link) {
        found = candidate;
      }
    });
    return found;
  }

  /* The inbox's banner and list, rendered by the server in the page's language. */
  function refreshInbox() {
    var holder = document.querySelector("[data-live-inbox]");
    if (!holder) {
      return;
    }
    var known = 0;
    holder.querySelectorAll("tr[data-report]").forEach(function (row) {
      known = Math.max(known, Number(row.dataset.report));
    });
    fetch(holder.dataset.liveInbox, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" }
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("inbox parts: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var parsed = new window.DOMParser().parseFromString(html, "text/html");
        var active = document.activeElement;
        parsed.querySelectorAll("[data-live-part][id]").forEach(function (part) {
          var current = document.getElementById(part.id);
          if (!current) {
            return;
          }
          var fresh = document.importNode(part, true);
          var focused = current.contains(active) ? sameControl(fresh, active) : null;
          current.replaceWith(fresh);
          if (focused) {
            focused.focus();
          }
        });
        holder.querySelectorAll("tr[data-report]").forEach(function (row) {
          if (Number(row.dataset.report) > known) {
            row.classList.add("is-new");
          }
        });
      })
      .catch(function () { /* the next change tries again */ });
  }

  function show(state, changed) {
    setFigure('[data-nav-count="' + NAV + '"]', state.open);
    setFigure('[data-nav-flag="' + NAV + '"]', state.escalated);
    document.title = state.open ? "(" + state.open + ") " + title : title;
    announce(state);
    if (changed) {
      refreshInbox();
    }
  }

  function signedOut() {
    var notice = root.querySelector("[data-signed-out]");
    var main = document.getElementById("main");
    if (notice) {
      /* Above the page's content, where the pages' own messages appear. */
      if (main) {
        main.insertBefore(notice, main.firstChild);
      }
      notice.hidden = false;
    }
    var ask = root.querySelector("[data-enable-notifications]");
    if (ask) {
      ask.hidden = true;
    }
    root.dataset.state = "signed-out";
  }

  function poll() {
    var headers = { Accept: "application/json" };
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    fetch(root.dataset.poll, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        if (response.status === 401) {
          signedOut();
          return null; /* the session ended: stop asking */
        }
        if (response.status === 304) {
          return EVERY_MS;
        }
        if (!response.ok) {
          return response.status === 403 ? null : AFTER_ERROR_MS;
        }
        var first = etag === null;
        etag = response.headers.get("ETag");
        return response.json().then(function (state) {
          /* The first answer redraws only if something changed since the page was made. */
          show(state, !first || etag !== pageEtag);
          root.dataset.state = "live";
          return EVERY_MS;
        });
      })
      .catch(function () { return AFTER_ERROR_MS; })
      .then(function (wait) {
        if (wait) {
          window.setTimeout(poll, wait);
        }
      });
  }

  /* Ask for the browser's permission once, from a click; the browser keeps the answer. */
  var button = root.querySelector("[data-enable-notifications]");
  if (button && "Notification" in window && window.Notification.permission === "default") {
    button.hidden = false;
    button.addEventListener("click", function () {
      var asked = window.Notification.requestPermission(function (choice) {
        remember(choiceKey, choice);
        button.hidden = true;
      });
      if (asked && asked.then) {
        asked.then(function (choice) {
          remember(choiceKey, choice);
          button.hidden = true;
        });
      }
    });
  }

  poll();
})();
