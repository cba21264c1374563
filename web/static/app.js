// The page's shared parts (the API helper, sign-in, routing) and room management: plain DOM, no build step. Every
// rule is enforced by the server (web/manage_api.cpp, web/chat_api.cpp); this only shows what the API says,
// including its error messages. User data is set with textContent only. The chat itself is chat.js.
"use strict";

const $ = (id) => document.getElementById(id);
let me = null; // {user, csrf, signIn, domain}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET" && me && me.csrf) init.headers["X-CSRF-Token"] = me.csrf; // every change carries it
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new Error("The server cannot be reached.");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.message || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

function showError(err) {
  if (err && err.status === 401) {
    route();
    return;
  }
  $("error").textContent = err ? err.message : "";
  $("error").hidden = !err;
}

function say(text) {
  $("status").textContent = text;
}

function show(view) {
  for (const id of ["signin-view", "chat-view", "rooms-view", "room-view"]) $(id).hidden = id !== view;
  document.body.classList.toggle("wide", view === "chat-view");
}

// --- sign-in ----------------------------------------------------------------------------------------------------

async function loadMe() {
  me = await api("GET", "/api/me");
  $("whoami").hidden = !me.user;
  $("whoami-user").textContent = me.user || "";
  $("signin-password-row").hidden = me.signIn !== "password";
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  try {
    await api("POST", "/api/signin", { user: $("signin-user").value, password: $("signin-password").value });
    $("signin-password").value = "";
    say("Signed in.");
    await route();
  } catch (err) {
    showError(err);
  }
});

$("signout").addEventListener("click", async () => {
  if (window.pchatChat) window.pchatChat.stop();
  await api("POST", "/api/signout", {}).catch(() => {});
  say("Signed out.");
  location.hash = "#/";
  await route();
});

// --- the list of rooms and the create form ---------------------------------------------------------------------

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

async function showRooms() {
  const data = await api("GET", "/api/rooms");
  const body = $("rooms-body");
  body.replaceChildren();
  for (const r of data.rooms) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#/manage/room/${encodeURIComponent(r.id)}`;
    link.textContent = r.name;
    name.appendChild(link);
    tr.appendChild(name);
    cell(tr, r.privacy);
    cell(tr, r.type);
    cell(tr, String(r.online));
    const act = document.createElement("td");
    const manage = document.createElement("a");
    manage.href = link.href;
    manage.textContent = "Manage";
    manage.setAttribute("aria-label", `Manage ${r.name}`);
    act.appendChild(manage);
    tr.appendChild(act);
    body.appendChild(tr);
  }
  $("rooms-empty").hidden = data.rooms.length > 0;
  $("rooms-table").hidden = data.rooms.length === 0;

  const select = $("create-category");
  select.replaceChildren();
  for (const c of data.categories) {
    const opt = document.createElement("option");
    opt.value = c.id;
    opt.textContent = c.name;
    select.appendChild(opt);
  }
  $("create-form").hidden = data.categories.length === 0;
  $("create-none").hidden = data.categories.length > 0;
  show("rooms-view");
}

$("create-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  try {
    const room = await api("POST", "/api/rooms", {
      category: $("create-category").value,
      name: $("create-name").value,
      description: $("create-description").value,
      topic: $("create-topic").value,
      privacy: $("create-privacy").value,
      type: $("create-type").value,
      invite: $("create-invite").value,
    });
    $("create-form").reset();
    say(`Room ${room.name} created.`);
    location.hash = `#/manage/room/${encodeURIComponent(room.id)}`;
  } catch (err) {
    showError(err);
  }
});

// --- one room ----------------------------------------------------------------------------------------------------

let current = null; // the room shown

function checkbox(checked, label) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.checked = checked;
  input.setAttribute("aria-label", label);
  return input;
}

