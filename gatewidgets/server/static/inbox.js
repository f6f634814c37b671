// The approvers' inbox: lists the decisions waiting for the logged-in user, renders their forms from the JSON
// schema stored with each signal, sends answers through the signals API and follows the store's events.
// HTML is only ever inserted from the server's sanitised fields (evidence_html, description_html); every other
// string is written as text.
"use strict";

(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const BASE = meta("gw-base-url");
  const XSRF = meta("gw-xsrf");
  const INBOX = `${BASE}gatewidgets/inbox`;
  const PAGE = 50;
  const state = { items: new Map(), filters: {}, single: null, refetching: new Map() };

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const enc = (part) => encodeURIComponent(part);
  const keyPath = (item) => [item.execution.project, item.execution.domain, item.execution.name, item.signal_id]
    .map(enc).join("/");
  let uid = 0;
  const nextId = (prefix) => `${prefix}-${++uid}`;

  async function api(path, { method = "GET", body, raw } = {}) {
    const headers = { "X-XSRFToken": XSRF };
    let payload = body;
    if (body !== undefined && !raw) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(`${BASE}${path}`, { method, body: payload, headers, credentials: "same-origin" });
    let data = null;
    try {
      data = await response.json();
    } catch (_err) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.message) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function toast(message) {
    const box = document.getElementById("gw-toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function when(iso) {
    if (!iso) return "";
    const at = new Date(iso);
    return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function ago(iso) {
    if (!iso) return "";
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    const future = seconds < 0;
    let n = Math.abs(seconds);
    let unit = "s";
    for (const [size, name] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (n >= size) { n = Math.floor(n / size); unit = name; break; }
    }
    return future ? `in ${n} ${unit}` : `${n} ${unit} ago`;
  }

  // ------------------------------------------------------------------ forms from a JSON schema
  function resolve(schema, defs) {
    let s = schema || {};
    for (let guard = 0; guard < 32; guard++) {
      if (s.$ref) {
        const target = defs[s.$ref.split("/").pop()] || {};
        const { $ref, ...rest } = s;
        s = { ...target, ...rest };
      } else if (s.allOf && s.allOf.length === 1) {
        const { allOf, ...rest } = s;
        s = { ...allOf[0], ...rest };
      } else break;
    }
    return s;
  }

  function invalid(message) {
    const error = new Error(message);
    error.field = true;
    return error;
  }

  // Each builder returns {node, read: async () => JSON value (throws a field error), set(value), focus}.
  function buildField(schema, defs, label, depth = 0) {
    const s = resolve(schema, defs);
    const options = (s.anyOf || s.oneOf || []).map((o) => resolve(o, defs));
    if (options.length && options.some((o) => o.type === "null")) {
      const rest = options.filter((o) => o.type !== "null");
      if (rest.length === 1) return optionalField(buildField(rest[0], defs, label, depth), label);
    }
    if (s["x-gatewidgets"] === "file") return fileField(label, false);
    if ("enum" in s || "const" in s) return choiceField(s, label);
    if (s.type === "boolean") return choiceField({ enum: [true, false], "x-enum-names": ["True", "False"] }, label);
    if (s.type === "integer" || s.type === "number") return numberField(s.type === "integer", label);
    if (s.type === "string") return stringField(s.format, label);
    if (s.type === "array") {
      const items = resolve(s.items || {}, defs);
      if (items["x-gatewidgets"] === "file") return fileField(label, true);
      return listField(items, defs, label, depth);
    }
    if (s.type === "object" && s.properties && depth < 4) return structureField(s, defs, label, depth);
    return jsonField(label);
  }

  function labelled(control, label) {
    control.id = control.id || nextId("gw-field");
    return el("label", { className: "gw-label", for: control.id, text: label });
  }

  function simple(control, label, read, set) {
    const node = el("div", { className: "gw-field" }, labelled(control, label), control);
    return { node, read, set, control, focus: () => control.focus() };
  }

  function numberField(integer, label) {
    const input = el("input", { type: "text", inputmode: integer ? "numeric" : "decimal", autocomplete: "off",
      placeholder: integer ? "a whole number" : "a number", className: "gw-input" });
    return simple(input, label, async () => {
      const text = input.value.trim().replace(/_/g, "");
      if (!text) throw invalid(`${label}: required, type a number`);
      const pattern = integer ? /^[-+]?\d+$/ : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
      if (!pattern.test(text)) throw invalid(`${label}: ${JSON.stringify(input.value)} is not ${integer ? "a whole number" : "a number"}`);
      return Number(text);
    }, (v) => { input.value = v === null || v === undefined ? "" : String(v); });
  }

  function stringField(format, label) {
    const types = { date: "date", "date-time": "datetime-local" };
    const input = el("input", { type: types[format] || "text", autocomplete: "off", className: "gw-input",
      placeholder: format === "duration" ? "e.g. PT1H30M" : null });
    return simple(input, label, async () => {
      if (format === "date" || format === "date-time" || format === "duration") {
        if (!input.value) throw invalid(`${label}: required`);
      }
      if (format === "date-time") return new Date(input.value).toISOString();
      return input.value;
    }, (v) => {
      if (format === "date-time" && v) input.value = String(v).slice(0, 16);
      else input.value = v === null || v === undefined ? "" : String(v);
    });
  }

  function choiceField(s, label) {
    const values = "enum" in s ? s.enum : [s.const];
    const names = s["x-enum-names"] || values.map(String);
    const select = el("select", { className: "gw-input" }, el("option", { value: "", text: "choose…" }),
      values.map((v, i) => el("option", { value: String(i), text: names[i] })));
    return simple(select, label, async () => {
      if (select.value === "") throw invalid(`${label}: choose one of ${names.join(", ")}`);
      return values[Number(select.value)];
    }, (v) => {
      const i = values.findIndex((x) => JSON.stringify(x) === JSON.stringify(v));
      select.value = i < 0 ? "" : String(i);
    });
  }

  function jsonField(label) {
    const area = el("textarea", { className: "gw-input gw-json", rows: "4", placeholder: "JSON" });
    return simple(area, label, async () => {
      if (!area.value.trim()) throw invalid(`${label}: required, write the value as JSON`);
      try {
        return JSON.parse(area.value);
      } catch (_err) {
        throw invalid(`${label}: not valid JSON`);
      }
    }, (v) => { area.value = JSON.stringify(v, null, 1); });
  }

  function fileField(label, multiple) {
    const input = el("input", { type: "file", className: "gw-input gw-file", multiple });
    return simple(input, label, async () => {
      if (!input.files.length) throw invalid(`${label}: choose a file`);
      const refs = [];
      for (const file of input.files) {  // streamed: the browser sends the file as the request body
        const stored = await api(`gatewidgets/api/files/${enc(file.name)}`, { method: "PUT", body: file, raw: true });
        refs.push({ upload: stored.upload });
      }
      return multiple ? refs : refs[0];
    }, () => {});
  }

  function optionalField(inner, label) {
    const none = el("input", { type: "checkbox", id: nextId("gw-none") });
    const toggle = () => {
      for (const control of inner.node.querySelectorAll("input, select, textarea, button")) control.disabled = none.checked;
    };
    none.addEventListener("change", toggle);
    const node = el("div", { className: "gw-optional" }, inner.node,
      el("label", { className: "gw-none", for: none.id }, none, ` no ${label}`));
    return { node, focus: inner.focus, optional: true,
      read: async () => (none.checked ? null : inner.read()),
      set: (v) => { none.checked = v === null; toggle(); if (v !== null && v !== undefined) inner.set(v); } };
  }

  function structureField(s, defs, label, depth) {
    const required = new Set(s.required || []);
    const order = (s["x-order"] || Object.keys(s.properties)).filter((name) => name in s.properties);
    const fields = new Map();
    const box = el("fieldset", { className: "gw-structure" }, el("legend", { text: label }));
    for (const name of order) {
      const sub = resolve(s.properties[name], defs);
      const field = buildField(sub, defs, required.has(name) ? name : `${name} (optional)`, depth + 1);
      if (sub.default !== undefined) field.set(sub.default);
      fields.set(name, { field, required: required.has(name) });
      box.append(field.node);
    }
    return {
      node: box,
      focus: () => { const first = fields.values().next().value; if (first) first.field.focus(); },
      read: async () => {
        const out = {};
        for (const [name, { field, required: needed }] of fields) {
          try {
            out[name] = await field.read();
          } catch (error) {
            if (error.field && !needed && isEmpty(field)) continue;  // an optional field left empty: its default
            throw error;
          }
        }
        return out;
      },
      set: (v) => {
        if (!v || typeof v !== "object") return;
        for (const [name, { field }] of fields) if (name in v) field.set(v[name]);
      },
    };
  }

  function isEmpty(field) {
    return [...field.node.querySelectorAll("input, select, textarea")]
      .every((c) => (c.type === "checkbox" ? !c.checked : c.type === "file" ? !c.files.length : !c.value));
  }

  function listField(items, defs, label, depth) {
    const rows = [];
    const list = el("ol", { className: "gw-items" });
    const add = el("button", { type: "button", className: "gw-button gw-small", text: `Add ${label} item` });
    const box = el("fieldset", { className: "gw-list-field" }, el("legend", { text: `${label} (a list)` }), list, add);
    const addRow = (value) => {
      const field = buildField(items, defs, `${label} item ${rows.length + 1}`, depth + 1);
      const row = el("li", { className: "gw-item-row" }, field.node);
      const entry = { field, row };
      const remove = el("button", { type: "button", className: "gw-button gw-small", text: "Remove",
        "aria-label": `Remove ${label} item`,
        onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); add.focus(); } });
      row.append(remove);
      rows.push(entry);
      list.append(row);
      if (value !== undefined) field.set(value);
      return field;
    };
    add.addEventListener("click", () => addRow().focus());
    return {
      node: box, focus: () => add.focus(),
      read: async () => { const out = []; for (const { field } of rows) out.push(await field.read()); return out; },
      set: (v) => { for (const { row } of rows.splice(0)) row.remove(); for (const x of v || []) addRow(x); },
    };
  }

  // ------------------------------------------------------------------ one decision
  function renderItem(item) {
    const open = item.state === "PENDING" || item.state === "UPCOMING";
    const titleId = nextId("gw-title");
    const card = el("article", { className: `gw-card gw-kind-${item.kind} gw-state-${item.state.toLowerCase()}`,
      "aria-labelledby": titleId });
    const link = el("a", { href: `${INBOX}/${keyPath(item)}`, text: item.signal_id, className: "gw-link" });
    card.append(el("header", { className: "gw-card-head" },
      el("h3", { id: titleId, className: "gw-title" }, link),
      el("span", { className: `gw-badge gw-badge-${item.state.toLowerCase()}`, text: item.state.replace("_", " ").toLowerCase() }),
      el("span", { className: "gw-type", text: `${item.kind} · ${item.header_type}` })));
    const facts = el("dl", { className: "gw-facts" });
    const fact = (name, value, extra) => {
      if (!value) return;
      facts.append(el("div", {}, el("dt", { text: name }), el("dd", { text: value, title: extra || null })));
    };
    fact("Execution", `${item.execution.name} (${item.execution.project}/${item.execution.domain})`);
    fact("Workflow", item.workflow);
    fact("Waiting since", item.waiting_since && ago(item.waiting_since), when(item.waiting_since));
    fact("Deadline", item.deadline ? `${when(item.deadline)} (${ago(item.deadline)})` : open ? "none" : "");
    fact("Approvals", item.status.standing);
    fact("Launched by", item.status.launched_by && item.status.launched_by.user);
    card.append(facts);
    if (item.description_html) {
      const description = el("div", { className: "gw-description" });
      description.innerHTML = item.description_html;  // rendered from Markdown and sanitised by the server
      card.append(description);
    }
    if (item.evidence_html) {
      const evidence = el("div", { className: "gw-evidence-box", "aria-label": "Evidence" });
      evidence.innerHTML = item.evidence_html;  // sanitised when captured and again by the server
      card.append(evidence);
    }
    if (item.status.approvals.length) {
      card.append(el("ul", { className: "gw-approvals", "aria-label": "Approvals so far" },
        item.status.approvals.map((a) => el("li", { text: `${a.user} approved ${when(a.at)} via ${a.via}${a.comment ? ` — “${a.comment}”` : ""}` }))));
    }
    if (!open) card.append(decidedNote(item));
    else if (item.answers.length) card.append(answerForm(item));
    else if (item.status.why_not) {
      card.append(el("p", { className: "gw-why", role: "note", text: `You cannot answer this decision: ${item.status.why_not}.` }));
    }
    if (item.timeline && item.timeline.length) card.append(timeline(item.timeline));
    return card;
  }

  function decidedNote(item) {
    const who = item.set_by ? `by ${item.set_by}` : item.via === "timeout" ? "by its deadline" : "";
    const parts = [`${item.value_text || item.state.toLowerCase()} ${who}`.trim(), item.set_at ? `on ${when(item.set_at)}` : "",
      item.via ? `via ${item.via}` : ""].filter(Boolean);
    return el("div", { className: "gw-decided" },
      el("p", { className: "gw-decided-line", text: parts.join(" ") }),
      item.comment ? el("blockquote", { className: "gw-comment", text: item.comment }) : null);
  }

  function timeline(events) {
    return el("details", { className: "gw-timeline" }, el("summary", { text: "History" }),
      el("ol", {}, events.map((e) => el("li", { text: [when(e.at), e.event, e.set_by ? `by ${e.set_by}` : "",
        e.source ? `(${e.source})` : "", e.via ? `via ${e.via}` : "", e.comment ? `“${e.comment}”` : "",
        e.reason ? `— ${e.reason}` : ""].filter(Boolean).join(" ") }))));
  }

  function answerForm(item) {
    const form = el("form", { className: "gw-answer", novalidate: true });
    const error = el("p", { className: "gw-error", role: "alert" });
    const decision = item.answers.some((a) => a.action === "approve" || a.action === "reject");
    let field = null;
    const withField = item.answers.find((a) => a.field);
    if (withField) {
      const f = withField.field;
      const s = resolve(f.schema, f.schema.$defs || {});
      const title = f.files ? "File" : s.title || "Value";
      field = buildField(f.schema, f.schema.$defs || {}, decision ? "Approved value" : title);
      if ("default" in f) field.set(f.default);
      else if (s.default !== undefined) field.set(s.default);
      form.append(field.node);
    }
    let comment = null;
    if (item.answers.some((a) => a.comment)) {
      comment = el("textarea", { className: "gw-input gw-comment-input", rows: "2", maxlength: "4000",
        placeholder: "why (optional; shown in the history)" });
      form.append(el("div", { className: "gw-field" }, labelled(comment, "Comment"), comment));
    }
    const buttons = el("div", { className: "gw-buttons" });
    for (const answer of item.answers) {
      const button = el("button", { type: "button", className: `gw-button gw-${answer.style}`, text: answer.label });
      button.addEventListener("click", () => send(item, answer, field, comment, form, error));
      buttons.append(button);
    }
    form.addEventListener("submit", (event) => { event.preventDefault(); });
    form.append(buttons, error);
    return form;
  }

  async function send(item, answer, field, comment, form, error) {
    error.textContent = "";
    const controls = [...form.querySelectorAll("button, input, select, textarea")];
    controls.forEach((c) => { c.dataset.wasDisabled = c.disabled ? "1" : ""; c.disabled = true; });
    try {
      const path = keyPath(item);
      const reason = comment && comment.value.trim() ? comment.value.trim() : undefined;
      if (answer.action === "approve" || answer.action === "reject") {
        const body = { evidence_hash: item.evidence_hash || undefined, comment: reason };
        if (answer.action === "approve" && field) body.value = await field.read();
        await api(`gatewidgets/api/signals/${path}/${answer.action}`, { method: "POST", body });
      } else if (answer.action === "end") {
        await api(`gatewidgets/api/signals/${path}`, { method: "POST", body: { text: "" } });
      } else {
        const value = field ? await field.read() : answer.value;
        await api(`gatewidgets/api/signals/${path}`, { method: "POST", body: { value } });
      }
      toast(`${answer.label}: ${item.signal_id} of ${item.execution.name} sent.`);
      await refresh(item.key);
    } catch (err) {
      error.textContent = err.message;
      controls.forEach((c) => { c.disabled = c.dataset.wasDisabled === "1"; });
      if (err.status === 403 || err.status === 409) await refresh(item.key);
    }
  }

  // ------------------------------------------------------------------ the lists
  // A card re-rendered while someone fills it in keeps what was typed, chosen and focused (same form shape only).
  function carryOver(old, fresh) {
    if (!old) return fresh;
    const before = [...old.querySelectorAll("input, select, textarea")];
    const after = [...fresh.querySelectorAll("input, select, textarea")];
    if (before.length !== after.length) return fresh;
    before.forEach((control, i) => {
      const next = after[i];
      if (control.type === "file") next.files = control.files;
      else if (control.type === "checkbox") next.checked = control.checked;
      else next.value = control.value;
    });
    const focused = before.indexOf(document.activeElement);
    if (focused >= 0) requestAnimationFrame(() => after[focused].focus());
    return fresh;
  }

  function entry(item) {
    return el("li", { className: "gw-entry", "data-key": item.key }, renderItem(item));
  }

  function placeItem(item) {
    const pending = item.state === "PENDING" && item.status.may_answer && !item.ends_by_itself;
    if (state.single) {
      const body = document.getElementById("gw-single-body");
      body.replaceChildren(carryOver(body.firstElementChild, renderItem(item)));
      state.single = item;
      return;
    }
    const old = document.querySelector(`#gw-list [data-key="${CSS.escape(item.key)}"]`);
    const hadFocus = old && old.contains(document.activeElement);
    if (pending) {
      const fresh = entry(item);
      if (old) old.replaceWith(carryOver(old, fresh));
      else document.getElementById("gw-list").prepend(fresh);
      state.items.set(item.key, item);
    } else {
      if (old) old.remove();
      state.items.delete(item.key);
      if (item.state !== "PENDING" && item.state !== "UPCOMING") {
        const decided = document.getElementById("gw-decided-list");
        const shown = decided.querySelector(`[data-key="${CSS.escape(item.key)}"]`);
        if (shown) shown.remove();
        decided.prepend(entry(item));
        while (decided.children.length > 20) decided.lastElementChild.remove();
      }
    }
    if (hadFocus && !pending) {  // the card left the list: focus moves to where it went
      const target = document.querySelector(`[data-key="${CSS.escape(item.key)}"] a`) || document.getElementById("gw-main");
      target.focus();
    }
    counts();
  }

  function counts() {
    const n = document.getElementById("gw-list").children.length;
    document.getElementById("gw-count").textContent = `(${n}${document.getElementById("gw-more").hidden ? "" : "+"})`;
    document.getElementById("gw-empty").hidden = n > 0;
  }

  async function refresh(key) {
    if (state.refetching.has(key)) return state.refetching.get(key);
    const job = (async () => {
      try {
        const [p, d, e, s] = key.split("/");
        const item = await api(`gatewidgets/inbox/api/items/${[p, d, e, s].map(enc).join("/")}`);
        if (!state.single && !matches(item)) return;
        placeItem(item);
      } catch (err) {
        if (err.status !== 404) toast(`Could not refresh ${key}: ${err.message}`);
      } finally {
        state.refetching.delete(key);
      }
    })();
    state.refetching.set(key, job);
    return job;
  }

  function matches(item) {
    const f = state.filters;
    return (f.project === "*" || item.execution.project === f.project)
      && (f.domain === "*" || item.execution.domain === f.domain)
      && (!f.workflow || item.workflow === f.workflow);
  }

  async function loadPage(reset) {
    const f = state.filters;
    // the next page starts after the decisions shown now (some may have been decided, others added, meanwhile)
    const shown = document.getElementById("gw-list").children.length;
    const params = new URLSearchParams({ offset: String(reset ? 0 : shown), limit: String(PAGE) });
    for (const name of ["project", "domain", "workflow"]) if (f[name]) params.set(name, f[name]);
    const data = await api(`gatewidgets/inbox/api/items?${params}`);
    const list = document.getElementById("gw-list");
    if (reset) {
      list.replaceChildren();
      state.items.clear();
      f.project = data.project;
      f.domain = data.domain;
      document.getElementById("gw-project").value = data.project;
      document.getElementById("gw-domain").value = data.domain;
      document.getElementById("gw-me").textContent = data.me.user;
      const select = document.getElementById("gw-workflow");
      select.replaceChildren(el("option", { value: "", text: "all workflows" }),
        data.workflows.map((w) => el("option", { value: w, text: w })));
      select.value = data.workflows.includes(f.workflow) ? f.workflow : "";
      document.getElementById("gw-decided-list").replaceChildren(...data.decided.map(entry));
    }
    const fragment = document.createDocumentFragment();
    for (const item of data.items) {
      if (state.items.has(item.key)) continue;
      state.items.set(item.key, item);
      fragment.append(entry(item));
    }
    list.append(fragment);
    document.getElementById("gw-more").hidden = !data.more;
    counts();
    if (reset) requestAnimationFrame(() => performance.mark("gw-items-shown"));  // the first page is on screen
  }

  async function loadSingle(parts) {
    document.getElementById("gw-lists").hidden = true;
    const section = document.getElementById("gw-single");
    section.hidden = false;
    state.single = { key: parts.join("/") };
    try {
      const item = await api(`gatewidgets/inbox/api/items/${parts.map(enc).join("/")}`);
      state.single = item;
      document.getElementById("gw-me").textContent = item.me || "";
      document.getElementById("gw-single-title").textContent = `${item.signal_id} — ${item.execution.name}`;
      document.getElementById("gw-single-body").replaceChildren(renderItem(item));
    } catch (err) {
      document.getElementById("gw-single-body").replaceChildren(el("p", { className: "gw-error", text: err.message }));
    }
  }

  // ------------------------------------------------------------------ live updates
  function follow() {
    const live = document.getElementById("gw-live");
    let opened = false;
    let polling = null;
    // EventSource sends no headers: the XSRF token goes in the URL (JupyterHub checks it on cookie-authenticated GETs)
    const source = new EventSource(`${INBOX}/api/events?_xsrf=${enc(XSRF)}`);
    source.onopen = () => {
      live.textContent = "live";
      live.dataset.state = "live";
      if (opened) resync();  // reconnected: what changed meanwhile is read again
      opened = true;
    };
    source.onmessage = (event) => {
      const changes = JSON.parse(event.data);
      if (!state.single && changes.filter((c) => c.event === "reached").length > 20) {
        resync();  // many gates reached at once (a large launch): one page read, not one read per gate
        return;
      }
      for (const change of changes) {
        const key = [change.project, change.domain, change.execution, change.signal].join("/");
        if (state.single) {
          if (key === state.single.key) refresh(key);
        } else if ((state.filters.project === "*" || change.project === state.filters.project)
                   && (state.filters.domain === "*" || change.domain === state.filters.domain)
                   && (change.event === "reached" || document.querySelector(`[data-key="${CSS.escape(key)}"]`))) {
          refresh(key);
        }
      }
    };
    source.addEventListener("reload", () => { resync(); });
    source.onerror = () => {
      live.textContent = "reconnecting…";
      live.dataset.state = "off";
      if (source.readyState === EventSource.CLOSED && !polling) {  // refused (too many streams): poll instead
        live.textContent = "updates every 30 s";
        polling = setInterval(() => { resync(); }, 30000);
      }
    };
  }

  // After a reconnection, a lagging stream or a poll: read the first pages again and merge them in, keeping the
  // cards' place and what is typed in them; a shown card no longer among them is read on its own.
  async function resync() {
    if (state.single) return refresh(state.single.key);
    const list = document.getElementById("gw-list");
    const f = state.filters;
    const params = new URLSearchParams({ offset: "0", limit: String(Math.min(Math.max(list.children.length, PAGE), 200)) });
    for (const name of ["project", "domain", "workflow"]) if (f[name]) params.set(name, f[name]);
    let data;
    try {
      data = await api(`gatewidgets/inbox/api/items?${params}`);
    } catch (err) {
      toast(err.message);
      return undefined;
    }
    const fresh = new Set(data.items.map((item) => item.key));
    let after = null;  // the node the next item goes after, in the server's order (newest first)
    for (const item of data.items) {
      const old = list.querySelector(`[data-key="${CSS.escape(item.key)}"]`);
      const node = old ? carryOver(old, entry(item)) : entry(item);
      if (old) old.replaceWith(node);
      else if (after) after.after(node);
      else list.prepend(node);
      state.items.set(item.key, item);
      after = node;
    }
    for (const node of [...list.children]) if (!fresh.has(node.dataset.key)) refresh(node.dataset.key);
    if (data.more) document.getElementById("gw-more").hidden = false;
    counts();
    return undefined;
  }

  // ------------------------------------------------------------------ start
  function start() {
    const rest = location.pathname.slice(INBOX.length).split("/").filter(Boolean);
    const url = new URLSearchParams(location.search);
    if (rest.length === 4) {
      loadSingle(rest.map(decodeURIComponent));
    } else {
      state.filters = { project: url.get("project") || "", domain: url.get("domain") || "", workflow: url.get("workflow") || "" };
      loadPage(true).catch((err) => toast(err.message));
      document.getElementById("gw-more").addEventListener("click", () => loadPage(false).catch((err) => toast(err.message)));
      document.getElementById("gw-filters").addEventListener("submit", (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        state.filters = { project: form.get("project").trim(), domain: form.get("domain").trim(), workflow: form.get("workflow") };
        const query = new URLSearchParams(Object.entries(state.filters).filter(([, v]) => v));
        history.replaceState(null, "", `${INBOX}${query.toString() ? `?${query}` : ""}`);
        loadPage(true).catch((err) => toast(err.message));
      });
    }
    follow();
  }

  start();
})();
