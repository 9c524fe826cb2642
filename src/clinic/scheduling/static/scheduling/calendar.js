/* The calendar page: EventCalendar (npm @event-calendar/build, served from node_modules) fed by
 * GET /api/v1/appointments; booking, moving, resizing and status changes go through the same API
 * (and so the same conflict checks) as every other client.
 *
 * Time zones: the widget is given *wall-clock* strings of the clinic's IANA zone (floating
 * times), so it shows 09:00 as 09:00 whatever the browser's zone. Its own zone is the clinic
 * zone's current UTC offset ('+01:00'): that only places the "now" line (floating events do not
 * move), and in that mode the widget hands back Dates whose *local* reading is the wall time.
 * Wall times become instants (with their offset) only when talking to the API, via Intl —
 * DST-correct.
 * The grid's zone is the chosen location's (else the organisation's); times in messages and
 * dialogs are in the zone of the appointment's own location (or of the location chosen in the
 * booking form), with the zone named when it is not the grid's.
 */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("calendar-config").textContent);
  const S = cfg.strings;
  const el = (id) => document.getElementById(id);
  const csrf = (() => {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (e) { return ""; }
  })();
  let zone = cfg.timeZone;

  // --- time zone arithmetic ------------------------------------------------------------------
  const fmtCache = {};
  function fields(date, tz) {
    const f = fmtCache[tz] || (fmtCache[tz] = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
    const out = {};
    for (const p of f.formatToParts(date)) if (p.type !== "literal") out[p.type] = Number(p.value);
    return out;
  }
  function offsetMinutes(date, tz) {
    const p = fields(date, tz);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
    return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  }
  const pad = (n) => String(n).padStart(2, "0");
  function wallOf(date, tz) {
    const p = fields(date, tz);
    return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour % 24)}:${pad(p.minute)}:${pad(p.second)}`;
  }
  function instantOf(wall, tz) {
    const [d, t] = wall.split("T");
    const [y, m, dd] = d.split("-").map(Number);
    const [hh, mm, ss] = (t || "00:00").split(":").map(Number);
    const guess = Date.UTC(y, m - 1, dd, hh, mm, ss || 0);
    const first = offsetMinutes(new Date(guess), tz);
    let instant = guess - first * 60000;
    const second = offsetMinutes(new Date(instant), tz);
    if (second !== first) instant = guess - second * 60000;
    return new Date(instant);
  }
  function isoWithOffset(instant, tz) {
    const off = offsetMinutes(instant, tz);
    const sign = off < 0 ? "-" : "+";
    const a = Math.abs(off);
    return `${wallOf(instant, tz)}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }
  // A wall time the zone skips (the hour the clocks go forward) has no instant: Intl would make
  // it another hour silently. It is sent as typed with the zone's offset before the change, so
  // the server refuses it in words; the calendar refuses a drag there before asking anything.
  const fullWall = (wall) => (wall.length === 16 ? wall + ":00" : wall);
  const wallExists = (wall, tz) => wallOf(instantOf(wall, tz), tz) === fullWall(wall);
  function apiIso(wall, tz) {
    const instant = instantOf(wall, tz);
    if (wallExists(wall, tz)) return isoWithOffset(instant, tz);
    const off = offsetMinutes(instant, tz);
    const a = Math.abs(off);
    return `${fullWall(wall)}${off < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }
  // widget Date → wall string (the widget's Dates read as the wall time in the browser's zone)
  const floating = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  // the widget's zone: the grid zone's offset now, so that its "now" line is the clinic's now
  function gridOffset(tz) {
    const off = offsetMinutes(new Date(), tz);
    const a = Math.abs(off);
    return `${off < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }
  const apiTime = (wall) => apiIso(wall, zone);

  // --- API -----------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrf;
      headers["Idempotency-Key"] = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()));
    }
    const response = await fetch(cfg.api + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }
  // `tz`: the zone the times in the message are shown in (see formatting below)
  // Errors in words: the server's message, unless it names a field ("Invalid value for
  // practitioner_id."), then the reasons given for the fields; never a field name or a code.
  const FIELDISH = /\b[a-z]+_[a-z_]+\b|Invalid value for/;
  function errorText(result, tz) {
    const err = result.data && result.data.error;
    if (!err) return result.status >= 500 || !result.status ? S.failed : (S.codes[result.status] || S.failed);
    const d = err.details || {};
    let text = err.message || S.failed;
    if (FIELDISH.test(text)) {
      const reasons = Object.values(d).filter(Array.isArray).flat().filter((x) => typeof x === "string");
      text = reasons.length ? reasons.join(" ") : (S.codes[err.code] || S.failed);
    }
    if (Array.isArray(d.conflicts) && d.conflicts.length) {
      text += " " + d.conflicts.map((c) => `${S.conflictWith} ${timeRange(c.start, c.end, tz)} (${(c.on || []).map((o) => S.on[o] || o).join(", ")})`).join("; ");
    }
    if (Array.isArray(d.alternatives) && d.alternatives.length) {
      text += " " + S.nextFree + " " + d.alternatives.map((a) => shortTime(a.start, tz)).join(", ");
    }
    if (d.allowed) text += " " + S.allowed + " " + (d.allowed.map((s) => cfg.statuses[s] || s).join(", ") || "—");
    return text;
  }
  // Formatters per zone (an appointment's location may not be in the grid's zone).
  const formatters = {};
  function formatter(tz) {
    return formatters[tz] || (formatters[tz] = {
      date: new Intl.DateTimeFormat(cfg.locale, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: cfg.hourCycle, timeZone: tz }),
      time: new Intl.DateTimeFormat(cfg.locale, { hour: "2-digit", minute: "2-digit", hourCycle: cfg.hourCycle, timeZone: tz }),
    });
  }
  const zoneNote = (tz) => (tz && tz !== zone ? ` (${tz})` : "");
  const shortTime = (iso, tz) => formatter(tz || zone).date.format(new Date(iso)) + zoneNote(tz);
  const timeRange = (a, b, tz) => {
    const f = formatter(tz || zone);
    return `${f.date.format(new Date(a))}–${f.time.format(new Date(b))}${zoneNote(tz)}`;
  };
  const zoneOf = (a) => (a && a.location && a.location.time_zone) || zone;  // an appointment's
  const locationTz = (id) => ((cfg.locations.find((l) => l.id === id) || {}).tz);

  const message = el("cal-message");
  function say(text, kind) {
    message.textContent = text;
    message.className = "cal-message " + (kind || "error");
    message.hidden = !text;
  }

  // --- filters -------------------------------------------------------------------------------
  const filters = {
    location: el("cal-location"), practitioner: el("cal-practitioner"), service: el("cal-service"),
    resources: el("cal-resources"), colour: el("cal-colour"),
  };
  function locationZone() {
    const loc = cfg.locations.find((l) => l.id === filters.location.value);
    return loc ? loc.tz : cfg.timeZone;
  }
  function visiblePractitioners() {
    let list = cfg.practitioners;
    if (filters.practitioner.value) list = list.filter((p) => p.id === filters.practitioner.value);
    if (filters.service.value) list = list.filter((p) => p.services.includes(filters.service.value));
    // where they work: the default location and the locations of their current weekly rules
    // (one-off "extra" availability at another location is not counted)
    if (filters.location.value) {
      list = list.filter((p) => !(p.locations || []).length || p.locations.includes(filters.location.value));
    }
    return list;
  }
  function resources() {
    if (filters.resources.value === "room") {
      return cfg.rooms.filter((r) => !filters.location.value || r.location === filters.location.value)
        .map((r) => ({ id: "room:" + r.id, title: r.name }));
    }
    return visiblePractitioners().map((p) => ({ id: "pr:" + p.id, title: p.name, eventBackgroundColor: p.colour }));
  }
  const STATUS_COLOURS = {
    held: "#9aa5b1", scheduled: "#0b63c5", confirmed: "#1e7f4f", checked_in: "#7a4cc2",
    in_progress: "#b35c00", completed: "#4b5563", cancelled: "#b42318", no_show: "#8a1c12",
  };

  // Text and background that read at WCAG AA (4.5:1): black or white text, whichever contrasts
  // more, and a darker shade of the colour when neither does (white on the palette's yellows
  // and oranges was below 2:1, and a mid red reads at 4:1 with either).
  function luminance(rgb) {
    const [r, g, b] = rgb.map((v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function readableColours(hex) {
    if (!/^#[0-9a-f]{6}$/i.test(hex)) return { backgroundColor: hex };
    let rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const onBlack = (l) => (l + 0.05) / (luminance([17, 24, 39]) + 0.05);  // #111827
    const onWhite = (l) => 1.05 / (l + 0.05);
    if (onBlack(luminance(rgb)) >= 4.5 && onBlack(luminance(rgb)) >= onWhite(luminance(rgb))) {
      return { backgroundColor: hex, textColor: "#111827" };
    }
    while (onWhite(luminance(rgb)) < 4.5) rgb = rgb.map((v) => Math.floor(v * 0.92));
    return { backgroundColor: "#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join(""), textColor: "#ffffff" };
  }

  function toEvent(a) {
    const colour = filters.colour.value === "status" ? STATUS_COLOURS[a.status]
      : (a.service ? a.service.colour : "#6b7280");
    const title = a.kind === "block" ? S.blocked
      : `${a.patient ? a.patient.name : ""}${a.service ? " · " + a.service.name : ""}`;
    return {
      id: a.id,
      start: wallOf(new Date(a.start), zone),
      end: wallOf(new Date(a.end), zone),
      title: title + (a.status !== "scheduled" ? ` (${cfg.statuses[a.status] || a.status})` : ""),
      resourceIds: ["pr:" + a.practitioner.id].concat(a.room ? ["room:" + a.room.id] : []),
      ...readableColours(colour),
      editable: cfg.canUpdate && ["held", "scheduled", "confirmed"].includes(a.status),
      // a short appointment gets the compact layout: the patient's name first, the time hidden
      classNames: ["appt-" + a.status].concat(new Date(a.end) - new Date(a.start) <= 20 * 60000 ? ["appt-short"] : []),
      extendedProps: { appointment: a },
    };
  }

  async function fetchEvents(info) {
    const params = new URLSearchParams();
    params.set("start", apiTime(floating(info.start)));
    params.set("end", apiTime(floating(info.end)));
    for (const p of visiblePractitioners()) params.append("practitioner_id", p.id);
    if (!visiblePractitioners().length) return [];
    const result = await api("GET", "appointments?" + params.toString());
    if (!result.ok) { say(errorText(result, zone)); return []; }
    let items = result.data.items.filter((a) => a.status !== "cancelled" || el("cal-show-cancelled").checked);
    if (filters.location.value) items = items.filter((a) => a.location.id === filters.location.value);
    if (filters.service.value) items = items.filter((a) => a.service && a.service.id === filters.service.value);
    if (filters.resources.value === "room") items = items.filter((a) => a.room);
    return items.map(toEvent);
  }

  // --- working hours: shading outside them, blocked time labelled ---------------------------------
  const escapeHtml = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  let hours = { windows: {}, loaded: false };  // practitioner id → [[startWall, endWall]] of the range
  function mergeSpans(spans) {
    const out = [];
    for (const [a, b] of spans.slice().sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
      if (out.length && a <= out[out.length - 1][1]) { if (b > out[out.length - 1][1]) out[out.length - 1][1] = b; }
      else out.push([a, b]);
    }
    return out;
  }
  // the parts of each day of [startWall, endWall) outside `spans`, day by day
  function offHours(spans, startWall, endWall) {
    const out = [];
    const merged = mergeSpans(spans);
    let day = startWall.slice(0, 10);
    while (day < endWall.slice(0, 10)) {
      const next = wallOf(new Date(Date.parse(day + "T12:00:00Z") + 86400000), "UTC").slice(0, 10);
      let cursor = day + "T00:00:00";
      const dayEnd = next + "T00:00:00";
      for (const [a, b] of merged) {
        if (b <= cursor || a >= dayEnd) continue;
        if (a > cursor) out.push([cursor, a]);
        if (b > cursor) cursor = b < dayEnd ? b : dayEnd;
      }
      if (cursor < dayEnd) out.push([cursor, dayEnd]);
      day = next;
    }
    return out;
  }
  async function fetchWorkingTime(info) {
    hours = { windows: {}, loaded: false };
    const shown = visiblePractitioners();
    if (!cfg.canSeeHours || !shown.length) return [];
    const params = new URLSearchParams();
    params.set("start", apiTime(floating(info.start)));
    params.set("end", apiTime(floating(info.end)));
    for (const p of shown) params.append("practitioner_id", p.id);
    const result = await api("GET", "working-time?" + params.toString());
    if (!result.ok) return [];
    const startWall = floating(info.start);
    const endWall = floating(info.end);
    const byPractitioner = {};
    for (const p of shown) byPractitioner[p.id] = [];
    for (const w of result.data.windows) {
      if (filters.location.value && w.location_id !== filters.location.value) continue;
      (byPractitioner[w.practitioner_id] || []).push([wallOf(new Date(w.start), zone), wallOf(new Date(w.end), zone)]);
    }
    hours = { windows: byPractitioner, loaded: true };
    const shade = (spans, kind, extra) => offHours(spans, startWall, endWall).map(([a, b]) => ({
      start: a, end: b, display: "background", classNames: ["cal-off-hours"],
      extendedProps: { shade: kind }, ...extra,
    }));
    const events = shade(Object.values(byPractitioner).flat(), "union", {});
    for (const [id, spans] of Object.entries(byPractitioner)) events.push(...shade(spans, "column", { resourceIds: ["pr:" + id] }));
    const names = Object.fromEntries(cfg.practitioners.map((p) => [p.id, p.name]));
    for (const b of result.data.blocked) {
      const label = shown.length > 1 ? `${b.label} · ${names[b.practitioner_id] || ""}` : b.label;
      for (const kind of ["union", "column"]) {
        events.push({
          start: wallOf(new Date(b.start), zone), end: wallOf(new Date(b.end), zone), title: label,
          display: "background", classNames: ["cal-blocked"], extendedProps: { shade: kind },
          ...(kind === "column" ? { resourceIds: ["pr:" + b.practitioner_id] } : {}),
        });
      }
    }
    return events;
  }
  // is [startWall, endWall) inside one working window of the practitioner? (null: not known)
  function withinHours(practitionerId, startWall, endWall) {
    if (!hours.loaded || !hours.windows[practitionerId]) return null;
    return mergeSpans(hours.windows[practitionerId]).some(([a, b]) => a <= startWall && endWall <= b);
  }

  // after a change made in a dialog, focus goes back to the appointment once it is redrawn
  let pendingFocus = null;
  let pendingFetched = false;

  // --- the widget ----------------------------------------------------------------------------
  const wide = window.matchMedia("(min-width: 800px)").matches;
  const calendar = EventCalendar.create(el("calendar"), {
    view: wide ? "timeGridWeek" : "timeGridDay",
    timeZone: gridOffset(zone),
    locale: cfg.locale,
    slotLabelFormat: { hour: "numeric", minute: "2-digit", hourCycle: cfg.hourCycle },
    eventTimeFormat: { hour: "numeric", minute: "2-digit", hourCycle: cfg.hourCycle },
    firstDay: 1,
    date: cfg.initialDate || undefined,
    // a phone gets the two views that fit 390 px: the day and the week as a list
    headerToolbar: wide
      ? { start: "prev,next today", center: "title", end: "timeGridDay,timeGridWeek,resourceTimeGridDay,resourceTimeGridWeek,listWeek" }
      : { start: "prev,next today", center: "title", end: "timeGridDay,listWeek" },
    buttonText: (t) => ({ ...t, today: S.today, timeGridDay: S.day, timeGridWeek: S.week, resourceTimeGridDay: S.resourceDay, resourceTimeGridWeek: S.resourceWeek, listWeek: S.list }),
    slotMinTime: "07:00", slotMaxTime: "21:00", scrollTime: "08:00", slotDuration: "00:15",
    slotLabelInterval: "01:00", nowIndicator: true, allDaySlot: false, height: "auto",
    selectable: cfg.canBook, editable: cfg.canUpdate, eventDurationEditable: cfg.canUpdate,
    resources: resources(),
    eventSources: [
      { events: (info) => fetchEvents(info).finally(() => { if (pendingFocus) pendingFetched = true; }) },
      { events: (info) => fetchWorkingTime(info) },
    ],
    // shading per practitioner column in the "by column" views, else the union of the shown
    // practitioners' hours
    eventFilter: (info) => {
      const shade = info.event.extendedProps.shade;
      if (!shade) return true;
      const perColumn = info.view.type.startsWith("resource") && filters.resources.value === "practitioner";
      return shade === (perColumn ? "column" : "union");
    },
    eventContent: (info) => (info.event.display === "background"
      ? { html: info.event.title ? `<span class="cal-shade-label">${escapeHtml(info.event.title)}</span>` : "" }
      : undefined),
    select: (info) => { openBooking(floating(info.start), floating(info.end), info.resource); calendar.unselect(); },
    dateClick: (info) => openBooking(floating(info.date), null, info.resource),
    eventClick: (info) => openEvent(info.event.extendedProps.appointment),
    eventDrop: (info) => moveEvent(info),
    eventResize: (info) => moveEvent(info),
    eventAllUpdated: () => focusPending(),
    eventDidMount: (info) => {
      const a = info.event.extendedProps.appointment;
      if (!a) return;  // shading: not an appointment
      info.el.setAttribute("tabindex", "0");
      info.el.setAttribute("role", "button");
      // the name is the visible text (time, patient, service); the tooltip adds the zone
      info.el.setAttribute("title", `${info.event.title}, ${timeRange(a.start, a.end, zoneOf(a))}`);
      info.el.dataset.appointmentId = a.id;
      info.el.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openEvent(a); }
      });
    },
  });
  window.clinicCalendar = calendar;
  // The library marks its grid up as an ARIA table whose body also holds the toolbar and the
  // events (buttons): an invalid table that screen readers announce as broken. Without those
  // roles the calendar reads as its headings, times and appointment buttons.
  const TABLE_ROLES = ["table", "rowgroup", "row", "cell", "columnheader", "rowheader"];
  const rolesStrip = () => {
    for (const node of el("calendar").querySelectorAll("[role], [aria-colindex], [aria-rowindex]")) {
      if (TABLE_ROLES.includes(node.getAttribute("role"))) node.removeAttribute("role");
      node.removeAttribute("aria-colindex");
      node.removeAttribute("aria-rowindex");
    }
  };
  rolesStrip();
  new MutationObserver(rolesStrip).observe(el("calendar"), { subtree: true, childList: true, attributeFilter: ["role", "aria-colindex", "aria-rowindex"] });

  function focusLater(id) { pendingFocus = id; pendingFetched = false; }
  function focusPending() {
    if (!pendingFocus || !pendingFetched) return;
    const target = document.querySelector(`.ec-event[data-appointment-id="${pendingFocus}"]`);
    pendingFocus = null;
    (target || message).focus();
  }

  function refresh() {
    zone = locationZone();
    calendar.setOption("timeZone", gridOffset(zone));
    calendar.setOption("resources", resources());
    calendar.refetchEvents();
  }
  for (const f of Object.values(filters)) f.addEventListener("change", refresh);
  el("cal-show-cancelled").addEventListener("change", refresh);

  // --- moving --------------------------------------------------------------------------------
  function askScope() {
    const dialog = el("scope-dialog");
    return new Promise((resolve) => {
      const done = (value) => { dialog.close(); resolve(value); };
      dialog.querySelectorAll("[data-scope]").forEach((b) => { b.onclick = () => done(b.dataset.scope); });
      dialog.querySelector("[data-cancel]").onclick = () => done(null);
      dialog.oncancel = () => resolve(null);
      dialog.showModal();
    });
  }
  // Drag and resize ask first: old → new time, practitioner, "Tell the patient", and, where
  // the new time is in the past or outside working hours, the explicit override (for those who
  // may). Cancel snaps the event back; after a move, Undo puts it back for a few seconds.
  const moveDialog = el("move-dialog");
  const UNDO_SECONDS = 8;
  function moveAsk(a, body, newWall) {
    const tz = zoneOf(a);
    const newPractitioner = body.practitioner_id
      ? (cfg.practitioners.find((p) => p.id === body.practitioner_id) || {}).name : a.practitioner.name;
    const facts = el("move-facts");
    facts.innerHTML = "";
    const add = (label, value) => {
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value;
      facts.append(dt, dd);
    };
    if (a.patient) add(S.patient, a.patient.name);
    add(S.from, timeRange(a.start, a.end, tz));
    add(S.to, timeRange(body.start, body.end, tz));
    add(S.practitioner, newPractitioner === a.practitioner.name ? a.practitioner.name : `${a.practitioner.name} → ${newPractitioner}`);
    const past = new Date(body.start) < new Date(Date.now() - 10 * 60000);
    const outside = withinHours(body.practitioner_id || a.practitioner.id, newWall.start, newWall.end) === false;
    const overrideBox = el("move-override");
    el("move-override-field").hidden = !(cfg.canOverride && (past || outside));
    el("move-override-label").textContent = past && outside ? S.overrideBoth : past ? S.overridePast : S.overrideHours;
    overrideBox.checked = false;
    el("move-notify").checked = true;
    el("move-notify-field").hidden = !a.patient;
    el("move-warning").textContent = past ? S.inThePast : outside ? S.outsideHours : "";
    el("move-warning").hidden = !(past || outside);
    moveError("");
    moveDialog.showModal();
    el("move-confirm").focus();
  }
  // the next answer in the open dialog: the choices, or null when cancelled
  function moveChoice() {
    return new Promise((resolve) => {
      let settled = false;
      const done = (value) => { if (settled) return; settled = true; resolve(value); };
      moveDialog.querySelector("[data-cancel]").onclick = () => { moveDialog.close(); done(null); };
      moveDialog.oncancel = () => done(null);
      el("move-form").onsubmit = (event) => {
        event.preventDefault();
        // the dialog stays open until the server answers (a refusal is shown in it, once)
        done({ notify: el("move-notify").checked, override: cfg.canOverride ? el("move-override").checked : false });
      };
    });
  }
  function moveError(text) {
    el("move-errors").textContent = text;
    el("move-errors").hidden = !text;
  }
  async function moveEvent(info) {
    const a = info.event.extendedProps.appointment;
    const body = { start: apiTime(floating(info.event.start)), end: apiTime(floating(info.event.end)) };
    const newWall = { start: floating(info.event.start), end: floating(info.event.end) };
    // dropped into the hour the clocks skip: refused in words, the event back where it was
    const skipped = [newWall.start, newWall.end].find((w) => !wallExists(w, zone));
    if (skipped) {
      info.revert();
      say(S.moveRefused + " " + S.noSuchTime.replace("%s", skipped.slice(11, 16)));
      return;
    }
    if (info.newResource) {
      const rid = info.newResource.id;
      if (rid.startsWith("pr:") && rid.slice(3) !== a.practitioner.id) body.practitioner_id = rid.slice(3);
      if (rid.startsWith("room:")) body.room_id = rid.slice(5);
    }
    // into the past without the override: nothing to confirm (the server refuses it too)
    if (!cfg.canOverride && new Date(body.start) < new Date(Date.now() - 10 * 60000)) {
      info.revert();
      say(S.moveRefused + " " + S.inThePast);
      return;
    }
    let scope = "this";
    if (a.series_id) {
      scope = await askScope();
      if (!scope) { info.revert(); return; }
    }
    const previous = { start: a.start, end: a.end };
    if (body.practitioner_id) previous.practitioner_id = a.practitioner.id;
    if (body.room_id) previous.room_id = a.room ? a.room.id : null;
    moveAsk(a, body, newWall);
    for (;;) {
      const choice = await moveChoice();
      if (!choice) { info.revert(); return; }
      const sent = { ...body, notify: choice.notify, override_availability: choice.override };
      const result = await api("PATCH", `appointments/${a.id}?scope=${scope}`, sent);
      if (result.ok) {
        moveDialog.close();
        calendar.refetchEvents();
        // Undo only where one PATCH puts it back: a single appointment or occurrence
        if (scope === "this") undoOffer(a, { ...previous, notify: choice.notify, override_availability: choice.override });
        else say(S.moved, "success");
        return;
      }
      // refused: the reason in the dialog (once, not also under the calendar); the person can
      // choose the override, or cancel (the event snaps back)
      moveError(S.moveRefused + " " + errorText(result, zoneOf(a)));
      el("move-errors").focus();
    }
  }
  let undoTimer = null;
  function undoOffer(a, back) {
    const bar = el("cal-undo");
    clearTimeout(undoTimer);
    say("");
    el("cal-undo-text").textContent = S.moved;
    bar.hidden = false;
    const button = el("cal-undo-button");
    button.disabled = false;
    button.onclick = async () => {
      button.disabled = true;
      clearTimeout(undoTimer);
      const result = await api("PATCH", `appointments/${a.id}?scope=this`, back);
      bar.hidden = true;
      if (!result.ok) { say(S.undoFailed + " " + errorText(result, zoneOf(a))); return; }
      say(S.moveUndone, "success");
      calendar.refetchEvents();
    };
    undoTimer = setTimeout(() => { bar.hidden = true; }, UNDO_SECONDS * 1000);
  }

  // --- booking dialog --------------------------------------------------------------------------
  const book = el("book-dialog");
  const form = el("book-form");
  const f = (name) => form.elements[name];
  let checkTimer = null;

  function fillSelect(select, items, selected, empty) {
    select.innerHTML = "";
    if (empty !== undefined) select.add(new Option(empty, ""));
    for (const item of items) select.add(new Option(item.name, item.id, false, item.id === selected));
  }
  // the booking form's times are wall times at the chosen location (else the grid's zone)
  const bookingZone = () => locationTz(f("location_id").value) || zone;
  function showBookingZone() { el("book-zone").textContent = S.timeZoneIs.replace("%s", bookingZone()); }
  function servicesFor(practitionerId) {
    const p = cfg.practitioners.find((x) => x.id === practitionerId);
    return cfg.services.filter((s) => !p || p.services.includes(s.id));
  }
  function openBooking(startWall, endWall, resource) {
    if (!cfg.canBook) return;
    form.reset();
    el("book-errors").textContent = "";
    el("book-check").textContent = "";
    waitlistOffer(null);
    let practitioner = filters.practitioner.value || (visiblePractitioners()[0] || {}).id || "";
    let room = "";
    if (resource && resource.id.startsWith("pr:")) practitioner = resource.id.slice(3);
    if (resource && resource.id.startsWith("room:")) room = resource.id.slice(5);
    fillSelect(f("practitioner_id"), cfg.practitioners, practitioner);
    fillSelect(f("service_id"), servicesFor(practitioner), filters.service.value);
    fillSelect(f("location_id"), cfg.locations, filters.location.value, S.automatic);
    fillSelect(f("room_id"), cfg.rooms, room, S.noRoom);
    f("start").value = (startWall || nextHour()).slice(0, 16);
    f("end").value = endWall && endWall !== startWall ? endWall.slice(0, 16) : "";
    f("patient_id").value = "";
    el("patient-search").value = "";
    el("patient-chosen").textContent = "";
    el("patient-results").innerHTML = "";
    showBookingZone();
    book.showModal();
    el("patient-search").focus();
    scheduleCheck();
  }
  function nextHour() {
    const now = wallOf(new Date(Date.now() + 3600000), bookingZone());
    return now.slice(0, 14) + "00:00";
  }
  if (el("cal-book")) el("cal-book").addEventListener("click", () => openBooking(null, null, null));
  function patientChoose(p) {
    f("patient_id").value = p.id;
    el("patient-search").value = p.name;
    el("patient-results").innerHTML = "";
    el("patient-chosen").textContent = S.patientChosen + " " + p.name;
    scheduleCheck();
  }
  if (cfg.initialPatient && cfg.canBook) {
    openBooking(null, null, null);
    patientChoose(cfg.initialPatient);
    f("service_id").focus();
  }
  book.querySelector("[data-close]").addEventListener("click", () => book.close());
  f("practitioner_id").addEventListener("change", () => {
    fillSelect(f("service_id"), servicesFor(f("practitioner_id").value), f("service_id").value);
    scheduleCheck();
  });
  f("location_id").addEventListener("change", showBookingZone);
  for (const name of ["service_id", "start", "end", "location_id", "room_id"]) {
    f(name).addEventListener("change", scheduleCheck);
  }

  // patient picker: a listbox of buttons, filled as you type
  let searchTimer = null;
  el("patient-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const q = el("patient-search").value;
      const response = await fetch(cfg.patientsUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      const data = await response.json();
      const list = el("patient-results");
      list.innerHTML = "";
      for (const p of data.items) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.className = "patient-option";
        b.textContent = `${p.name} · ${p.mrn}${p.born ? " · " + p.born : ""}${p.species ? " · " + p.species : ""}`;
        b.addEventListener("click", () => {
          patientChoose(p);
          f("service_id").focus();
        });
        li.appendChild(b);
        list.appendChild(li);
      }
      if (!data.items.length) list.innerHTML = `<li class="hint">${S.noPatient}</li>`;
    }, 200);
  });

  function bookingBody() {
    const tz = bookingZone();
    const apiTime = (wall) => apiIso(wall, tz);
    const body = {
      practitioner_id: f("practitioner_id").value,
      patient_id: f("patient_id").value || null,
      service_id: f("service_id").value || null,
      start: f("start").value ? apiTime(f("start").value) : null,
      notes: f("notes").value,
    };
    if (f("end").value) body.end = apiTime(f("end").value);
    if (f("location_id").value) body.location_id = f("location_id").value;
    if (f("room_id").value) body.room_id = f("room_id").value;
    // outside working hours or in the past only when chosen, by someone who may
    body.override_availability = cfg.canOverride && f("override") ? f("override").checked : false;
    return body;
  }
  // the time is taken: offer to put the patient on the waitlist for that service instead
  function waitlistOffer(body) {
    const box = el("book-waitlist");
    if (!box) return;  // not allowed to manage the waitlist
    box.hidden = !body;
    if (!body) return;
    const link = box.querySelector("a");
    const query = new URLSearchParams({ patient: body.patient_id, service: body.service_id });
    link.href = `${cfg.waitlistUrl}?${query}`;
  }
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(runCheck, 250);
  }
  async function runCheck() {
    const body = bookingBody();
    const out = el("book-check");
    waitlistOffer(null);
    if (!body.practitioner_id || !body.service_id || !body.start || !body.patient_id) { out.textContent = ""; return; }
    const result = await api("POST", "appointments/check", body);
    if (!result.ok) { out.textContent = errorText(result, bookingZone()); out.className = "book-check error"; return; }
    const d = result.data;
    const tz = locationTz(String(d.location_id)) || bookingZone();  // where it would take place
    const inPast = new Date(body.start) < new Date(Date.now() - 10 * 60000);
    if (d.ok && !d.availability && !inPast) { out.textContent = S.free; out.className = "book-check ok"; return; }
    let text = "";
    if (d.conflicts.length) waitlistOffer(body);
    if (d.conflicts.length) text += S.taken + " " + d.conflicts.map((c) => `${timeRange(c.start, c.end, tz)} (${c.on.map((o) => S.on[o] || o).join(", ")})`).join("; ") + ". ";
    if (d.availability) text += d.availability_message + (d.may_override ? " " + S.overrideNote : "") + " ";
    if (inPast) text = S.inThePast + (cfg.canOverride ? " " + S.overrideNote : "") + " " + text;
    if (d.alternatives.length) text += S.nextFree + " " + d.alternatives.map((a) => shortTime(a.start, tz)).join(", ");
    out.textContent = text;
    out.className = "book-check " + (d.ok && (!inPast || cfg.canOverride) ? "warn" : "error");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = bookingBody();
    const repeat = f("repeat").value;
    let result;
    if (repeat) {
      const count = Math.max(2, Math.min(100, Number(f("count").value) || 10));
      const series = { ...body, rrule: `${repeat};COUNT=${count}`, on_conflict: f("skip").checked ? "skip" : "fail" };
      result = await api("POST", "appointment-series", series);
    } else {
      result = await api("POST", "appointments", body);
    }
    if (!result.ok) {
      el("book-check").textContent = "";  // the reason once, in the errors below
      el("book-errors").textContent = errorText(result, bookingZone());
      if (result.status === 409 && body.patient_id && body.service_id) waitlistOffer(body);
      const details = (result.data && result.data.error && result.data.error.details) || {};
      for (const name of Object.keys(details)) {
        const input = f(name);
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
      }
      el("book-errors").focus();
      return;
    }
    book.close();
    const skipped = result.data.skipped ? result.data.skipped.length : 0;
    say(skipped ? S.bookedSkipped.replace("%s", skipped) : S.booked, "success");
    calendar.refetchEvents();
  });

  // --- event dialog: details and status actions ---------------------------------------------------
  const eventDialog = el("event-dialog");
  const ACTIONS = [
    ["confirmed", S.actions.confirm], ["checked_in", S.actions.checkIn], ["in_progress", S.actions.start],
    ["completed", S.actions.complete], ["no_show", S.actions.noShow], ["cancelled", S.actions.cancel],
  ];
  let opener = null;  // what had the focus when the dialog opened, to give it back
  function openEvent(a) {
    opener = document.activeElement;
    el("event-title").textContent = a.kind === "block" ? S.blocked : (a.patient ? a.patient.name : "");
    const facts = el("event-facts");
    facts.innerHTML = "";
    const add = (label, value) => {
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value;
      facts.append(dt, dd);
    };
    add(S.when, timeRange(a.start, a.end, zoneOf(a)));
    if (a.service) add(S.service, a.service.name);
    add(S.practitioner, a.practitioner.name);
    add(S.where, a.location.name + (a.room ? " · " + a.room.name : ""));
    add(S.status, cfg.statuses[a.status] || a.status);
    if (a.series_id) add(S.series, S.recurring);
    if (a.cancel_reason) add(S.reason, a.cancel_reason);
    const links = el("event-links");
    links.innerHTML = "";
    const addLink = (url, id, text) => {
      const link = document.createElement("a");
      link.href = url.replace("00000000-0000-0000-0000-000000000000", id);
      link.textContent = text;
      links.appendChild(link);
    };
    if (a.patient && a.patient.id && cfg.canViewPatient) addLink(cfg.patientUrl, a.patient.id, S.openChart);
    // the API names them only when this member may open them
    if (a.plan_id) addLink(cfg.planUrl, a.plan_id, S.openPlan);
    if (a.invoice_id) addLink(cfg.invoiceUrl, a.invoice_id, S.openInvoice);
    el("event-errors").textContent = "";
    el("event-reason").value = "";
    eventDialog.querySelector("input[name=scope][value=this]").checked = true;
    const buttons = el("event-actions");
    buttons.innerHTML = "";
    for (const [status, label] of ACTIONS) {
      if (!a.allowed_transitions.includes(status)) continue;
      // nobody can have missed an appointment that has not started yet
      if (status === "no_show" && new Date(a.start) > new Date()) continue;
      if (status === "cancelled" ? !cfg.canCancel : !cfg.canUpdate) continue;
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.status = status;
      b.addEventListener("click", () => setStatus(a, status));
      buttons.appendChild(b);
    }
    // A reason and a scope only mean something when there is an action to apply them to.
    el("event-reason-field").hidden = !buttons.children.length;
    el("event-scope").hidden = !a.series_id || !buttons.children.length;
    editSetUp(a);
    eventDialog.showModal();
  }
  eventDialog.querySelector("[data-close]").addEventListener("click", () => eventDialog.close());
  eventDialog.addEventListener("close", () => {
    if (pendingFocus) return;  // the changed appointment gets it once redrawn
    const active = document.activeElement;
    if (active && active !== document.body && !eventDialog.contains(active)) return;
    const back = opener && opener.isConnected && opener !== document.body ? opener
      : document.querySelector(`.ec-event[data-appointment-id="${editing && editing.id}"]`);
    if (back) back.focus();
  });

  // --- event dialog: edit the time (the keyboard's way to move and resize) -------------------
  const editForm = el("edit-form");
  const ef = (name) => editForm.elements[name];
  const editToggle = el("edit-toggle");
  const MOVABLE = ["held", "scheduled", "confirmed"];
  const FIELD_OF = { start: "start", date: "start", end: "end", practitioner_id: "practitioner_id", room_id: "room_id" };
  let editing = null;
  let lastStart = "";
  const minutesOf = (hm) => { const [h, m] = hm.split(":").map(Number); return h * 60 + m; };
  const hm = (total) => { const t = ((total % 1440) + 1440) % 1440; return `${pad(Math.floor(t / 60))}:${pad(t % 60)}`; };

  function editErrorsClear() {
    editForm.querySelectorAll(".field-error").forEach((x) => { x.textContent = ""; });
    editForm.querySelectorAll("[aria-invalid]").forEach((x) => x.removeAttribute("aria-invalid"));
    editForm.querySelectorAll(".has-error").forEach((x) => x.classList.remove("has-error"));
    el("edit-errors").textContent = "";
  }
  function editSetUp(a) {
    editing = a;
    const movable = cfg.canUpdate && MOVABLE.includes(a.status);
    editToggle.hidden = !movable;
    editToggle.setAttribute("aria-expanded", "false");
    editForm.hidden = true;
    editErrorsClear();
    if (!movable) return;
    const tz = zoneOf(a);  // the form's times are wall times at the appointment's location
    const start = wallOf(new Date(a.start), tz);
    const end = wallOf(new Date(a.end), tz);
    ef("date").value = start.slice(0, 10);
    ef("start").value = start.slice(11, 16);
    ef("end").value = end.slice(11, 16);
    lastStart = ef("start").value;
    const people = cfg.practitioners.filter((p) => p.id === a.practitioner.id || !a.service || p.services.includes(a.service.id));
    if (!people.some((p) => p.id === a.practitioner.id)) people.unshift({ id: a.practitioner.id, name: a.practitioner.name });
    fillSelect(ef("practitioner_id"), people, a.practitioner.id);
    const rooms = cfg.rooms.filter((r) => r.location === a.location.id);
    if (a.room && !rooms.some((r) => r.id === a.room.id)) rooms.unshift({ id: a.room.id, name: a.room.name });
    fillSelect(ef("room_id"), rooms, a.room ? a.room.id : "", S.noRoom);
    el("edit-zone").textContent = S.timeZoneIs.replace("%s", tz);
  }
  editToggle.addEventListener("click", () => {
    const show = editForm.hidden;
    editForm.hidden = !show;
    editToggle.setAttribute("aria-expanded", String(show));
    if (show) ef("date").focus();
  });
  ef("start").addEventListener("change", () => {  // the end follows the start, keeping the length
    const now = ef("start").value;
    if (now && lastStart && ef("end").value) ef("end").value = hm(minutesOf(ef("end").value) + minutesOf(now) - minutesOf(lastStart));
    if (now) lastStart = now;
  });
  function editErrorsShow(details, summary) {
    let first = null;
    const extra = [];
    for (const [key, messages] of Object.entries(details)) {
      if (!Array.isArray(messages) || ["conflicts", "alternatives", "allowed"].includes(key)) continue;
      const name = FIELD_OF[key];
      const said = messages.filter((m) => typeof m === "string" && !(summary || "").includes(m)).join(" ");
      if (!name) { if (said) extra.push(said); continue; }
      el(`edit-${name}-error`).textContent = said;  // what the summary already says, not twice
      const inputs = name === "start" ? [ef("date"), ef("start")] : [ef(name)];
      for (const input of inputs) {
        input.setAttribute("aria-invalid", "true");
        input.closest(".field").classList.add("has-error");
      }
      first = first || inputs[inputs.length - 1];
    }
    el("edit-errors").textContent = [summary, ...extra].filter(Boolean).join(" ");
    (first || ef("start")).focus();  // the start field is described by the reason too
  }
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const a = editing;
    editErrorsClear();
    const missing = {};
    if (!ef("date").value) missing.date = [S.required];
    if (!ef("start").value) missing.start = [S.required];
    if (Object.keys(missing).length) { editErrorsShow(missing, ""); return; }
    const tz = zoneOf(a);
    const at = (time) => apiIso(`${ef("date").value}T${time}:00`, tz);
    const body = { start: at(ef("start").value), notify: ef("notify").checked };
    body.override_availability = cfg.canOverride && ef("override") ? ef("override").checked : false;
    if (ef("end").value) body.end = at(ef("end").value);
    if (ef("practitioner_id").value !== a.practitioner.id) body.practitioner_id = ef("practitioner_id").value;
    const room = ef("room_id").value || null;
    if (room !== (a.room ? a.room.id : null)) body.room_id = room;
    let scope = "this";
    if (a.series_id) {
      scope = await askScope();
      editForm.querySelector("[type=submit]").focus();  // back from the question
      if (!scope) return;
    }
    const result = await api("PATCH", `appointments/${a.id}?scope=${scope}`, body);
    if (!result.ok) {  // refused: the reason next to the fields, what was typed kept
      const err = (result.data && result.data.error) || {};
      editErrorsShow(err.details || {}, S.moveRefused + " " + errorText(result, tz));
      return;
    }
    focusLater(a.id);
    eventDialog.close();
    say(S.moved, "success");
    const view = calendar.getView();
    const shown = wallOf(new Date(body.start), zone);
    if (shown < floating(view.activeStart) || shown >= floating(view.activeEnd)) {
      calendar.setOption("date", shown.slice(0, 10));  // follow it to another week (refetches)
    } else {
      calendar.refetchEvents();
    }
  });
  async function setStatus(a, status) {
    const reason = el("event-reason").value;
    let result;
    const scopeInput = eventDialog.querySelector("input[name=scope]:checked");
    const scope = a.series_id && scopeInput ? scopeInput.value : "this";
    if (status === "cancelled" && scope !== "this") {
      result = await api("DELETE", `appointments/${a.id}?scope=${scope}&reason=${encodeURIComponent(reason)}`);
    } else {
      result = await api("POST", `appointments/${a.id}/status`, { status, reason });
    }
    if (!result.ok) { el("event-errors").textContent = errorText(result, zoneOf(a)); return; }
    focusLater(a.id);
    eventDialog.close();
    say(S.updated, "success");
    calendar.refetchEvents();
  }

  // open an appointment named in the URL (#appointment-<id>) once events are there
  const wanted = (location.hash.match(/^#appointment-([0-9a-f-]{36})$/) || [])[1];
  if (wanted) {
    api("GET", "appointments/" + wanted).then((r) => { if (r.ok) openEvent(r.data); });
  }
})();
