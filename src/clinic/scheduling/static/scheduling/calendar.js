/* The calendar page: EventCalendar (npm @event-calendar/build, served from node_modules) fed by
 * GET /api/v1/appointments; booking, moving, resizing and status changes go through the same API
 * (and so the same conflict checks) as every other client.
 *
 * Time zones: the widget runs in 'UTC' mode and is given *wall-clock* strings of the clinic's
 * IANA zone (floating times), so it shows 09:00 as 09:00 whatever the browser's zone. Wall times
 * become instants (with their offset) only when talking to the API, via Intl — DST-correct.
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
  const floating = (date) => date.toISOString().slice(0, 19); // widget Date → wall string
  const apiTime = (wall) => isoWithOffset(instantOf(wall, zone), zone);

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
  function errorText(result) {
    const err = result.data && result.data.error;
    if (!err) return S.failed;
    let text = err.message || S.failed;
    const d = err.details || {};
    if (Array.isArray(d.conflicts) && d.conflicts.length) {
      text += " " + d.conflicts.map((c) => `${S.conflictWith} ${timeRange(c.start, c.end)} (${(c.on || []).map((o) => S.on[o] || o).join(", ")})`).join("; ");
    }
    if (Array.isArray(d.alternatives) && d.alternatives.length) {
      text += " " + S.nextFree + " " + d.alternatives.map((a) => shortTime(a.start)).join(", ");
    }
    if (d.allowed) text += " " + S.allowed + " " + (d.allowed.map((s) => cfg.statuses[s] || s).join(", ") || "—");
    return text;
  }
  const dateFmt = new Intl.DateTimeFormat(cfg.locale, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone });
  const timeFmt = new Intl.DateTimeFormat(cfg.locale, { hour: "2-digit", minute: "2-digit", timeZone: zone });
  const shortTime = (iso) => dateFmt.format(new Date(iso));
  const timeRange = (a, b) => `${dateFmt.format(new Date(a))}–${timeFmt.format(new Date(b))}`;

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
    if (filters.location.value) list = list.filter((p) => !p.location || p.location === filters.location.value);
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
      backgroundColor: colour,
      editable: cfg.canUpdate && ["held", "scheduled", "confirmed"].includes(a.status),
      classNames: ["appt-" + a.status],
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
    if (!result.ok) { say(errorText(result)); return []; }
    let items = result.data.items.filter((a) => a.status !== "cancelled" || el("cal-show-cancelled").checked);
    if (filters.location.value) items = items.filter((a) => a.location.id === filters.location.value);
    if (filters.service.value) items = items.filter((a) => a.service && a.service.id === filters.service.value);
    if (filters.resources.value === "room") items = items.filter((a) => a.room);
    return items.map(toEvent);
  }

  // --- the widget ----------------------------------------------------------------------------
  const wide = window.matchMedia("(min-width: 800px)").matches;
  const calendar = EventCalendar.create(el("calendar"), {
    view: wide ? "timeGridWeek" : "timeGridDay",
    timeZone: "UTC",
    locale: cfg.locale,
    firstDay: 1,
    date: cfg.initialDate || undefined,
    headerToolbar: { start: "prev,next today", center: "title", end: "timeGridDay,timeGridWeek,resourceTimeGridDay,resourceTimeGridWeek,listWeek" },
    buttonText: (t) => ({ ...t, today: S.today, timeGridDay: S.day, timeGridWeek: S.week, resourceTimeGridDay: S.resourceDay, resourceTimeGridWeek: S.resourceWeek, listWeek: S.list }),
    slotMinTime: "07:00", slotMaxTime: "21:00", scrollTime: "08:00", slotDuration: "00:15",
    slotLabelInterval: "01:00", nowIndicator: true, allDaySlot: false, height: "auto",
    selectable: cfg.canBook, editable: cfg.canUpdate, eventDurationEditable: cfg.canUpdate,
    resources: resources(),
    eventSources: [{ events: fetchEvents }],
    select: (info) => { openBooking(floating(info.start), floating(info.end), info.resource); calendar.unselect(); },
    dateClick: (info) => openBooking(floating(info.date), null, info.resource),
    eventClick: (info) => openEvent(info.event.extendedProps.appointment),
    eventDrop: (info) => moveEvent(info),
    eventResize: (info) => moveEvent(info),
    eventDidMount: (info) => {
      const a = info.event.extendedProps.appointment;
      info.el.setAttribute("tabindex", "0");
      info.el.setAttribute("role", "button");
      info.el.setAttribute("aria-label", `${info.event.title}, ${timeRange(a.start, a.end)}`);
      info.el.dataset.appointmentId = a.id;
      info.el.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openEvent(a); }
      });
    },
  });
  window.clinicCalendar = calendar;

  function refresh() {
    zone = locationZone();
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
  async function moveEvent(info) {
    const a = info.event.extendedProps.appointment;
    const body = { start: apiTime(floating(info.event.start)), end: apiTime(floating(info.event.end)) };
    if (info.newResource) {
      const rid = info.newResource.id;
      if (rid.startsWith("pr:")) body.practitioner_id = rid.slice(3);
      if (rid.startsWith("room:")) body.room_id = rid.slice(5);
    }
    let scope = "this";
    if (a.series_id) {
      scope = await askScope();
      if (!scope) { info.revert(); return; }
    }
    const result = await api("PATCH", `appointments/${a.id}?scope=${scope}`, body);
    if (!result.ok) {
      info.revert();
      say(S.moveRefused + " " + errorText(result));
      return;
    }
    say(S.moved, "success");
    calendar.refetchEvents();
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
  function servicesFor(practitionerId) {
    const p = cfg.practitioners.find((x) => x.id === practitionerId);
    return cfg.services.filter((s) => !p || p.services.includes(s.id));
  }
  function openBooking(startWall, endWall, resource) {
    if (!cfg.canBook) return;
    form.reset();
    el("book-errors").textContent = "";
    el("book-check").textContent = "";
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
    el("patient-results").innerHTML = "";
    book.showModal();
    el("patient-search").focus();
    scheduleCheck();
  }
  function nextHour() {
    const now = wallOf(new Date(Date.now() + 3600000), zone);
    return now.slice(0, 14) + "00:00";
  }
  el("cal-book").addEventListener("click", () => openBooking(null, null, null));
  book.querySelector("[data-close]").addEventListener("click", () => book.close());
  f("practitioner_id").addEventListener("change", () => {
    fillSelect(f("service_id"), servicesFor(f("practitioner_id").value), f("service_id").value);
    scheduleCheck();
  });
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
          f("patient_id").value = p.id;
          el("patient-search").value = p.name;
          list.innerHTML = "";
          el("patient-chosen").textContent = S.patientChosen + " " + p.name;
          scheduleCheck();
          f("service_id").focus();
        });
        li.appendChild(b);
        list.appendChild(li);
      }
      if (!data.items.length) list.innerHTML = `<li class="hint">${S.noPatient}</li>`;
    }, 200);
  });

  function bookingBody() {
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
    return body;
  }
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(runCheck, 250);
  }
  async function runCheck() {
    const body = bookingBody();
    const out = el("book-check");
    if (!body.practitioner_id || !body.service_id || !body.start || !body.patient_id) { out.textContent = ""; return; }
    const result = await api("POST", "appointments/check", body);
    if (!result.ok) { out.textContent = errorText(result); out.className = "book-check error"; return; }
    const d = result.data;
    if (d.ok && !d.availability) { out.textContent = S.free; out.className = "book-check ok"; return; }
    let text = "";
    if (d.conflicts.length) text += S.taken + " " + d.conflicts.map((c) => `${timeRange(c.start, c.end)} (${c.on.map((o) => S.on[o] || o).join(", ")})`).join("; ") + ". ";
    if (d.availability) text += d.availability_message + (d.may_override ? " " + S.overrideNote : "") + " ";
    if (d.alternatives.length) text += S.nextFree + " " + d.alternatives.map((a) => shortTime(a.start)).join(", ");
    out.textContent = text;
    out.className = "book-check " + (d.ok ? "warn" : "error");
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
      el("book-errors").textContent = errorText(result);
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
  function openEvent(a) {
    el("event-title").textContent = a.kind === "block" ? S.blocked : (a.patient ? a.patient.name : "");
    const facts = el("event-facts");
    facts.innerHTML = "";
    const add = (label, value) => {
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value;
      facts.append(dt, dd);
    };
    add(S.when, timeRange(a.start, a.end));
    if (a.service) add(S.service, a.service.name);
    add(S.practitioner, a.practitioner.name);
    add(S.where, a.location.name + (a.room ? " · " + a.room.name : ""));
    add(S.status, cfg.statuses[a.status] || a.status);
    if (a.series_id) add(S.series, S.recurring);
    if (a.cancel_reason) add(S.reason, a.cancel_reason);
    el("event-errors").textContent = "";
    el("event-scope").hidden = !a.series_id;
    const buttons = el("event-actions");
    buttons.innerHTML = "";
    for (const [status, label] of ACTIONS) {
      if (!a.allowed_transitions.includes(status)) continue;
      if (status === "cancelled" ? !cfg.canCancel : !cfg.canUpdate) continue;
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.status = status;
      b.addEventListener("click", () => setStatus(a, status));
      buttons.appendChild(b);
    }
    eventDialog.showModal();
  }
  eventDialog.querySelector("[data-close]").addEventListener("click", () => eventDialog.close());
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
    if (!result.ok) { el("event-errors").textContent = errorText(result); return; }
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
