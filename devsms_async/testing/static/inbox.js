// The sandbox inbox page. Plain DOM, no framework, no build step.
// Live updates: a long poll on /inbox/api/state?after=VERSION (the server answers as soon
// as anything changes). Every text from the sandbox goes in with textContent, never as HTML.
"use strict";

(function () {
  const API = "/inbox/api/";
  const WAIT = 25;
  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const cards = new Map(); // sms_id -> {node, signature}
  const PAGE = 200; // messages asked for at a time ("Show more" asks for PAGE more)
  let version = -1;
  let query = "";
  let statusFilter = "";
  let typeFilter = "";
  let limit = PAGE;
  let controller = null;
  let firstRender = true;
  let lastIds = new Set();

  // -- small DOM helpers ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" ||
               key === "title" || key === "datetime" || key === "id" || key === "scope" ||
               key === "type" || key === "tabindex") node.setAttribute(key, value === true ? "" : String(value));
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function isoTime(text) {
    // "2026-03-09 10:30:00" is Tashkent time (UTC+5, no daylight saving).
    return text ? text.replace(" ", "T") + "+05:00" : null;
  }

  function timeEl(text, label) {
    if (!text) return el("span", {text: "–"});
    return el("time", {datetime: isoTime(text), title: text + " (Tashkent)", text: label || text.slice(11)});
  }

  // -- talking to the server -------------------------------------------------------------

  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  async function act(path, body, method) {
    try {
      const response = await fetch(API + path, {
        method: method || "POST",
        headers: {"content-type": "application/json", "x-devsms-inbox": "1"},
        body: body === undefined ? "{}" : JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        toast(data.error || ("HTTP " + response.status));
        return null;
      }
      return data;
    } catch (error) {
      toast("The sandbox does not answer: " + error.message);
      return null;
    }
  }

  function setConnection(ok, detail) {
    const node = $("connection");
    node.className = "connection " + (ok ? "live" : "down");
    node.textContent = ok ? "Live" : "Disconnected: " + detail + " (retrying)";
  }

  async function poll() {
    for (;;) {
      controller = new AbortController();
      const url = API + "state?after=" + version + "&wait=" + WAIT + "&limit=" + limit +
        "&number=" + encodeURIComponent(query) + "&status=" + encodeURIComponent(statusFilter) +
        "&type=" + encodeURIComponent(typeFilter);
      try {
        const response = await fetch(url, {signal: controller.signal, cache: "no-store"});
        if (!response.ok) throw new Error("HTTP " + response.status);
        const state = await response.json();
        version = state.version;
        render(state);
        setConnection(true);
      } catch (error) {
        if (error.name === "AbortError") continue; // the search changed: ask again now
        setConnection(false, error.message);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  function refetch() {
    version = -1;
    if (controller) controller.abort();
  }

  // -- rendering ----------------------------------------------------------------------

  function render(state) {
    // Money comes as exact text from the server, in one format (277 579 so'm).
    $("balance").textContent = state.balance_text;
    $("sms-price").textContent = state.sms_price_text;
    $("requests").textContent = state.requests;
    $("pending-callbacks").textContent = state.pending_callbacks;
    $("advance-every").textContent = state.advance_every
      ? "every " + state.advance_every + " s" : "only when told";
    $("count").textContent = "(" + countText(state) + ")";
    const filtered = isFiltered(state.filters);
    const empty = $("empty");
    empty.hidden = state.messages.length > 0;
    empty.textContent = filtered && state.total
      ? "No SMS matches " + describeFilters(state.filters) + "."
      : "No SMS yet. Point your code at the sandbox's API and send one.";
    const hidden = state.matched - state.shown;
    $("more").hidden = hidden <= 0;
    $("more-text").textContent = hidden > 0
      ? "Showing the newest " + state.shown + " of " + state.matched + "; " + hidden + " older not shown."
      : "";
    $("load-more").textContent = "Show " + Math.min(PAGE, Math.max(hidden, 0)) + " more";
    renderFaults(state.faults);
    renderMessages(state.messages, state.ucs2_rule);
  }

  function isFiltered(filters) {
    return Boolean(filters.number || filters.status.length || filters.type.length);
  }

  function countText(state) {
    const filtered = isFiltered(state.filters);
    if (state.shown < state.matched) {
      return "showing " + state.shown + " of " + state.matched +
        (filtered ? " that match, " + state.total + " in all" : "");
    }
    return filtered ? state.matched + " of " + state.total + " match" : String(state.total);
  }

  function describeFilters(filters) {
    const parts = [];
    if (filters.status.length) parts.push("status " + filters.status.join(" or "));
    if (filters.type.length) parts.push("type " + filters.type.join(" or "));
    if (filters.number) parts.push("a number matching “" + filters.number + "”");
    return parts.join(", ");
  }

  function renderFaults(faults) {
    const node = $("faults");
    node.replaceChildren(...faults.map((f) => el("li", {
      text: (f.kind === "disconnect" ? "drop the connection" : "HTTP " + f.status) +
        " for " + (f.path || "any endpoint") + (f.after_processing ? ", after processing" : ""),
    })));
    $("disarm").disabled = faults.length === 0;
  }

  function renderMessages(messages, rule) {
    const focused = document.activeElement;
    let refocus = null;
    const wanted = new Set(messages.map((m) => m.sms_id));
    for (const [id, card] of cards) {
      if (!wanted.has(id)) {
        card.node.remove();
        cards.delete(id);
      }
    }
    const fresh = [];
    messages.forEach((message, index) => {
      const signature = JSON.stringify(message);
      let card = cards.get(message.sms_id);
      if (!card || card.signature !== signature) {
        const node = messageCard(message, rule);
        if (card) {
          if (card.node.contains(focused)) {
            refocus = {id: message.sms_id, action: focused.dataset ? focused.dataset.action : null};
          }
          card.node.replaceWith(node);
        } else if (!firstRender && !lastIds.has(message.sms_id)) {
          node.classList.add("fresh");
          fresh.push(message);
        }
        card = {node, signature};
        cards.set(message.sms_id, card);
      }
      const at = list.children[index];
      if (at !== card.node) list.insertBefore(card.node, at || null);
    });
    if (refocus) {
      const node = cards.get(refocus.id).node;
      // The same button if it still can be used; else the card itself (tabindex=-1).
      const target = (refocus.action && node.querySelector('[data-action="' + refocus.action + '"]:not(:disabled)')) ||
        node.querySelector("article");
      target.focus();
    }
    if (fresh.length) {
      $("announce").textContent = fresh.length === 1
        ? "New SMS to " + fresh[0].phone
        : fresh.length + " new SMS";
    }
    lastIds = wanted;
    firstRender = false;
  }

  function messageCard(m, rule) {
    const headingId = "sms-" + m.sms_id + "-heading";
    const article = el("article", {
      class: "message", "aria-labelledby": headingId, tabindex: -1,
      "data-sms-id": m.sms_id, "data-status": m.status,
    });
    article.append(
      el("header", {},
        el("h3", {id: headingId}, "SMS #" + m.sms_id + " to ", el("span", {class: "phone", text: m.phone})),
        el("span", {class: "status status-" + m.status, "data-role": "status", text: m.status})),
      el("p", {class: "meta"},
        timeEl(m.timeline[0] && m.timeline[0].at, m.timeline[0] && m.timeline[0].at),
        " · from ", el("span", {class: "mono", text: m.sender}),
        " · " + m.type,
        m.blocked ? " · blocked by moderation (charged, never sent)" : null),
    );
    if (m.otp) {
      article.append(el("p", {class: "otp", "data-role": "otp"},
        "OTP code", el("strong", {text: m.otp.code}),
        el("span", {text: "template " + m.otp.template + ", " + m.otp.service_name})));
    }
    article.append(bubble(m, rule), encodingLine(m, rule));
    if (m.normalized) {
      article.append(el("p", {class: "trap", "data-role": "trap"},
        "Apostrophe trap: a look-alike of ' forces UCS-2. With normalize_uzbek() this text is " +
        m.normalized.encoding + (m.normalized.parts === m.parts
          ? " (160 characters a part instead of 70)."
          : ", " + m.normalized.parts + " part" + (m.normalized.parts === 1 ? "" : "s") +
            " instead of " + m.parts + ".")));
    }
    article.append(
      el("p", {class: "encoding"}, "Cost ", el("strong", {"data-role": "cost", text: m.cost_text}), " · " + m.country),
      timeline(m),
      callbacks(m),
      actions(m),
    );
    return el("li", {"data-sms-id": m.sms_id}, article);
  }

  function bubble(m, rule) {
    const node = el("p", {class: "bubble", "data-role": "text", "aria-label": "Text as the phone shows it"});
    m.segments.forEach((runs, index) => {
      const part = el("span", {class: "part", title: "part " + (index + 1) + " of " + m.segments.length});
      for (const [text, forcing] of runs) {
        if (forcing) {
          for (const ch of text) {
            const code = "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
            part.append(el("mark", {class: "ucs2", title: code + " forces UCS-2. " + rule, text: ch}));
          }
        } else {
          part.append(document.createTextNode(text));
        }
      }
      node.append(part);
    });
    return node;
  }

  function encodingLine(m, rule) {
    const node = el("p", {class: "encoding", "data-role": "encoding"},
      el("span", {class: m.encoding === "UCS-2" ? "enc-ucs2" : "enc-gsm7", text: m.encoding}),
      " · " + m.parts + " part" + (m.parts === 1 ? "" : "s") +
      " · " + m.units + (m.encoding === "UCS-2" ? " UTF-16 units" : " septets") +
      " (" + m.per_part + " per part)" +
      (m.segments.length > 1 ? " · a dashed line marks where a part begins" : ""));
    if (m.ucs2_marked) {
      node.append(" · ", el("span", {class: "rule", "data-role": "ucs2-rule", title: rule, tabindex: 0,
        text: "forced by"}), " ");
      m.ucs2_characters.forEach((c, i) => {
        if (i) node.append(", ");
        node.append(el("mark", {class: "ucs2", text: c.char}), " " + c.code);
      });
    } else if (m.ucs2_count) {
      // A UCS-2 text (Cyrillic, say): marking every letter would tell nothing.
      node.append(" · ", el("span", {class: "rule", "data-role": "ucs2-rule", title: rule, tabindex: 0,
        text: m.ucs2_count + " of " + m.characters + " characters are outside GSM-7: a UCS-2 text, none marked"}));
    }
    return node;
  }

  function timeline(m) {
    return el("ol", {class: "timeline", "aria-label": "Status timeline"},
      ...m.timeline.map((t) => el("li", {}, t.event + " ", timeEl(t.at))));
  }

  function callbacks(m) {
    const box = el("section", {class: "callbacks", "aria-label": "Delivery reports for SMS #" + m.sms_id});
    if (!m.callback_url) {
      box.append(el("p", {class: "meta", text: "No callback_url: no delivery reports are POSTed."}));
      return box;
    }
    box.append(el("h4", {}, "Delivery reports POSTed to ", el("span", {class: "mono", text: m.callback_url})));
    if (!m.callbacks.length) {
      box.append(el("p", {class: "meta", text: "None yet."}));
      return box;
    }
    const head = el("tr", {}, ...["Reported", "Receiver", "HTTP", "Took", "Error", "At"]
      .map((t) => el("th", {scope: "col", text: t})));
    const rows = m.callbacks.map((c) => el("tr", {"data-role": "callback"},
      el("td", {text: c.status}),
      el("td", {class: "outcome-" + c.outcome, text: c.outcome.replace("_", " ")}),
      el("td", {text: c.status_code === null ? "–" : c.status_code}),
      el("td", {text: c.elapsed_ms === null ? "–" : c.elapsed_ms + " ms"}),
      el("td", {text: c.error || ""}),
      el("td", {}, timeEl(c.at))));
    box.append(el("div", {class: "table-wrap"}, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows))));
    return box;
  }

  function actions(m) {
    const deliver = el("button", {
      type: "button", "data-action": "deliver", "aria-label": "Deliver SMS #" + m.sms_id + " now",
      text: "Deliver now", disabled: m.final,
    });
    const fail = el("button", {
      type: "button", class: "fail", "data-action": "fail", "aria-label": "Fail SMS #" + m.sms_id + " now",
      text: "Fail now", disabled: m.final,
    });
    deliver.addEventListener("click", () => act("messages/" + m.sms_id + "/deliver"));
    fail.addEventListener("click", () => act("messages/" + m.sms_id + "/fail"));
    return el("div", {class: "actions"}, deliver, fail);
  }

  // -- the controls ---------------------------------------------------------------------

  $("advance").addEventListener("click", () => act("advance"));
  $("clear").addEventListener("click", () => act("clear"));
  $("disarm").addEventListener("click", () => act("faults", undefined, "DELETE"));
  $("balance-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("balance-input");
    if (await act("balance", {balance: Number(input.value)})) input.value = "";
  });
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const retry = $("fault-retry").value;
    act("faults", {
      kind: $("fault-kind").value,
      status: Number($("fault-status").value),
      path: $("fault-path").value || null,
      retry_after: retry === "" ? null : Number(retry),
      times: Number($("fault-times").value || 1),
      after_processing: $("fault-after").checked,
    });
  });
  $("fault-kind").addEventListener("change", () => {
    const drop = $("fault-kind").value === "disconnect";
    $("fault-status").disabled = drop;
    $("fault-retry").disabled = drop;
  });
  function applyFilters() {
    query = $("search").value.trim();
    statusFilter = $("filter-status").value;
    typeFilter = $("filter-type").value;
    limit = PAGE; // new filters: start again from the newest
    refetch();
  }
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applyFilters, 150);
  });
  $("filter-status").addEventListener("change", applyFilters);
  $("filter-type").addEventListener("change", applyFilters);
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  $("load-more").addEventListener("click", () => {
    limit += PAGE;
    refetch();
  });

  // Wide windows show the fault form; narrow ones keep it folded under its heading.
  $("fault-panel").open = window.matchMedia("(min-width: 960px)").matches;
  poll();
})();