function fillRoom(room) {
  current = room;
  $("room-title").textContent = room.name;
  $("room-category").textContent = room.category.name;
  $("room-uri").textContent = room.uri;
  $("room-name").value = room.name;
  $("room-description").value = room.description;
  $("room-topic").value = room.topic;
  $("room-privacy").value = room.privacy;
  $("room-type").value = room.type;
  $("room-invite").value = room.invite;
  $("room-disabled").checked = room.disabled;
  $("room-invite-note").textContent = `The category has invitations ${room.categoryInvite ? "on" : "off"}; ` +
    `new members are ${room.invitations ? "" : "not "}invited.`;

  const body = $("people-body");
  body.replaceChildren();
  for (const p of room.roles) {
    const tr = document.createElement("tr");
    tr.dataset.user = p.user;
    cell(tr, p.user);
    const boxes = {};
    for (const role of ["member", "manager", "presenter"]) {
      const td = document.createElement("td");
      boxes[role] = checkbox(p.roles.includes(role), `${role} ${p.user}`);
      td.appendChild(boxes[role]);
      tr.appendChild(td);
    }
    const act = document.createElement("td");
    const save = document.createElement("button");
    save.type = "button";
    save.textContent = "Save";
    save.setAttribute("aria-label", `Save roles of ${p.user}`);
    save.addEventListener("click", () =>
      setRoles(p.user, Object.keys(boxes).filter((r) => boxes[r].checked)));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${p.user}`);
    remove.addEventListener("click", () => setRoles(p.user, []));
    act.append(save, " ", remove);
    tr.appendChild(act);
    body.appendChild(tr);
  }
}

async function showRoom(id) {
  fillRoom(await api("GET", `/api/rooms/${encodeURIComponent(id)}`));
  show("room-view");
}

async function setRoles(user, roles) {
  showError(null);
  try {
    const r = await api("PUT", `/api/rooms/${encodeURIComponent(current.id)}/roles`, { user, roles });
    if (!r.room) {
      say("Done. You no longer manage this room.");
      location.hash = "#/manage";
      return;
    }
    fillRoom(r.room);
    say(roles.length === 0 ? `Removed ${user}.`
      : `Saved the roles of ${user}${r.invited ? "; they were sent an invitation" : ""}.`);
  } catch (err) {
    showError(err);
  }
}

$("settings-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  try {
    fillRoom(await api("PATCH", `/api/rooms/${encodeURIComponent(current.id)}`, {
      name: $("room-name").value,
      description: $("room-description").value,
      topic: $("room-topic").value,
      privacy: $("room-privacy").value,
      type: $("room-type").value,
      invite: $("room-invite").value,
      disabled: $("room-disabled").checked,
    }));
    say("Settings saved.");
  } catch (err) {
    showError(err);
  }
});

$("add-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const roles = ["member", "manager", "presenter"].filter((r) => $(`add-${r}`).checked);
  if (roles.length === 0) {
    showError(new Error("Choose at least one role."));
    return;
  }
  await setRoles($("add-user").value, roles);
  if ($("error").hidden) $("add-form").reset();
});

// --- routing: #/ and #/room/<guid> (chat, chat.js), #/manage (rooms you manage), #/manage/room/<id> ----------

async function route() {
  try {
    await loadMe();
    if (!me.user) {
      if (window.pchatChat) window.pchatChat.stop();
      show("signin-view");
      $("signin-user").focus();
      return;
    }
    const managed = location.hash.match(/^#\/manage\/room\/(.+)$/);
    if (managed) await showRoom(decodeURIComponent(managed[1]));
    else if (location.hash === "#/manage") await showRooms();
    else {
      show("chat-view");
      const room = location.hash.match(/^#\/room\/(.+)$/);
      await window.pchatChat.show(room ? decodeURIComponent(room[1]) : null);
    }
  } catch (err) {
    if (err.status === 401) {
      show("signin-view");
      return;
    }
    showError(err);
  }
}

window.addEventListener("hashchange", () => {
  showError(null);
  route();
});
// The first route() is chat.js's, which is loaded after this file.
